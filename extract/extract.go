// Package extract reads records from where they are: files and vendor APIs.
//
// To add a source kind (a checklist):
//   - create a sub-package with a type implementing Source;
//   - decode its job keys with config.Section.Decode (unknown keys are errors);
//   - return every unreadable record as a *msg.Error with stage "read" and its
//     origin, and go on reading: one bad record never ends the run;
//   - call Register(kind, factory) in init and import the package in
//     extract/all;
//   - call extracttest.Run from its tests.
package extract

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/msg"
)

// Source yields records one at a time.
//
// Next returns io.EOF after the last record. An error that is a *msg.Error
// is the failure of one record: the caller records it and calls Next again.
// Any other error ends the reading.
type Source interface {
	Next(ctx context.Context) (*msg.Record, error)
	Close() error
}

// Progress is implemented by sources that know how far they are, so the run
// can show an ETA. total is 0 when unknown.
type Progress interface {
	Progress() (done, total int64)
}

// Factory opens a source from its job section.
type Factory func(ctx context.Context, sec config.Section) (Source, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a source kind available. It panics on a duplicate kind,
// as database/sql.Register does: that is a programming error.
func Register(kind string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if f == nil {
		panic("extract: Register factory is nil")
	}
	if _, dup := factories[kind]; dup {
		panic("extract: Register called twice for kind " + kind)
	}
	factories[kind] = f
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string {
	mu.RLock()
	defer mu.RUnlock()
	ks := make([]string, 0, len(factories))
	for k := range factories {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Open opens a source of the given kind.
func Open(ctx context.Context, kind string, sec config.Section) (Source, error) {
	mu.RLock()
	f, ok := factories[kind]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown source kind %q (known: %s)", kind, strings.Join(Kinds(), ", "))
	}
	return f(ctx, sec)
}

// Known reports whether kind is registered.
func Known(kind string) bool {
	return slices.Contains(Kinds(), kind)
}
