package transform

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/schema"
)

// Options are what a job adds to a mapping file.
type Options struct {
	// Location reads times written without an offset; nil is UTC.
	Location *time.Location
	// Lookups add to or replace the mapping file's tables, by name.
	Lookups []LookupSpec
	// Tables are lookup tables given inline (a mapping test's), by name;
	// each replaces the spec of its name, whose file is then not read.
	Tables map[string]map[string]string
	// TablesFromJob compiles a mapping without its job (lint): a table it
	// uses but does not declare is taken as one the job will give, empty
	// here, and Program.JobTables names it.
	TablesFromJob bool
}

// Program is a compiled mapping. It is safe for concurrent use; each
// goroutine maps through its own Mapper.
type Program struct {
	File   string
	Schema *schema.Schema
	loc    *time.Location
	where  *compiled
	route  []*compiled // in Schema.Route order
	leaves []*leaf     // in wire order
	root   *node
	key    int // index in leaves of Schema.Key
	oneOf  [][]int
	Tables map[string]map[string]string
	// JobTables are the tables the mapping uses and does not declare, when
	// compiled with Options.TablesFromJob.
	JobTables []string
	keep      []string // source fields the ledger keeps for a write-back
	// keyColumn is the one column the key is made of (uuid5("csv",
	// row.id)): its value is kept as SourceIDField, so that idmap can name
	// the record by the user's own id.
	keyColumn string
	keepLine  int
}

type compiled struct {
	Expr
	prog *vm.Program
}

type leaf struct {
	compiled
	field *schema.Field // nil below an Object field: free-form value
	path  string
}

// node is one object in the payload tree; a leaf node has leaf >= 0.
type node struct {
	name     string
	leaf     int
	children []*node
}

// Compile compiles a parsed mapping against its sink's schema.
func Compile(m *Mapping, opts Options) (*Program, error) {
	s, ok := schema.Lookup(m.Sink)
	if !ok {
		return nil, fmt.Errorf("%s: sink %q has no schema (known: %s)", m.File, m.Sink, strings.Join(schema.Sinks(), ", "))
	}
	p := &Program{File: m.File, Schema: s, loc: opts.Location, key: -1, keep: m.Keep, keepLine: m.KeepLine}
	if p.loc == nil {
		p.loc = time.UTC
	}
	var specs []LookupSpec
	files := map[string]string{}
	for _, spec := range append(slices.Clone(m.Lookups), opts.Lookups...) {
		if _, inline := opts.Tables[spec.Name]; !inline {
			specs = append(specs, spec)
			files[spec.Name] = spec.File
		}
	}
	tables, err := loadLookups(specs)
	if err != nil {
		return nil, err
	}
	for name, t := range opts.Tables {
		tables[name] = t
	}
	p.Tables = tables
	env := expr.Env(map[string]any{"row": map[string]any{}})
	fns := functions(p.loc, tables, files)
	var errs []error
	comp := func(e Expr, extra ...expr.Option) *compiled {
		eopts := append([]expr.Option{env, expr.Optimize(true), expr.Patch(constMaps{}), expr.Patch(lookupEnv{})}, fns...)
		eopts = append(eopts, extra...)
		prog, err := expr.Compile(e.Source, eopts...)
		if err != nil {
			errs = append(errs, compileError(m.File, e, err))
			return nil
		}
		cc := &callChecker{tables: tables, fromJob: opts.TablesFromJob}
		if err := cc.check(prog.Node()); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %w", m.File, e.Line, e.Name, err))
			return nil
		}
		for _, name := range cc.undeclared {
			if !slices.Contains(p.JobTables, name) {
				p.JobTables = append(p.JobTables, name)
			}
		}
		return &compiled{Expr: e, prog: prog}
	}
	if m.Where != nil {
		if c := comp(*m.Where); c != nil {
			if k := c.prog.Node().Type(); k != nil && k.Kind() != reflect.Bool && k.Kind() != reflect.Interface {
				errs = append(errs, fmt.Errorf("%s:%d: where: must be true or false, the expression is %v", m.File, m.Where.Line, k))
			}
			p.where = c
		}
	}
	// Route: every parameter the sink needs, and no other.
	p.route = make([]*compiled, len(s.Route))
	for _, e := range m.Route {
		i := slices.Index(s.Route, e.Name)
		if i < 0 {
			errs = append(errs, fmt.Errorf("%s:%d: route: %q is not a route parameter of %s (known: %s)", m.File, e.Line, e.Name, s.Sink, strings.Join(s.Route, ", ")))
			continue
		}
		if p.route[i] != nil {
			errs = append(errs, fmt.Errorf("%s:%d: route.%s is given twice", m.File, e.Line, e.Name))
			continue
		}
		p.route[i] = comp(e)
	}
	for i, name := range s.Route {
		if p.route[i] == nil && !slices.ContainsFunc(m.Route, func(e Expr) bool { return e.Name == name }) {
			errs = append(errs, fmt.Errorf("%s: route.%s is required by sink %s", m.File, name, s.Sink))
		}
	}
	// Fields: checked against the schema, then put in wire order.
	type placed struct {
		*leaf
		order int
	}
	var ps []placed
	for fi, e := range m.Fields {
		f, sub, ok := s.Field(e.Name)
		if !ok {
			hint := ""
			if sug := s.Suggest(e.Name); sug != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", sug)
			}
			errs = append(errs, fmt.Errorf("%s:%d: fields: %q is not a field of %s%s", m.File, e.Line, e.Name, s.Sink, hint))
			continue
		}
		if f.Forbid != "" {
			errs = append(errs, fmt.Errorf("%s:%d: fields: %q may not be mapped: %s", m.File, e.Line, e.Name, f.Forbid))
			continue
		}
		c := comp(e)
		if c == nil {
			continue
		}
		l := &leaf{compiled: *c, path: e.Name}
		if sub == "" {
			l.field = f
			if err := checkStatic(f, c.prog.Node()); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %w", m.File, e.Line, e.Name, err))
				continue
			}
		}
		ps = append(ps, placed{l, s.Index(f.Path)*1000 + fi})
	}
	slices.SortStableFunc(ps, func(a, b placed) int { return a.order - b.order })
	for i, pl := range ps {
		for _, other := range ps[:i] {
			if other.path == pl.path {
				errs = append(errs, fmt.Errorf("%s:%d: fields: %q is given twice (also line %d)", m.File, pl.Line, pl.path, other.Line))
			} else if strings.HasPrefix(pl.path, other.path+".") || strings.HasPrefix(other.path, pl.path+".") {
				errs = append(errs, fmt.Errorf("%s:%d: fields: %q and %q (line %d) overlap: map the object or its members, not both", m.File, pl.Line, pl.path, other.path, other.Line))
			}
		}
		p.leaves = append(p.leaves, pl.leaf)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p.key = slices.IndexFunc(p.leaves, func(l *leaf) bool { return l.path == s.Key })
	if p.key >= 0 && p.leaves[p.key].prog != nil {
		if cols, dynamic := columnsRead(p.leaves[p.key].prog.Node()); !dynamic && len(cols) == 1 {
			p.keyColumn = cols[0]
		}
	}
	if p.key < 0 && s.Key != "" {
		return nil, fmt.Errorf("%s: fields.%s is required: it is the item's idempotency key (e.g. %s: uuid5(\"vendor\", string(row.id)))", m.File, s.Key, s.Key)
	}
	for _, f := range s.Fields {
		if f.Required && !slices.ContainsFunc(p.leaves, func(l *leaf) bool { return l.path == f.Path }) {
			return nil, fmt.Errorf("%s: fields.%s is required by sink %s", m.File, f.Path, s.Sink)
		}
	}
	for _, group := range s.OneOf {
		var idx []int
		for _, path := range group {
			if i := slices.IndexFunc(p.leaves, func(l *leaf) bool { return l.path == path }); i >= 0 {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			return nil, fmt.Errorf("%s: map at least one of %s", m.File, strings.Join(group, ", "))
		}
		p.oneOf = append(p.oneOf, idx)
	}
	p.root = &node{leaf: -1}
	for i, l := range p.leaves {
		p.root.insert(strings.Split(l.path, "."), i)
	}
	return p, nil
}

// Fields returns the target fields the mapping sets, in wire order.
func (p *Program) Fields() []string {
	out := make([]string, len(p.leaves))
	for i, l := range p.leaves {
		out[i] = l.path
	}
	return out
}

func (n *node) insert(path []string, leaf int) {
	for _, c := range n.children {
		if c.name == path[0] && len(path) > 1 {
			c.insert(path[1:], leaf)
			return
		}
	}
	c := &node{name: path[0], leaf: -1}
	n.children = append(n.children, c)
	if len(path) == 1 {
		c.leaf = leaf
		return
	}
	c.insert(path[1:], leaf)
}

// bareName is the first name in src that is neither row, a function called,
// nor a let variable: what a user who meant a column wrote (subject for
// row.subject). "" when src does not parse or has none.
func bareName(src string) string {
	tree, err := parser.Parse(src)
	if err != nil {
		return ""
	}
	var w nodeList
	ast.Walk(&tree.Node, &w)
	callees, lets := map[ast.Node]bool{}, map[string]bool{}
	for _, n := range w {
		switch n := n.(type) {
		case *ast.CallNode:
			callees[n.Callee] = true
		case *ast.VariableDeclaratorNode:
			lets[n.Name] = true
		}
	}
	for _, n := range w {
		if id, ok := n.(*ast.IdentifierNode); ok && id.Value != "row" && !callees[n] && !lets[id.Value] {
			return id.Value
		}
	}
	return ""
}

// nodeList collects every node of a tree, children first.
type nodeList []ast.Node

func (l *nodeList) Visit(n *ast.Node) { *l = append(*l, *n) }

// compileError names the file and line, and adds the quoting hint when the
// YAML scalar was probably not meant the way YAML read it.
func compileError(mappingFile string, e Expr, err error) error {
	msg := err.Error()
	var fe *file.Error
	if errors.As(err, &fe) {
		msg = fe.Error()
	}
	hint := ""
	switch {
	case e.Style == 0 && e.Comment != "":
		// An unquoted value that does not compile and has a comment on its
		// line: an expression ends at " #" only when YAML cut it there (no
		// expression continues validly after a complete one with #). A
		// value that compiles keeps its comment as a comment.
		hint = fmt.Sprintf("\n  hint: YAML reads \" #\" as the start of a comment, so the expression ended at %q and %q was dropped: quote the whole expression: '%s %s'",
			e.Source, e.Comment, strings.ReplaceAll(e.Source, "'", "''"), strings.ReplaceAll(e.Comment, "'", "''"))
	case e.Style&yaml.DoubleQuotedStyle != 0:
		hint = "\n  hint: YAML removed the double quotes around this value. " + quotingHint
	default:
		if name := bareName(e.Source); name != "" {
			hint = fmt.Sprintf("\n  hint: to read a source column write row.%s; ", name) + quotingHint
		}
	}
	return fmt.Errorf("%s:%d: %s: %s%s", mappingFile, e.Line, e.Name, msg, hint)
}

// checkStatic rejects, at compile time, what the expression's static type or
// literal results show is wrong for the field.
func checkStatic(f *schema.Field, n ast.Node) error {
	if t := n.Type(); t != nil && !typeFits(f.Type, t) {
		return fmt.Errorf("the field is %v, the expression is %v", f.Type, t)
	}
	for _, lit := range literalResults(n) {
		if len(f.Enum) > 0 && !slices.Contains(f.Enum, lit) {
			return fmt.Errorf("%q is not one of %s", lit, strings.Join(f.Enum, ", "))
		}
		if f.MaxLen > 0 && len([]rune(lit)) > f.MaxLen {
			return fmt.Errorf("%q is longer than %d characters", lit, f.MaxLen)
		}
		if f.Type == schema.Time {
			if _, err := ParseTime(lit, time.UTC); err != nil {
				return err
			}
		}
	}
	return nil
}

func typeFits(want schema.Type, t reflect.Type) bool {
	k := t.Kind()
	if k == reflect.Interface {
		return true
	}
	switch want {
	case schema.String:
		return k == reflect.String || (k >= reflect.Int && k <= reflect.Float64)
	case schema.Bool:
		return k == reflect.Bool
	case schema.Int:
		return k >= reflect.Int && k <= reflect.Float64
	case schema.Time:
		return k == reflect.String || k == reflect.Struct || (k >= reflect.Int && k <= reflect.Float64)
	case schema.Object:
		return k == reflect.Map
	case schema.StringList, schema.ObjectList:
		return k == reflect.Slice
	}
	return false
}

// literalResults returns the string literals an expression can evaluate to:
// the literal itself, both sides of a ternary or ??, and enum()'s values.
func literalResults(n ast.Node) []string {
	switch t := n.(type) {
	case *ast.StringNode:
		return []string{t.Value}
	case *ast.ConstantNode:
		if s, ok := t.Value.(string); ok {
			return []string{s}
		}
	case *ast.ConditionalNode:
		return append(literalResults(t.Exp1), literalResults(t.Exp2)...)
	case *ast.BinaryNode:
		if t.Operator == "??" {
			return append(literalResults(t.Left), literalResults(t.Right)...)
		}
	case *ast.CallNode:
		id, ok := t.Callee.(*ast.IdentifierNode)
		if !ok {
			return nil
		}
		switch id.Value {
		case "enum":
			if len(t.Arguments) == 3 {
				var out []string
				switch m := t.Arguments[1].(type) {
				case *ast.MapNode:
					for _, pn := range m.Pairs {
						if pair, ok := pn.(*ast.PairNode); ok {
							out = append(out, literalResults(pair.Value)...)
						}
					}
				case *ast.ConstantNode: // a literal table, built once by constMaps
					if table, ok := m.Value.(map[string]any); ok {
						for _, v := range table {
							if s, ok := v.(string); ok {
								out = append(out, s)
							}
						}
						slices.Sort(out)
					}
				}
				return append(out, literalResults(t.Arguments[2])...)
			}
		case "coalesce":
			var out []string
			for _, a := range t.Arguments {
				out = append(out, literalResults(a)...)
			}
			return out
		}
	}
	return nil
}

// callChecker checks, at compile time, what the calls of an expression
// show: a lookup() of an unknown table, a literal time layout that cannot
// read any time, and now().
type callChecker struct {
	tables     map[string]map[string]string
	fromJob    bool     // a table not declared is the job's to give
	undeclared []string // such tables, when fromJob
	err        error
}

func (v *callChecker) Visit(n *ast.Node) {
	if v.err != nil {
		return
	}
	switch call := (*n).(type) {
	case *ast.BuiltinNode:
		if call.Name == "now" {
			v.err = errors.New("now() is not allowed: a mapping must give the same payload on every run (a re-run would see every record as changed); use a source column, or a literal time")
		}
	case *ast.CallNode:
		id, ok := call.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		switch id.Value {
		case "lookup":
			v.lookup(call)
		case "time", "date":
			if len(call.Arguments) >= 2 {
				if lit, ok := call.Arguments[1].(*ast.StringNode); ok {
					if err := CheckTimeLayout(lit.Value); err != nil {
						v.err = fmt.Errorf("%s: %w", id.Value, err)
					}
				}
			}
			if len(call.Arguments) == 3 {
				if lit, ok := call.Arguments[2].(*ast.StringNode); ok {
					if _, err := location(lit.Value); err != nil {
						v.err = fmt.Errorf("%s: %w", id.Value, err)
					}
				}
			}
		}
	}
}

func (v *callChecker) lookup(call *ast.CallNode) {
	if len(call.Arguments) == 0 {
		return
	}
	name, ok := call.Arguments[0].(*ast.StringNode)
	if !ok {
		v.err = errors.New(`lookup: the table must be named by a literal, e.g. lookup("customers", row.email)`)
		return
	}
	if _, ok := v.tables[name.Value]; ok {
		return
	}
	if v.fromJob {
		v.undeclared = append(v.undeclared, name.Value)
		return
	}
	known := make([]string, 0, len(v.tables))
	for k := range v.tables {
		known = append(known, k)
	}
	slices.Sort(known)
	v.err = fmt.Errorf("lookup: no table %q (known: %s; declare it under lookups:)", name.Value, strings.Join(known, ", "))
}

func (v *callChecker) check(n ast.Node) error {
	ast.Walk(&n, v)
	return v.err
}

// Mapper maps records through a Program. It is not safe for concurrent use.
type Mapper struct {
	p      *Program
	vm     vm.VM
	env    map[string]any
	values []any
	buf    []byte // payload scratch
	src    []byte // source record scratch
	routes map[string]string
	// routeOf shares one Route slice among the items of a route (read
	// only): thousands of items wait in open batches, each kept a copy.
	routeOf  map[string]msg.Route
	routeKey []byte          // scratch: the parts, each length-prefixed
	parts    []string        // scratch
	misses   missLog         // the lookups the last expression missed
	missed   [][]*LookupMiss // per leaf, when its value is nil
}

// maxInterned bounds a mapper's route cache.
const maxInterned = 16384

// intern returns a copy of s shared by every item with that route value:
// routes repeat, and an item must not keep its source row alive through a
// substring of it.
func (m *Mapper) intern(s string) string {
	if c, ok := m.routes[s]; ok {
		return c
	}
	if len(m.routes) >= maxInterned {
		clear(m.routes)
	}
	c := strings.Clone(s)
	m.routes[c] = c
	return c
}

// NewMapper returns a Mapper for one goroutine.
func (p *Program) NewMapper() *Mapper {
	m := &Mapper{p: p, env: map[string]any{}, values: make([]any, len(p.leaves)), routes: map[string]string{},
		routeOf: map[string]msg.Route{}, missed: make([][]*LookupMiss, len(p.leaves))}
	m.env[missesKey] = &m.misses
	return m
}

// ErrSkipped is returned for a record the where: rule leaves out.
var ErrSkipped = errors.New("skipped by the where rule")

// Map maps one record. It returns ErrSkipped for a record the where rule
// leaves out, and a *msg.Error (stage map) for a record that cannot be mapped.
func (m *Mapper) Map(rec *msg.Record) (*msg.Item, error) {
	p := m.p
	m.env["row"] = rec.Fields
	fail := func(name string, err error) error {
		return &msg.Error{Origin: rec.Origin, Stage: msg.StageMap, Err: fmt.Errorf("%s: %w", name, err)}
	}
	if p.where != nil {
		v, err := m.run(p.where)
		if err != nil {
			return nil, fail("where", err)
		}
		b, ok := v.(bool)
		if !ok && v != nil {
			return nil, fail("where", fmt.Errorf("must be true or false, got %s", describe(v)))
		}
		if !b {
			return nil, ErrSkipped
		}
	}
	m.parts, m.routeKey = m.parts[:0], m.routeKey[:0]
	for _, c := range p.route {
		v, err := m.run(c)
		if err != nil {
			return nil, fail("route."+c.Name, err)
		}
		if v == nil || v == "" {
			return nil, fail("route."+c.Name, noValue("no value (the route parameter is empty)", m.misses.misses))
		}
		sv := toString(v)
		m.parts = append(m.parts, sv)
		// Each part length-prefixed: parts may hold any byte, and two
		// routes must never share a key.
		m.routeKey = append(binary.AppendUvarint(m.routeKey, uint64(len(sv))), sv...)
	}
	route, ok := m.routeOf[string(m.routeKey)]
	if !ok {
		route = make(msg.Route, len(m.parts))
		for i, sv := range m.parts {
			route[i] = m.intern(sv)
		}
		if len(m.routeOf) >= maxInterned {
			clear(m.routeOf)
		}
		m.routeOf[string(m.routeKey)] = route
	}
	for i, l := range p.leaves {
		v, err := m.run(&l.compiled)
		if err != nil {
			return nil, fail(l.path, err)
		}
		m.missed[i] = nil
		if v == nil && len(m.misses.misses) > 0 {
			m.missed[i] = slices.Clone(m.misses.misses)
		}
		if l.field != nil {
			if v, err = coerce(l.field, v, p.loc); err != nil {
				return nil, fail(l.path, err)
			}
			if v == nil && l.field.Required && i != p.key {
				return nil, fail(l.path, noValue("no value: the field is required", m.missed[i]))
			}
		}
		if s, ok := v.(string); ok && s == "" && i == p.key {
			v = nil
		}
		m.values[i] = v
	}
	var key string
	if p.key >= 0 {
		key, _ = m.values[p.key].(string)
		if key == "" {
			return nil, fail(p.Schema.Key, noValue("no value: the key is required", m.missed[p.key]))
		}
	} else {
		// The route names the target record: one key per record there.
		key = p.Schema.Sink + ":" + route.String()
	}
	for gi, group := range p.oneOf {
		if !slices.ContainsFunc(group, func(i int) bool { return !empty(m.values[i]) }) {
			var ms []*LookupMiss
			for _, i := range group {
				ms = append(ms, m.missed[i]...)
			}
			return nil, fail(strings.Join(p.Schema.OneOf[gi], " or "), noValue("no value: one of them is required", ms))
		}
	}
	buf, _, err := m.appendNode(m.buf[:0], p.root)
	m.buf = buf
	if err != nil {
		return nil, fail("payload", err)
	}
	src := msg.EncodeFields(m.src[:0], rec.Fields)
	m.src = src
	// Separate allocations: the run spills Source and frees it, while the
	// payload waits in a batch.
	item := &msg.Item{Key: key, Route: route, Payload: slices.Clone(buf), Source: slices.Clone(src), Origin: rec.Origin}
	if len(p.keep) > 0 || p.keyColumn != "" {
		kept := make(map[string]any, len(p.keep)+1)
		for _, f := range p.keep {
			if v, ok := rec.Fields[f]; ok {
				kept[f] = v
			}
		}
		if v, ok := rec.Fields[p.keyColumn]; ok && p.keyColumn != "" {
			kept[SourceIDField] = v
		}
		if b, err := appendAny(nil, kept); err == nil {
			item.Kept = b
		}
	}
	item.Hash = Hash(route, item.Payload)
	return item, nil
}

// SourceIDField is the kept field that holds the value of the column the
// key is made of.
const SourceIDField = "_source_id"

// Hash identifies an item's content: a changed route or payload is a changed
// record.
func Hash(route msg.Route, payload []byte) [16]byte {
	h := sha256.New()
	for _, r := range route {
		h.Write([]byte(r))
		h.Write([]byte{0})
	}
	h.Write(payload)
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

func empty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case []any:
		return len(t) == 0
	}
	return false
}

// noValue is the error of a value found missing, naming the lookups that
// missed on the way.
func noValue(msg string, ms []*LookupMiss) error {
	if len(ms) == 0 {
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %w", msg, lookupMisses(slices.Clone(ms)))
}

func (m *Mapper) run(c *compiled) (any, error) {
	m.misses.misses = m.misses.misses[:0]
	v, err := m.vm.Run(c.prog, m.env)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			if fe.Prev != nil {
				return nil, fe.Prev
			}
			return nil, errors.New(fe.Message)
		}
		return nil, err
	}
	return v, nil
}

// appendNode appends the object for n; wrote is false when every member was
// nil, and then nothing was appended.
func (m *Mapper) appendNode(b []byte, n *node) (_ []byte, wrote bool, err error) {
	start := len(b)
	b = append(b, '{')
	count := 0
	for _, c := range n.children {
		mark := len(b)
		if count > 0 {
			b = append(b, ',')
		}
		b = appendString(b, c.name)
		b = append(b, ':')
		if c.leaf >= 0 {
			v := m.values[c.leaf]
			if v == nil {
				b = b[:mark]
				continue
			}
			if b, err = appendValue(b, m.p.leaves[c.leaf].field, v); err != nil {
				return b, false, fmt.Errorf("%s: %w", m.p.leaves[c.leaf].path, err)
			}
		} else {
			var ok bool
			if b, ok, err = m.appendNode(b, c); err != nil {
				return b, false, err
			}
			if !ok {
				b = b[:mark]
				continue
			}
		}
		count++
	}
	if count == 0 {
		return b[:start], false, nil
	}
	return append(b, '}'), true, nil
}
