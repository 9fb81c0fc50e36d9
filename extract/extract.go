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
	"log/slog"
	"time"

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

// Columns is implemented by sources that know their records' top-level
// fields before the first record is read — a header row, a Parquet schema, a
// vendor's record type — so a mapping's row.X can be checked against them.
// nil means "not known" (a JSON-lines file, say).
type Columns interface {
	Columns() []string
}

// Hints is implemented by sources that notice something about their input
// worth one line to the user, e.g. "messages.csv looks like Windows-1252
// (line 12: 0x93 0x94); set source.encoding". A run or validate prints each
// hint once, after reading.
type Hints interface {
	Hints() []string
}

// Env is what a source factory gets besides its job section.
type Env struct {
	// ResolveURL turns a configured URL into the one to use; the run maps
	// "sandbox" to the in-process fakes. nil leaves URLs as they are.
	ResolveURL func(raw string) (string, error)
	// RateShare is the fraction of the source's rate this process takes
	// (1/P when P processes of one job run at once); 0 means all of it.
	RateShare float64
	// Log is the run's logger.
	Log *slog.Logger
	// Files, when set, is this process's shard of a job split by file
	// (shard.by: file): a source reading part files reads only its own;
	// another source refuses it.
	Files *Shard
}

// URL resolves raw through ResolveURL when set.
func (e Env) URL(raw string) (string, error) {
	if e.ResolveURL == nil {
		return raw, nil
	}
	return e.ResolveURL(raw)
}

// Factory opens a source from its job section.
type Factory func(ctx context.Context, sec config.Section, env Env) (Source, error)

// Incremental is implemented by sources that can start from a point in time
// (vendor APIs): the run passes the stored watermark minus the lookback, and
// reads the new watermark when everything read reached a final state.
type Incremental interface {
	// Since limits the reading to records at or after t; called before Next.
	Since(t time.Time)
	// Watermark is the newest record time read so far (zero if none).
	Watermark() time.Time
	// Lookback is how far before the watermark the next run starts.
	Lookback() time.Duration
}

var sources = registry.New[Factory]("source")

// Register makes a source kind available. It panics on a duplicate kind,
// as database/sql.Register does: that is a programming error.
func Register(kind string, f Factory) { sources.Register(kind, f) }

// Open opens a source of the given kind.
func Open(ctx context.Context, kind string, sec config.Section, env Env) (Source, error) {
	f, err := sources.Get(kind)
	if err != nil {
		return nil, err
	}
	return f(ctx, sec, env)
}
