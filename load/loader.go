package load

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
)

// Result is an item's final outcome in this run.
type Result struct {
	Item     *msg.Item
	Status   Status // Loaded or Failed
	TargetID string
	Code     string
	Message  string
}

// Stats are the loader's running counts, safe to read while it runs; the
// requests, retries and 429s are its pacer's.
type Stats struct {
	Batches   atomic.Int64 // batches settled
	Splits    atomic.Int64
	ItemsSent atomic.Int64 // items carried by settled batches, for the mean batch fill
	Abandoned atomic.Int64 // items left unsent by a stop, to be sent next run
}

// Loader delivers batches through a Sink with bounded concurrency, through
// the sink's pacer (one rate, one retry policy, one circuit for the run).
type Loader struct {
	sink  Sink
	opts  Options
	pacer *transport.Pacer
	Stats Stats
}

// NewLoader wraps a sink.
func NewLoader(s Sink) *Loader {
	o := s.Options()
	o.Concurrency = max(o.Concurrency, 1)
	l := &Loader{sink: s, opts: o}
	if p, ok := s.(Paced); ok {
		l.pacer = p.Pacer()
	} else {
		l.pacer = transport.NewPacer("sink", 0, 1, transport.DefaultPolicy, nil)
	}
	return l
}

// Options are the delivery options in force.
func (l *Loader) Options() Options { return l.opts }

// Pacer is the pacer every attempt goes through.
func (l *Loader) Pacer() *transport.Pacer { return l.pacer }

// Emit records the final outcomes of a batch's items and returns once they
// are durable (or with the error that kept them from being so). A worker
// takes its next batch only after that: what a crash can make the next run
// send again is bounded by Concurrency batches, whatever the recorder's pace.
type Emit func(results []Result) error

// Run sends every batch from in with at most Concurrency requests in flight,
// and emits every item's final outcome once, a batch at a time (from several
// goroutines). When drain is done no new attempt starts: items not yet
// answered get no Result and are counted as Abandoned, so a later run sends
// them. ctx cancels requests in flight. A *transport.FatalError or
// *transport.OutageError ends Run, as does an error of emit: what had not
// been sent stays unsent.
func (l *Loader) Run(ctx, drain context.Context, in <-chan *Batch, emit Emit) error {
	g, gctx := errgroup.WithContext(ctx)
	// Waits (backoff, pauses, the circuit) end at a drain or a stop; a
	// request in flight ends only at a stop.
	wait, cancelWait := context.WithCancel(gctx)
	defer cancelWait()
	stopWaiting := context.AfterFunc(drain, cancelWait)
	defer stopWaiting()
	for range l.opts.Concurrency {
		g.Go(func() error {
			for {
				// A worker's error ends every worker at once, not once the
				// source is read to its end: what is queued stays unsent.
				var b *Batch
				select {
				case <-gctx.Done():
					return nil
				case b = <-in:
				}
				if b == nil {
					return nil
				}
				if err := l.deliver(gctx, wait, b, emit); err != nil {
					l.Stats.Abandoned.Add(int64(len(b.Items)))
					return err
				}
			}
		})
	}
	return g.Wait()
}

// deliver settles every item of b, or leaves them all unsent (a stop, a
// drain), or returns the error that stops the run.
func (l *Loader) deliver(ctx, wait context.Context, b *Batch, emit Emit) error {
	if wait.Err() != nil {
		l.Stats.Abandoned.Add(int64(len(b.Items)))
		return nil
	}
	var results []ItemResult
	err := l.pacer.Call(wait, func() error {
		var err error
		results, err = l.sink.Send(ctx, b)
		if err == nil && len(results) != len(b.Items) {
			return &transport.Error{Class: transport.Permanent, Code: "BAD_ANSWER",
				Message: fmt.Sprintf("the sink returned %d results for %d items", len(results), len(b.Items))}
		}
		return err
	})
	var te *transport.Error
	var ex *transport.ExhaustedError
	var fatal *transport.FatalError
	var outage *transport.OutageError
	var skip *SkipError
	switch {
	case err == nil:
		l.Stats.Batches.Add(1)
		l.Stats.ItemsSent.Add(int64(len(b.Items)))
		out := make([]Result, len(results))
		for i, r := range results {
			out[i] = Result{Item: b.Items[i], Status: r.Status, TargetID: r.TargetID, Code: r.Code, Message: r.Message}
		}
		return emit(out)
	case errors.As(err, &skip):
		l.Stats.Batches.Add(1)
		out := make([]Result, len(b.Items))
		for i, it := range b.Items {
			out[i] = Result{Item: it, Status: Skipped, Code: skip.Reason, Message: skip.Message}
		}
		return emit(out)
	case errors.As(err, &fatal), errors.As(err, &outage):
		return err // the caller counts b as abandoned
	case wait.Err() != nil:
		l.Stats.Abandoned.Add(int64(len(b.Items)))
		return nil
	case errors.As(err, &ex):
		return l.failAll(b, "RETRIES_EXHAUSTED", ex.Error(), emit)
	case errors.As(err, &te) && te.Class == transport.TooLarge && len(b.Items) > 1:
		l.Stats.Splits.Add(1)
		half := len(b.Items) / 2
		if err := l.deliver(ctx, wait, subBatch(b.Route, b.Items[:half]), emit); err != nil {
			l.Stats.Abandoned.Add(int64(len(b.Items) - half))
			return err
		}
		return l.deliver(ctx, wait, subBatch(b.Route, b.Items[half:]), emit)
	case errors.As(err, &te) && te.Class == transport.TooLarge:
		return l.failAll(b, "TOO_LARGE", te.Error(), emit)
	case errors.As(err, &te):
		return l.failAll(b, te.VendorCode(), te.Error(), emit)
	}
	return l.failAll(b, "FAILED", err.Error(), emit)
}

func (l *Loader) failAll(b *Batch, code, message string, emit Emit) error {
	l.Stats.Batches.Add(1)
	out := make([]Result, len(b.Items))
	for i, it := range b.Items {
		out[i] = Result{Item: it, Status: Failed, Code: code, Message: message}
	}
	return emit(out)
}

func subBatch(route msg.Route, items []*msg.Item) *Batch {
	n := 0
	for _, it := range items {
		n += len(it.Payload)
	}
	return &Batch{Route: route, Items: items, Bytes: n}
}
