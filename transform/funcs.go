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
func functions(loc *time.Location, tables map[string]map[string]string) []expr.Option {
	return []expr.Option{
		expr.Function("time", func(p ...any) (any, error) {
			return ParseTime(p[0], loc)
		}, new(func(any) any)),
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
		expr.Function("lookup", func(p ...any) (any, error) {
			name, _ := p[0].(string)
			t, ok := tables[name]
			if !ok {
				return nil, fmt.Errorf("lookup: no table %q", name)
			}
			if p[1] == nil {
				return nil, nil
			}
			v, ok := t[toString(p[1])]
			if !ok {
				return nil, nil
			}
			return v, nil
		}, new(func(string, any) any)),
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
