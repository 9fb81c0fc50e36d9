// Package config decodes parts of a job file strictly: an unknown key is an
// error naming the file and line, and ${VAR} / ${VAR:-default} are read from
// the environment.
package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Section is one connector's part of a job file (source: or sink:).
type Section struct {
	File string     // job file, for error messages
	Node *yaml.Node // the mapping node; nil when the job gave none
	Dir  string     // directory relative paths are resolved against
	// Vars are the environment variables each key's value was read from
	// (dotted keys: "retry.max_attempts"), to name them in messages —
	// never their values.
	Vars map[string][]string
}

// VarsIn lists, per dotted key below node, the ${VAR} names its value uses.
// Call it before Expand.
func VarsIn(node *yaml.Node) map[string][]string {
	out := map[string][]string{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n == nil || n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			if prefix != "" {
				k = prefix + "." + k
			}
			if v.Kind == yaml.ScalarNode {
				if names := varNames(v.Value); len(names) > 0 {
					out[k] = names
				}
				continue
			}
			walk(v, k)
		}
	}
	walk(node, "")
	return out
}

// varNames are the names of the ${VAR} references in s.
func varNames(s string) []string {
	var names []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return names
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return names
		}
		name, _, _ := strings.Cut(s[i+2:i+end], ":-")
		if validName(name) {
			names = append(names, "$"+name)
		}
		s = s[i+end+1:]
	}
}

// Pos names a place in a job file: FILE:LINE, or "--set" for a value given
// on the command line (its node has no line).
func Pos(file string, line int) string {
	if line == 0 {
		return "--set"
	}
	return fmt.Sprintf("%s:%d", file, line)
}

// Resolve resolves a path the job file gives against dir, the job file's
// directory: a job runs the same from wherever it is started.
func Resolve(dir, path string) string {
	if path == "" || dir == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// Path resolves a path the section gives against the job file's directory.
func (s Section) Path(path string) string { return Resolve(s.Dir, path) }

// Line is the line a key of the section is written on (0 when absent or
// given by --set): for messages about its value.
func (s Section) Line(key string) int {
	if s.Node == nil {
		return 0
	}
	for i := 0; i+1 < len(s.Node.Content); i += 2 {
		if s.Node.Content[i].Value == key {
			return s.Node.Content[i+1].Line
		}
	}
	return 0
}

// Decode decodes the section into v (a pointer to a struct with yaml tags),
// rejecting any key v does not declare.
func (s Section) Decode(v any) error {
	if s.Node == nil {
		return nil
	}
	if err := CheckKeys(s.File, s.Node, reflect.TypeOf(v)); err != nil {
		return err
	}
	if err := s.Node.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", s.File, err)
	}
	return nil
}

// CheckKeys reports the first key in node that t (a struct, or pointer to
// one) does not declare, recursing into nested structs.
func CheckKeys(file string, node *yaml.Node, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || node.Kind != yaml.MappingNode {
		return nil
	}
	fields := map[string]reflect.Type{}
	var known []string
	collectFields(t, fields, &known)
	var errs []error
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, val := node.Content[i], node.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown key %q (known: %s)", Pos(file, k.Line), k.Value, strings.Join(known, ", ")))
			continue
		}
		if err := CheckKeys(file, val, ft); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func collectFields(t reflect.Type, fields map[string]reflect.Type, known *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			collectFields(f.Type, fields, known)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
		*known = append(*known, name)
	}
}

// Expand replaces ${VAR} and ${VAR:-default} in every scalar below node,
// in place. An unset variable without a default is an error naming the line,
// never silently empty. lookup is os.LookupEnv in production.
func Expand(file string, node *yaml.Node, lookup func(string) (string, bool)) error {
	if node.Kind == yaml.ScalarNode {
		if !strings.Contains(node.Value, "${") {
			return nil
		}
		v, err := ExpandString(node.Value, lookup)
		if err != nil {
			return fmt.Errorf("%s: %w", Pos(file, node.Line), err)
		}
		node.Value = v
		return nil
	}
	var errs []error
	for _, c := range node.Content {
		if err := Expand(file, c, lookup); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ExpandString expands ${VAR} and ${VAR:-default} in s. "$$" is a literal "$".
func ExpandString(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		expr := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validName(name) {
			return "", fmt.Errorf("bad variable name %q in ${...}", name)
		}
		v, ok := lookup(name)
		switch {
		case ok && v != "":
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		case ok:
		default:
			return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name)
		}
		i += end
	}
	return b.String(), nil
}

func validName(n string) bool {
	if n == "" {
		return false
	}
	for i, r := range n {
		if r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}
