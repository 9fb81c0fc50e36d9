package transform

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/google/uuid"
	"golang.org/x/net/html"
)

// Namespace is the root of uuid5's namespaces: uuid5("gorgias", "123") is the
// SHA-1 UUID of "123" in the namespace uuid5(Namespace, "gorgias"). It must
// never change: it is what makes a re-run send the same keys.
var Namespace = uuid.MustParse("1b671a64-40d5-491e-99b0-da01ff1f3341")

// functions returns the mapping functions, closed over the compile options.
// files names each table's file, for the message of a miss.
func functions(loc *time.Location, tables map[string]map[string]string, files map[string]string) []expr.Option {
	return []expr.Option{
		expr.Function("time", func(p ...any) (any, error) {
			if len(p) == 2 {
				return ParseTimeLayout(p[0], p[1].(string), loc)
			}
			return ParseTime(p[0], loc)
		}, new(func(any) any), new(func(any, string) any)),
		// expr's own date() reads a value without an offset as UTC whatever
		// the job's timezone: an hour off, silently. Ours is time() under
		// that name, with date()'s optional third argument, a zone name.
		expr.Function("date", func(p ...any) (any, error) {
			switch len(p) {
			case 1:
				return ParseTime(p[0], loc)
			case 2:
				return ParseTimeLayout(p[0], p[1].(string), loc)
			}
			zone, err := location(p[2].(string))
			if err != nil {
				return nil, err
			}
			return ParseTimeLayout(p[0], p[1].(string), zone)
		}, new(func(any) any), new(func(any, string) any), new(func(any, string, string) any)),
		expr.Function("uuid5", func(p ...any) (any, error) {
			return UUID5(p[0], p[1])
		}, new(func(any, any) string)),
		expr.Function("htmlToText", func(p ...any) (any, error) {
			if p[0] == nil {
				return nil, nil
			}
			s, ok := p[0].(string)
			if !ok {
				return nil, fmt.Errorf("htmlToText: want text, got %T", p[0])
			}
			return HTMLToText(s), nil
		}, new(func(any) any)),
		expr.Function("enum", func(p ...any) (any, error) {
			m, ok := p[1].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("enum: the second argument must be a map literal, got %T", p[1])
			}
			if p[0] != nil {
				if v, ok := m[toString(p[0])]; ok {
					return v, nil
				}
			}
			return p[2], nil
		}, new(func(any, map[string]any, any) any)),
		// A miss is nil, so that lookup(a) ?? lookup(b) falls through; the
		// mapper is told of it (through the env the lookupEnv patch passes)
		// so that a value found missing can name the table and the key.
		expr.Function("lookup", func(p ...any) (any, error) {
			name, _ := p[0].(string)
			t, ok := tables[name]
			if !ok {
				return nil, fmt.Errorf("lookup: no table %q", name)
			}
			if p[1] == nil {
				return nil, nil
			}
			key := toString(p[1])
			v, ok := t[key]
			if !ok {
				if len(p) == 3 {
					if env, _ := p[2].(map[string]any); env != nil {
						if log, _ := env[missesKey].(*missLog); log != nil {
							log.add(&LookupMiss{Table: name, Key: key, File: files[name]})
						}
					}
				}
				return nil, nil
			}
			return v, nil
		}, new(func(string, any) any), new(func(string, any, map[string]any) any)),
		expr.Function("coalesce", func(p ...any) (any, error) {
			for _, v := range p {
				if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
					continue
				}
				if v != nil {
					return v, nil
				}
			}
			return nil, nil
		}),
	}
}

// constMaps is an AST patch: a map literal made only of constants (enum()'s
// table, typically) is built once at compile time instead of on every record.
type constMaps struct{}

func (constMaps) Visit(n *ast.Node) {
	m, ok := (*n).(*ast.MapNode)
	if !ok {
		return
	}
	out := make(map[string]any, len(m.Pairs))
	for _, pn := range m.Pairs {
		pair, ok := pn.(*ast.PairNode)
		if !ok {
			return
		}
		k, ok := pair.Key.(*ast.StringNode)
		if !ok {
			return
		}
		switch v := pair.Value.(type) {
		case *ast.StringNode:
			out[k.Value] = v.Value
		case *ast.BoolNode:
			out[k.Value] = v.Value
		case *ast.IntegerNode:
			out[k.Value] = v.Value
		case *ast.NilNode:
			out[k.Value] = nil
		default:
			return
		}
	}
	ast.Patch(n, &ast.ConstantNode{Value: out})
}

// UUID5 derives a deterministic UUID from a namespace (a UUID, or any text
// turned into one under Namespace) and a name.
func UUID5(namespace, name any) (string, error) {
	ns, ok := namespace.(string)
	if !ok || ns == "" {
		return "", errors.New("uuid5: the namespace must be non-empty text")
	}
	if name == nil {
		return "", errors.New("uuid5: the name is empty")
	}
	n := toString(name)
	if n == "" {
		return "", errors.New("uuid5: the name is empty")
	}
	if n == "<nil>" {
		// expr's string(nil): every record without an id would share one key.
		return "", errors.New(`uuid5: the name is empty (string() of an absent value is "<nil>": write uuid5(namespace, row.id), which takes numbers too)`)
	}
	return uuid.NewSHA1(namespaceOf(ns), []byte(n)).String(), nil
}

var namespaces sync.Map // namespace text → uuid.UUID: mappings use a handful

func namespaceOf(ns string) uuid.UUID {
	if v, ok := namespaces.Load(ns); ok {
		return v.(uuid.UUID)
	}
	space, err := uuid.Parse(ns)
	if err != nil {
		space = uuid.NewSHA1(Namespace, []byte(ns))
	}
	namespaces.Store(ns, space)
	return space
}

// toString renders a scalar the way a user would write it: 12 not 12.0.
func toString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case int64:
		return strconv.FormatInt(t, 10)
	case int:
		return strconv.Itoa(t)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	case time.Time:
		return FormatTime(t)
	default:
		return fmt.Sprint(v)
	}
}

// HTMLToText renders HTML as plain text: block elements and <br> become line
// breaks, script and style are dropped, entities are decoded, and runs of
// white space inside text collapse as a browser would.
func HTMLToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip := 0
	newline := func() {
		str := b.String()
		if len(str) > 0 && !strings.HasSuffix(str, "\n") {
			b.WriteByte('\n')
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return strings.TrimSpace(collapseBlankLines(b.String()))
		case html.TextToken:
			if skip > 0 {
				continue
			}
			text := collapseSpace(string(z.Text()))
			if strings.HasSuffix(b.String(), "\n") || b.Len() == 0 {
				text = strings.TrimLeft(text, " ")
			}
			b.WriteString(text)
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			switch tag {
			case "script", "style", "head", "title":
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			case "br":
				b.WriteByte('\n')
			case "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "hr":
				newline()
			}
		}
	}
}

func collapseSpace(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

func collapseBlankLines(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " ")
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

var locations sync.Map // zone name → *time.Location: LoadLocation reads a file

// location loads a zone by name, once.
func location(name string) (*time.Location, error) {
	if v, ok := locations.Load(name); ok {
		return v.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", name, err)
	}
	locations.Store(name, loc)
	return loc, nil
}

// missesKey is where a mapper's env holds its miss log: not an identifier,
// so no expression can name it.
const missesKey = "lookup misses"

// LookupMiss is a lookup() whose key its table does not hold.
type LookupMiss struct {
	Table, Key string
	File       string // the table's file, "" for an inline table
}

func (e *LookupMiss) Error() string {
	s := fmt.Sprintf("lookup(%q, %q): no such key in table %s", e.Table, e.Key, e.Table)
	if e.File != "" {
		s += " (" + e.File + ")"
	}
	return s
}

// maxMisses bounds what one expression's misses keep: a message names a few.
const maxMisses = 3

// missLog collects the misses of the expression being evaluated.
type missLog struct{ misses []*LookupMiss }

func (l *missLog) add(m *LookupMiss) {
	if len(l.misses) < maxMisses {
		l.misses = append(l.misses, m)
	}
}

// lookupMisses is why a value was empty: the lookups that missed.
type lookupMisses []*LookupMiss

func (ms lookupMisses) Error() string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.Error()
	}
	return strings.Join(parts, "; ")
}

func (ms lookupMisses) Unwrap() []error {
	out := make([]error, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}

// lookupEnv is an AST patch: lookup(table, key) gets the mapper's env as a
// third argument, so a miss reaches the mapper that evaluates it (a Program
// is shared by mappers; the env is each one's own).
type lookupEnv struct{}

func (lookupEnv) Visit(n *ast.Node) {
	call, ok := (*n).(*ast.CallNode)
	if !ok || len(call.Arguments) != 2 {
		return
	}
	if id, ok := call.Callee.(*ast.IdentifierNode); ok && id.Value == "lookup" {
		call.Arguments = append(call.Arguments, &ast.IdentifierNode{Value: "$env"})
	}
}
