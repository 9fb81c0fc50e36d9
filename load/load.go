// Package load delivers mapped items to a sink: batching by route, bounded
// concurrency, one shared rate limit, and one place that decides what is
// retried (whole-request failures, honouring Retry-After, pausing every
// worker on a 429) and what is final (per-item rejections).
//
// To add a sink kind (a checklist):
//   - put the vendor's wire types and target schema in api/<vendor>;
//   - implement Sink: Send makes one attempt (one request, or a read and a
//     write) through a transport.Client and returns its failure as the
//     transport's *Error (its Class says retry, split, fail or stop); per-item
//     outcomes of an answered request come back as ItemResult; implement
//     Paced so the loader retries through the client's Pacer;
//   - call Register(kind, factory) in init and import it in load/all;
//   - call loadtest.Run from its tests.
package load

import (
	"context"
	"log/slog"
	"time"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/internal/registry"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/schema"
	"github.com/msgmigrate/msgmigrate/transport"
)

// Batch is items with one route, within the sink's limits.
type Batch struct {
	Route msg.Route
	Items []*msg.Item
	Bytes int // payload bytes, for the byte limit
}

// Status is an item's outcome.
type Status int

const (
	Loaded Status = iota
	Failed
	// Skipped: the sink left the item alone by its own rule (a message a
	// write-back must not touch, as the vendor shows it now): counted as
	// skipped by the rule's reason, not recorded — the next run checks it
	// again.
	Skipped
)

// SkipError is what a sink's Send returns for an item it leaves alone by
// its own rule; Reason is short and stable ("not sent"): a count's label.
type SkipError struct {
	Reason  string
	Code    string // the vendor package's code for it, for callers of Send
	Message string
}

func (e *SkipError) Error() string { return e.Message }

// Unwrap makes the pacer take it as final: nothing to retry.
func (e *SkipError) Unwrap() error {
	return &transport.Error{Class: transport.Permanent, Code: e.Code, Message: e.Message}
}

// ItemResult is one item's outcome of one successful request, in the order of
// Batch.Items.
type ItemResult struct {
	Status   Status
	TargetID string
	Code     string
	Message  string
}

// Sink sends one batch in one request.
type Sink interface {
	// Send returns one ItemResult per item when the request was answered,
	// or the failure (a *transport.Error says what to do about it).
	Send(ctx context.Context, b *Batch) ([]ItemResult, error)
	// Options are the batching and concurrency the sink was configured with.
	Options() Options
	Close() error
}

// Options shape delivery. Benthos-style, the sink states its batch policy and
// its maximum in flight.
type Options struct {
	MaxItems    int // items per request
	MaxBytes    int // payload bytes per request; 0 = no limit
	Overhead    int // bytes of the request envelope around the items
	Concurrency int // requests in flight at most
	// Linger is how long a partial batch may wait for more items; 0 (the
	// default) waits until its route ends or memory bounds call for it: a
	// batch sent early is one more request.
	Linger  time.Duration
	MaxOpen int // bytes of all open batches before the fullest is sent
}

// Paced is implemented by sinks that talk to a service: the loader makes
// its attempts through the sink's pacer (rate, retries, 429 pauses, the
// circuit, fail-fast). A sink that is not Paced gets a pacer of its own
// with no rate limit.
type Paced interface {
	Pacer() *transport.Pacer
}

// Prober is implemented by sinks that can tell, without writing anything,
// whether their endpoint is reachable and takes the credentials: what it
// found, or the error every request would meet.
type Prober interface {
	Probe(ctx context.Context) (string, error)
}

// UpdatesByKey is implemented by sinks whose write replaces the record its
// route names (a PUT by id): sending a changed record again updates it, it
// does not duplicate it.
type UpdatesByKey interface {
	UpdatesByKey() bool
}

// CanUpdateByKey reports whether s updates by key.
func CanUpdateByKey(s Sink) bool {
	u, ok := s.(UpdatesByKey)
	return ok && u.UpdatesByKey()
}

// Env is what a sink factory gets besides its job section.
type Env struct {
	Schema *schema.Schema // the mapping's target schema
	// ResolveURL turns a configured URL into the one to use; the run maps
	// "sandbox" to the in-process fake. nil leaves URLs as they are.
	ResolveURL func(raw string) (string, error)
	// RateShare is the fraction of the job's rate this process takes: 1/P
	// when P processes of one job run at once; 0 means all of it.
	RateShare float64
	// Log is the run's logger.
	Log *slog.Logger
}

// URL resolves raw through ResolveURL when set.
func (e Env) URL(raw string) (string, error) {
	if e.ResolveURL == nil {
		return raw, nil
	}
	return e.ResolveURL(raw)
}

// Factory opens a sink from its job section.
type Factory func(ctx context.Context, sec config.Section, env Env) (Sink, error)

var sinks = registry.New[Factory]("sink")

// Register makes a sink kind available; a duplicate panics.
func Register(kind string, f Factory) { sinks.Register(kind, f) }

// Open opens a sink of the given kind.
func Open(ctx context.Context, kind string, sec config.Section, env Env) (Sink, error) {
	f, err := sinks.Get(kind)
	if err != nil {
		return nil, err
	}
	return f(ctx, sec, env)
}
