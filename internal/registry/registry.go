// Package registry is the database/sql-style registry that sources and sinks
// use: kinds register in init, a duplicate panics, an unknown kind names the
// known ones.
package registry

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/msgmigrate/msgmigrate/internal/suggest"
)

// Registry maps kinds to factories of type F.
type Registry[F any] struct {
	what string // "source", "sink": for messages
	mu   sync.RWMutex
	m    map[string]F
}

// New returns an empty registry of what ("source", "sink").
func New[F any](what string) *Registry[F] {
	return &Registry[F]{what: what, m: map[string]F{}}
}

// Register adds a kind. A duplicate is a programming error and panics.
func (r *Registry[F]) Register(kind string, f F) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[kind]; dup {
		panic(fmt.Sprintf("%s kind %q registered twice", r.what, kind))
	}
	r.m[kind] = f
}

// Kinds lists the registered kinds, sorted.
func (r *Registry[F]) Kinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ks := make([]string, 0, len(r.m))
	for k := range r.m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Get returns a kind's factory, or an error naming the known kinds.
func (r *Registry[F]) Get(kind string) (F, error) {
	r.mu.RLock()
	f, ok := r.m[kind]
	r.mu.RUnlock()
	if !ok {
		hint := ""
		if s := suggest.Closest(kind, r.Kinds()); s != "" {
			hint = fmt.Sprintf(" — did you mean %q?", s)
		}
		return f, fmt.Errorf("unknown %s kind %q%s (known: %s)", r.what, kind, hint, strings.Join(r.Kinds(), ", "))
	}
	return f, nil
}
