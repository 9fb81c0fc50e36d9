// Package schema describes what a sink accepts, so that a mapping is checked
// against it when it is compiled — a typo in a target field is an error at
// validate time, not a rejected request.
package schema

import (
	"slices"
	"strings"

	"github.com/msgmigrate/msgmigrate/internal/suggest"
)

// Type is a target field's JSON type.
type Type int

const (
	String Type = iota
	Bool
	Int
	Time   // sent as RFC 3339 UTC with milliseconds
	Object // free-form JSON object; sub-paths may be mapped
	StringList
	ObjectList // a list of objects with the fields in Items
)

func (t Type) String() string {
	return [...]string{"string", "bool", "int", "time", "object", "list of strings", "list of objects"}[t]
}

// Field is one target field, by dotted path.
type Field struct {
	Path     string
	Type     Type
	Enum     []string // allowed values, when the vendor documents them
	MaxLen   int      // in characters; 0 = no limit
	Required bool
	Items    []Field // for ObjectList: the item's fields (paths relative to the item)
	Forbid   string  // non-empty: the field may not be mapped, and this says why
	// TimeLayout formats a Time field; default RFC 3339 UTC with milliseconds.
	TimeLayout string
}

// Schema is everything a mapping compiler must know about a sink.
type Schema struct {
	Sink  string
	Route []string // route parameters, in order
	// Key is the path of the field whose value is the item key; empty when
	// the route names the target record (PUT …/messages/{id}): then the key
	// is the sink and the route.
	Key    string
	Fields []Field // in the order the sink sends them
	// OneOf lists groups of paths of which at least one must have a value.
	OneOf [][]string
}

// Field finds a field by path. For a path below an Object field it returns
// that field and the remaining sub-path.
func (s *Schema) Field(path string) (f *Field, sub string, ok bool) {
	for i := range s.Fields {
		fp := s.Fields[i].Path
		if fp == path {
			return &s.Fields[i], "", true
		}
		if s.Fields[i].Type == Object && strings.HasPrefix(path, fp+".") {
			return &s.Fields[i], path[len(fp)+1:], true
		}
	}
	return nil, "", false
}

// Index returns the position of path's field in wire order.
func (s *Schema) Index(path string) int {
	return slices.IndexFunc(s.Fields, func(f Field) bool { return f.Path == path })
}

// Suggest returns the known path closest to a mistyped one, or "".
func (s *Schema) Suggest(path string) string {
	best, bestD := "", len(path)/2+2
	for _, f := range s.Fields {
		if f.Forbid != "" {
			continue
		}
		if d := suggest.Distance(strings.ToLower(path), strings.ToLower(f.Path)); d < bestD {
			best, bestD = f.Path, d
		}
	}
	return best
}

var registry = map[string]*Schema{}

// Register makes a sink's schema known to mapping compilers. Wire-type
// packages call it from init; a duplicate panics.
func Register(s *Schema) {
	if _, dup := registry[s.Sink]; dup {
		panic("schema: Register called twice for sink " + s.Sink)
	}
	registry[s.Sink] = s
}

// Lookup returns the schema of a sink kind.
func Lookup(sink string) (*Schema, bool) {
	s, ok := registry[sink]
	return s, ok
}

// Sinks lists the sinks with a schema, sorted.
func Sinks() []string {
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
