package transform

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"

	"github.com/msgmigrate/msgmigrate/internal/suggest"
)

// ColumnError is a row.X in a mapping whose column the source does not
// have: a typo that would otherwise read nil on every record and drop the
// field, or switch a where rule off.
type ColumnError struct {
	File    string // the mapping file
	Line    int
	Where   string // "where", "route.customer", "fields.sentOn", "keep"
	Column  string
	Suggest string // the closest column the source has, or ""
}

func (e *ColumnError) Error() string {
	s := fmt.Sprintf("%s:%d: %s: %s: the source has no column %q", e.File, e.Line, e.Where, rowRef(e.Column), e.Column)
	if e.Where == "keep" {
		s = fmt.Sprintf("%s:%d: keep: the source has no column %q", e.File, e.Line, e.Column)
	}
	if e.Suggest != "" {
		s += fmt.Sprintf(" (did you mean %q?)", e.Suggest)
	}
	return s
}

// rowRef writes a column reference as a mapping would: row.name, or
// row["a name"] when the name is not an identifier.
func rowRef(col string) string {
	if isIdent(col) {
		return "row." + col
	}
	return "row[" + strconv.Quote(col) + "]"
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || r == '$' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}

// CheckColumns checks every column the mapping reads (row.a, row["a b"],
// row?.a, the a of row.a.b, get(row, "a")) and every keep: name against
// the columns the source knows before reading (a header, a Parquet schema,
// a vendor's record type). Names compare exactly, as row.X does. It
// returns a *ColumnError for each unknown column, in line order, and the
// known columns no expression reads and keep: does not name, in the
// source's order — nil when an expression reads the row by a computed key
// (row[x]) or whole, so that any column may be read. known nil means the
// source does not know its columns: nothing is checked.
func (p *Program) CheckColumns(known []string) (errs []error, unread []string) {
	if known == nil {
		return nil, nil
	}
	have := make(map[string]bool, len(known))
	for _, k := range known {
		have[k] = true
	}
	read := map[string]bool{}
	dynamic := false
	check := func(c *compiled, where string) {
		if c == nil {
			return
		}
		cols, dyn := columnsRead(c.prog.Node())
		dynamic = dynamic || dyn
		for _, col := range cols {
			read[col] = true
			if !have[col] {
				errs = append(errs, &ColumnError{File: p.File, Line: c.Line, Where: where, Column: col, Suggest: suggestColumn(col, known)})
			}
		}
	}
	check(p.where, "where")
	for _, c := range p.route {
		if c != nil {
			check(c, "route."+c.Name)
		}
	}
	for _, l := range p.leaves {
		check(&l.compiled, "fields."+l.path)
	}
	for _, k := range p.keep {
		read[k] = true
		if !have[k] {
			errs = append(errs, &ColumnError{File: p.File, Line: p.keepLine, Where: "keep", Column: k, Suggest: suggestColumn(k, known)})
		}
	}
	slices.SortStableFunc(errs, func(a, b error) int { return a.(*ColumnError).Line - b.(*ColumnError).Line })
	if dynamic {
		return errs, nil
	}
	for _, k := range known {
		if !read[k] {
			unread = append(unread, k)
		}
	}
	return errs, unread
}

// UnreadHint is the one line that tells a user which columns no
// expression reads: a hint, not an error (a source often has columns a
// migration does not need).
func UnreadHint(unread []string) string {
	if len(unread) == 0 {
		return ""
	}
	return fmt.Sprintf("hint: no expression reads %d of the source's columns: %s", len(unread), strings.Join(unread, ", "))
}

// columnsRead returns the top-level columns an expression reads by a
// constant name, each once, in the order they appear, and whether it also
// reads the row in a way that cannot be checked (row[x], row passed
// whole, $env).
func columnsRead(n ast.Node) (cols []string, dynamic bool) {
	v := &columnVisitor{named: map[ast.Node]bool{}}
	ast.Walk(&n, v)
	for _, id := range append(v.rows, v.envs...) {
		if !v.named[id] {
			dynamic = true
		}
	}
	return v.cols, dynamic
}

type columnVisitor struct {
	cols  []string
	rows  []ast.Node        // every identifier row
	envs  []ast.Node        // every identifier $env
	named map[ast.Node]bool // the identifiers accounted for: row read by a constant name, lookup()'s env
}

func (v *columnVisitor) add(col string) {
	if !slices.Contains(v.cols, col) {
		v.cols = append(v.cols, col)
	}
}

func (v *columnVisitor) Visit(n *ast.Node) {
	switch t := (*n).(type) {
	case *ast.IdentifierNode:
		switch t.Value {
		case "row":
			v.rows = append(v.rows, t)
		case "$env":
			v.envs = append(v.envs, t)
		}
	case *ast.CallNode:
		// The env lookupEnv passes to lookup() reads no column.
		if id, ok := t.Callee.(*ast.IdentifierNode); ok && id.Value == "lookup" && len(t.Arguments) == 3 {
			v.named[t.Arguments[2]] = true
		}
	case *ast.MemberNode:
		// row.a, row?.a, row["a"]; row.a.b is a member of this one.
		if id, ok := t.Node.(*ast.IdentifierNode); ok && id.Value == "row" {
			if s, ok := t.Property.(*ast.StringNode); ok {
				v.named[id] = true
				v.add(s.Value)
			}
		}
	case *ast.BuiltinNode:
		// get(row, "a")
		if t.Name == "get" && len(t.Arguments) == 2 {
			if id, ok := t.Arguments[0].(*ast.IdentifierNode); ok && id.Value == "row" {
				if s, ok := t.Arguments[1].(*ast.StringNode); ok {
					v.named[id] = true
					v.add(s.Value)
				}
			}
		}
	}
}

// suggestColumn returns the known column closest to a mistyped one, or "":
// the same name in another case or with other separators (sentAt, sent-at
// → sent_at), a few letters off, or a column the name begins (dept →
// department_uuid).
func suggestColumn(col string, known []string) string {
	norm := func(s string) string {
		s = strings.ToLower(s)
		return strings.NewReplacer("_", "", "-", "", " ", "", ".", "").Replace(s)
	}
	c := norm(col)
	best, bestD := "", len([]rune(c))/3+2
	prefix := ""
	for _, k := range known {
		nk := norm(k)
		if d := suggest.Distance(c, nk); d < bestD {
			best, bestD = k, d
		}
		if prefix == "" && len(c) >= 3 && strings.HasPrefix(nk, c) {
			prefix = k
		}
	}
	if best == "" {
		return prefix
	}
	return best
}
