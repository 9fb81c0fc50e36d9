package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/msgmigrate/msgmigrate/msg"
)

// Suite is a mapping's test cases, kept beside it: NAME.test.yaml for
// NAME.yaml. Each case maps one input record and says what must come out:
// a payload (and its route and key), a skip by the where rule, or an error.
//
//	timezone: Europe/Berlin            # optional: the job's timezone for every case
//	lookups:                           # optional: inline tables, so a test needs no files
//	  customers: {"ann@example.com": "C-1"}
//	cases:
//	  - name: an outbound SMS
//	    input: {id: "1", channel: sms, body_text: Hi}
//	    payload: {sourceUuid: …, messageAttributes: {body: Hi}}
//	    route: {department: D, customer: C}   # optional, with payload
//	    key: …                                # optional, with payload
//	  - name: internal notes are skipped
//	    input: {channel: internal-note}
//	    skip: true
//	  - name: a date in another layout fails
//	    input: {sent_at: 01/03/2024}
//	    error: 'sentOn: cannot parse'        # a substring of the record's error
type Suite struct {
	File     string
	Location *time.Location // nil: the one the runner is given
	Tables   map[string]map[string]string
	Cases    []*Case
}

// Case is one test case.
type Case struct {
	Name     string
	Line     int
	Input    map[string]any
	Location *time.Location               // nil: the suite's
	Tables   map[string]map[string]string // added to the suite's

	Payload any // nil: not checked
	Route   map[string]string
	Key     string
	Skip    bool
	Error   string
}

// CaseResult is a case's outcome: Failure says, a line each, how what came
// out differs from what the case expects; empty when it passed.
type CaseResult struct {
	Case    *Case
	Failure []string
}

// Passed reports whether the case passed.
func (r CaseResult) Passed() bool { return len(r.Failure) == 0 }

// CasesFile is where a mapping file's test cases are: m.yaml → m.test.yaml.
func CasesFile(mappingFile string) string {
	base := strings.TrimSuffix(strings.TrimSuffix(mappingFile, ".yaml"), ".yml")
	return base + ".test.yaml"
}

var caseKeys = []string{"name", "input", "timezone", "lookups", "payload", "route", "key", "skip", "error"}

// ParseSuite reads a test-case file.
func ParseSuite(file string, data []byte) (*Suite, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: a test file is a YAML mapping with cases: (and optional timezone:, lookups:)", file)
	}
	s := &Suite{File: file}
	var errs []error
	fail := func(line int, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, a...)))
	}
	root := doc.Content[0]
	var cases *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "timezone":
			loc, err := location(v.Value)
			if err != nil {
				fail(v.Line, "%v", err)
			}
			s.Location = loc
		case "lookups":
			t, err := inlineTables(file, v)
			errs = append(errs, err)
			s.Tables = t
		case "cases":
			cases = v
		default:
			fail(k.Line, "unknown key %q (known: timezone, lookups, cases)", k.Value)
		}
	}
	if cases == nil || cases.Kind != yaml.SequenceNode || len(cases.Content) == 0 {
		fail(root.Line, "cases: must list the test cases (name, input, and payload, skip or error)")
	}
	if cases != nil && cases.Kind == yaml.SequenceNode {
		for _, n := range cases.Content {
			c, err := parseCase(file, n)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.Cases = append(s.Cases, c)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

func parseCase(file string, n *yaml.Node) (*Case, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: a case is a mapping: name, input, and payload, skip or error", file, n.Line)
	}
	c := &Case{Line: n.Line}
	var errs []error
	fail := func(line int, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, a...)))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		seen[k.Value] = true
		switch k.Value {
		case "name":
			c.Name = v.Value
		case "input":
			in, err := nodeValue(v)
			m, ok := in.(map[string]any)
			if err != nil || !ok {
				fail(v.Line, "input: want a record (a mapping of field names to values)")
				continue
			}
			c.Input = m
		case "timezone":
			loc, err := location(v.Value)
			if err != nil {
				fail(v.Line, "%v", err)
			}
			c.Location = loc
		case "lookups":
			t, err := inlineTables(file, v)
			errs = append(errs, err)
			c.Tables = t
		case "payload":
			p, err := nodeValue(v)
			if _, ok := p.(map[string]any); err != nil || !ok {
				fail(v.Line, "payload: want the payload as a mapping")
				continue
			}
			c.Payload = p
		case "route":
			if err := v.Decode(&c.Route); err != nil {
				fail(v.Line, "route: want parameter: value")
			}
		case "key":
			c.Key = v.Value
		case "skip":
			if err := v.Decode(&c.Skip); err != nil || !c.Skip {
				fail(v.Line, "skip: write skip: true (or leave it out)")
			}
		case "error":
			c.Error = v.Value
			if c.Error == "" {
				fail(v.Line, "error: want a part of the record's error message")
			}
		default:
			fail(k.Line, "unknown key %q (known: %s)", k.Value, strings.Join(caseKeys, ", "))
		}
	}
	if c.Name == "" {
		fail(n.Line, "a case needs a name")
	}
	if !seen["input"] {
		fail(n.Line, "case %q: input is required", c.Name)
	}
	item := seen["payload"] || seen["route"] || seen["key"]
	switch {
	case !item && !c.Skip && c.Error == "":
		fail(n.Line, "case %q: say what must come out: payload (route, key), skip: true, or error", c.Name)
	case (item && (c.Skip || c.Error != "")) || (c.Skip && c.Error != ""):
		fail(n.Line, "case %q: expect a payload, a skip or an error, not two of them", c.Name)
	}
	return c, errors.Join(errs...)
}

// inlineTables reads lookups: {table: {key: value}}.
func inlineTables(file string, n *yaml.Node) (map[string]map[string]string, error) {
	var t map[string]map[string]string
	if err := n.Decode(&t); err != nil {
		return nil, fmt.Errorf("%s:%d: lookups: want table: {key: value, …}", file, n.Line)
	}
	return t, nil
}

// nodeValue converts YAML as a source would give it: text stays text (a
// timestamp too: a CSV cell is text), whole numbers are int64, null members
// are absent (as a CSV's empty cell and a JSON null are).
func nodeValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return nodeValue(n.Alias)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return nodeValue(n.Content[0])
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := nodeValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			if v != nil {
				out[n.Content[i].Value] = v
			}
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeValue(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		err := n.Decode(&b)
		return b, err
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			var f float64
			err = n.Decode(&f)
			return f, err
		}
		return i, nil
	case "!!float":
		var f float64
		err := n.Decode(&f)
		return f, err
	}
	return n.Value, nil
}

// RunSuite runs a suite's cases through the mapping. An error is a suite
// that cannot run (the mapping does not compile); a case that fails is a
// CaseResult with its Failure.
func RunSuite(m *Mapping, s *Suite, opts Options) ([]CaseResult, error) {
	if s.Location != nil {
		opts.Location = s.Location
	}
	opts.Tables = mergeTables(opts.Tables, s.Tables)
	shared, err := Compile(m, opts)
	if err != nil {
		return nil, err
	}
	var out []CaseResult
	for _, c := range s.Cases {
		p := shared
		if c.Location != nil || c.Tables != nil {
			co := opts
			if c.Location != nil {
				co.Location = c.Location
			}
			co.Tables = mergeTables(opts.Tables, c.Tables)
			if p, err = Compile(m, co); err != nil {
				return nil, fmt.Errorf("%s:%d: case %q: %w", s.File, c.Line, c.Name, err)
			}
		}
		rec := &msg.Record{Origin: msg.Origin{Source: s.File, Line: c.Line}, Fields: c.Input}
		it, err := p.NewMapper().Map(rec)
		out = append(out, CaseResult{Case: c, Failure: c.check(p, it, err)})
	}
	return out, nil
}

func mergeTables(a, b map[string]map[string]string) map[string]map[string]string {
	if b == nil {
		return a
	}
	out := make(map[string]map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// check compares what came out with what the case expects.
func (c *Case) check(p *Program, it *msg.Item, err error) []string {
	got := func() string {
		switch {
		case errors.Is(err, ErrSkipped):
			return "got: skipped by the where rule"
		case err != nil:
			return "got error: " + err.Error()
		}
		return "got payload: " + string(it.Payload)
	}
	switch {
	case c.Skip:
		if errors.Is(err, ErrSkipped) {
			return nil
		}
		return []string{"want: skipped by the where rule", got()}
	case c.Error != "":
		if err != nil && !errors.Is(err, ErrSkipped) && strings.Contains(err.Error(), c.Error) {
			return nil
		}
		return []string{fmt.Sprintf("want an error containing %q", c.Error), got()}
	}
	if err != nil {
		return []string{"want a payload", got()}
	}
	var fails []string
	if c.Payload != nil {
		var gotV any
		dec := json.NewDecoder(bytes.NewReader(it.Payload))
		dec.UseNumber()
		if err := dec.Decode(&gotV); err != nil {
			return []string{"the payload is not JSON: " + err.Error()}
		}
		want, err := jsonValue(c.Payload)
		if err != nil {
			return []string{"payload: " + err.Error()}
		}
		if d := diffJSON("", want, gotV); len(d) > 0 {
			fails = append(fails, "payload differs:")
			for _, line := range d {
				fails = append(fails, "  "+line)
			}
			fails = append(fails, got())
		}
	}
	if c.Route != nil {
		for name, want := range c.Route {
			i := slices.Index(p.Schema.Route, name)
			if i < 0 {
				fails = append(fails, fmt.Sprintf("route: %q is not a route parameter of %s (known: %s)", name, p.Schema.Sink, strings.Join(p.Schema.Route, ", ")))
				continue
			}
			if it.Route[i] != want {
				fails = append(fails, fmt.Sprintf("route.%s: want %q, got %q", name, want, it.Route[i]))
			}
		}
	}
	if c.Key != "" && it.Key != c.Key {
		fails = append(fails, fmt.Sprintf("key: want %q, got %q", c.Key, it.Key))
	}
	return fails
}

// jsonValue normalises a YAML value as JSON reads it (numbers as
// json.Number), so that it compares with a payload.
func jsonValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	err = dec.Decode(&out)
	return out, err
}

// diffJSON lists how got differs from want, one line a difference, by path.
func diffJSON(path string, want, got any) []string {
	at := path
	if at == "" {
		at = "(the payload)"
	}
	show := func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want %s, got %s", at, show(want), show(got))}
		}
		var out []string
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			wv, inW := w[k]
			gv, inG := g[k]
			switch {
			case !inG:
				out = append(out, fmt.Sprintf("%s: want %s, got nothing (the field is left out)", p, show(wv)))
			case !inW:
				out = append(out, fmt.Sprintf("%s: not expected, got %s", p, show(gv)))
			default:
				out = append(out, diffJSON(p, wv, gv)...)
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want %s, got %s", at, show(want), show(got))}
		}
		var out []string
		if len(w) != len(g) {
			out = append(out, fmt.Sprintf("%s: want %d items, got %d", at, len(w), len(g)))
		}
		for i := range min(len(w), len(g)) {
			out = append(out, diffJSON(path+"["+strconv.Itoa(i)+"]", w[i], g[i])...)
		}
		return out
	case json.Number:
		if g, ok := got.(json.Number); ok && sameNumber(w, g) {
			return nil
		}
	default:
		if want == got {
			return nil
		}
	}
	return []string{fmt.Sprintf("%s: want %s, got %s", at, show(want), show(got))}
}

// sameNumber compares JSON numbers by value: 3 is 3.0.
func sameNumber(a, b json.Number) bool {
	x, ok1 := new(big.Rat).SetString(string(a))
	y, ok2 := new(big.Rat).SetString(string(b))
	return ok1 && ok2 && x.Cmp(y) == 0
}
