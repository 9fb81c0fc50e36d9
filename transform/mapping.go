// Package transform compiles a mapping file into a program and applies it to
// records. It knows each sink's target schema, so a typo in a target field,
// a value of the wrong type or a bad enum literal is a compile error naming
// the mapping file and line, not a rejected request.
package transform

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/msgmigrate/msgmigrate/extract/csv"
)

// Mapping is a parsed, not yet compiled, mapping file.
type Mapping struct {
	File    string
	Version int
	Sink    string
	Where   *Expr
	Route   []Expr // in file order
	Fields  []Expr // dotted target path → expression, in file order
	Lookups []LookupSpec
	// Keep names source fields the ledger keeps with each loaded item, for
	// a later write-back (e.g. Gorgias's ticket_id).
	Keep     []string
	KeepLine int
}

// Expr is one expression in a mapping file, with where it was written.
type Expr struct {
	Name   string // target path, route parameter, or "where"
	Source string
	Line   int
	Style  yaml.Style
	// Comment is the comment YAML read on the value's line, for a plain
	// (unquoted) value: what an unquoted " #" cut off the expression.
	Comment string
}

// LookupSpec is a lookup table: a CSV file with a key and a value column.
type LookupSpec struct {
	Name  string
	File  string `yaml:"file"`
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
	// Encoding is the file's text encoding (utf-8 when empty), as a csv
	// source's source.encoding.
	Encoding string `yaml:"encoding"`
	Line     int    `yaml:"-"`
	Dir      string `yaml:"-"` // where File is relative to
}

// quotingHint is what users need when YAML or the compiler trips on an
// expression that YAML read differently from how it was meant.
const quotingHint = `YAML reads the file first: an expression that contains ": " or " #", or starts with a quote, must be written in single quotes, and a literal string is an expression too: purpose: '"F"'`

// ParseMapping reads a mapping file's structure; expressions are compiled by
// Compile. dir is where the file's lookup paths are relative to.
func ParseMapping(file string, data []byte, dir string) (*Mapping, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s\n  hint: %s", file, strings.TrimPrefix(err.Error(), "yaml: "), quotingHint)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: a mapping file is a YAML mapping with version, sink and fields", file)
	}
	m := &Mapping{File: file}
	root := doc.Content[0]
	var errs []error
	fail := func(line int, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, a...)))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if seen[k.Value] {
			fail(k.Line, "%q appears twice", k.Value)
		}
		seen[k.Value] = true
		switch k.Value {
		case "version":
			if err := v.Decode(&m.Version); err != nil || m.Version != 1 {
				fail(v.Line, "version must be 1")
			}
		case "sink":
			m.Sink = v.Value
		case "where":
			e, err := scalarExpr(file, "where", v)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			m.Where = &e
		case "route":
			es, err := exprMap(file, "route", "", v)
			errs = append(errs, err)
			m.Route = append(m.Route, es...)
		case "fields":
			es, err := exprMap(file, "fields", "", v)
			errs = append(errs, err)
			m.Fields = append(m.Fields, es...)
		case "keep":
			if err := v.Decode(&m.Keep); err != nil {
				fail(v.Line, "keep must be a list of source field names")
			}
			m.KeepLine = v.Line
		case "lookups":
			if v.Kind != yaml.MappingNode {
				fail(v.Line, "lookups must map names to {file, key, value}")
				continue
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				spec, err := parseLookup(file, dir, v.Content[j], v.Content[j+1])
				if err != nil {
					errs = append(errs, err)
					continue
				}
				m.Lookups = append(m.Lookups, spec)
			}
		default:
			fail(k.Line, "unknown key %q (known: version, sink, where, route, fields, lookups, keep)", k.Value)
		}
	}
	if !seen["version"] {
		fail(root.Line, "version is required (version: 1)")
	}
	if m.Sink == "" {
		fail(root.Line, "sink is required (e.g. sink: mykaarma)")
	}
	if len(m.Fields) == 0 {
		fail(root.Line, "fields is required and must map target fields to expressions")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// ParseLookups reads a lookups block (a mapping of name → {file, key, value}),
// as a job file may give one to fill a built-in mapping's tables.
func ParseLookups(file, dir string, v *yaml.Node) ([]LookupSpec, error) {
	if v.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: lookups must map names to {file, key, value}", file, v.Line)
	}
	var out []LookupSpec
	var errs []error
	for j := 0; j+1 < len(v.Content); j += 2 {
		spec, err := parseLookup(file, dir, v.Content[j], v.Content[j+1])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, spec)
	}
	return out, errors.Join(errs...)
}

func parseLookup(file, dir string, k, v *yaml.Node) (LookupSpec, error) {
	spec := LookupSpec{Name: k.Value, Line: k.Line, Dir: dir}
	if v.Kind != yaml.MappingNode {
		return spec, fmt.Errorf("%s:%d: lookup %q must be {file, key, value}", file, v.Line, k.Value)
	}
	for j := 0; j+1 < len(v.Content); j += 2 {
		switch kk := v.Content[j]; kk.Value {
		case "file":
			spec.File = v.Content[j+1].Value
		case "key":
			spec.Key = v.Content[j+1].Value
		case "value":
			spec.Value = v.Content[j+1].Value
		case "encoding":
			spec.Encoding = v.Content[j+1].Value
			if err := csv.CheckEncoding(spec.Encoding); err != nil {
				return spec, fmt.Errorf("%s:%d: lookup %q: encoding: %w", file, v.Content[j+1].Line, k.Value, err)
			}
		default:
			return spec, fmt.Errorf("%s:%d: lookup %q: unknown key %q (known: file, key, value, encoding)", file, kk.Line, k.Value, kk.Value)
		}
	}
	if spec.File == "" || spec.Key == "" || spec.Value == "" {
		return spec, fmt.Errorf("%s:%d: lookup %q needs file, key and value", file, v.Line, k.Value)
	}
	return spec, nil
}

func scalarExpr(file, name string, v *yaml.Node) (Expr, error) {
	if v.Kind != yaml.ScalarNode {
		return Expr{}, fmt.Errorf("%s:%d: %s: want an expression, got a YAML %s\n  hint: %s", file, v.Line, name, kindName(v.Kind), quotingHint)
	}
	if v.Tag == "!!null" {
		return Expr{}, fmt.Errorf("%s:%d: %s: the expression is empty (write nil to send nothing)", file, v.Line, name)
	}
	e := Expr{Name: name, Source: v.Value, Line: v.Line, Style: v.Style}
	if v.Style == 0 {
		e.Comment = v.LineComment
	}
	return e, nil
}

// exprMap flattens a mapping of (possibly nested, possibly dotted) names to
// expressions: {messageAttributes: {body: x}} is messageAttributes.body.
func exprMap(file, section, prefix string, v *yaml.Node) ([]Expr, error) {
	if v.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: %s must map names to expressions", file, v.Line, section)
	}
	var out []Expr
	var errs []error
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		name := prefix + k.Value
		if val.Kind == yaml.MappingNode && section == "fields" {
			es, err := exprMap(file, section, name+".", val)
			out = append(out, es...)
			errs = append(errs, err)
			continue
		}
		e, err := scalarExpr(file, name, val)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, e)
	}
	return out, errors.Join(errs...)
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	default:
		return "node"
	}
}
