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

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/internal/registry"
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

var sources = registry.New[Factory]("source")

// Register makes a source kind available. It panics on a duplicate kind,
// as database/sql.Register does: that is a programming error.
func Register(kind string, f Factory) { sources.Register(kind, f) }

// Kinds lists the registered kinds, sorted.
func Kinds() []string { return sources.Kinds() }

// Open opens a source of the given kind.
func Open(ctx context.Context, kind string, sec config.Section) (Source, error) {
	f, err := sources.Get(kind)
	if err != nil {
		return nil, err
	}
	return f(ctx, sec)
}
