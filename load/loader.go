package load

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/msgmigrate/msgmigrate/msg"
)

// Result is an item's final outcome in this run.
type Result struct {
	Item     *msg.Item
	Status   Status // Loaded or Failed
	TargetID string
	Code     string
	Message  string
	Attempts int
}

// Stats are the loader's running counts, safe to read while it runs.
type Stats struct {
	Requests  atomic.Int64
	Retries   atomic.Int64 // whole-request attempts after the first
	Throttled atomic.Int64 // 429s
	InFlight  atomic.Int64
	Splits    atomic.Int64
	ItemsSent atomic.Int64 // items carried by requests, for the mean batch fill
	Abandoned atomic.Int64 // items left unsent by an interrupt, to be sent next run
}

// Loader delivers batches through a Sink with bounded concurrency, one shared
// rate limit, and retries.
type Loader struct {
	sink    Sink
	opts    Options
	limiter *rate.Limiter
	pacer   pacer
	Stats   Stats
}

// NewLoader wraps a sink.
func NewLoader(s Sink) *Loader {
	o := s.Options()
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	if o.Retry.MaxAttempts < 1 {
		o.Retry = DefaultRetry
	}
	lim := rate.NewLimiter(rate.Inf, 1)
	if o.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(o.Rate), 1)
	}
	return &Loader{sink: s, opts: o, limiter: lim}
}

// Options are the delivery options in force.
func (l *Loader) Options() Options { return l.opts }

// Run sends every batch from in with at most Concurrency requests in flight,
// and calls emit (from several goroutines) once per item with its final
// outcome. When drain is done no new attempt starts: items not yet answered
// get no Result and are counted as Abandoned, so a later run sends them. ctx
// cancels requests in flight.
func (l *Loader) Run(ctx, drain context.Context, in <-chan *Batch, emit func(Result)) error {
	g, ctx := errgroup.WithContext(ctx)
	for range l.opts.Concurrency {
		g.Go(func() error {
			for b := range in {
				if err := l.deliver(ctx, drain, b, 1, emit); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// deliver sends b until every item is settled, attempts run out, or the run
// is draining. attempt is the number of the next attempt.
func (l *Loader) deliver(ctx, drain context.Context, b *Batch, attempt int, emit func(Result)) error {
	throttled := 0 // 429s in a row: they say "later", so they use no attempt
	for {
		if drain.Err() != nil || ctx.Err() != nil {
			l.Stats.Abandoned.Add(int64(len(b.Items)))
			return nil
		}
		if err := l.pacer.wait(drain); err != nil {
			continue
		}
		if err := l.limiter.Wait(drain); err != nil {
			continue
		}
		l.Stats.Requests.Add(1)
		l.Stats.ItemsSent.Add(int64(len(b.Items)))
		if attempt > 1 {
			l.Stats.Retries.Add(1)
		}
		l.Stats.InFlight.Add(1)
		results, err := l.sink.Send(ctx, b)
		l.Stats.InFlight.Add(-1)

		var retry *RetryableError
		var tooLarge *TooLargeError
		var perm *PermanentError
		switch {
		case err == nil:
			if len(results) != len(b.Items) {
				return fmt.Errorf("sink returned %d results for %d items", len(results), len(b.Items))
			}
			var again []*msg.Item
			for i, r := range results {
				switch r.Status {
				case Loaded, Failed:
					emit(Result{Item: b.Items[i], Status: r.Status, TargetID: r.TargetID, Code: r.Code, Message: r.Message, Attempts: attempt})
				default:
					again = append(again, b.Items[i])
				}
			}
			if len(again) == 0 {
				return nil
			}
			if attempt >= l.opts.Retry.MaxAttempts {
				l.failAll(&Batch{Route: b.Route, Items: again}, "RETRIES_EXHAUSTED",
					fmt.Sprintf("the target did not settle the item in %d attempts", attempt), attempt, emit)
				return nil
			}
			b = subBatch(b.Route, again)
			if err := sleep(drain, l.opts.Retry.Backoff(attempt, 0)); err != nil {
				continue
			}
			attempt++
		case errors.As(err, &tooLarge) && len(b.Items) > 1:
			// Split and send both halves; the halves keep the attempt count.
			l.Stats.Splits.Add(1)
			half := len(b.Items) / 2
			if err := l.deliver(ctx, drain, subBatch(b.Route, b.Items[:half]), attempt, emit); err != nil {
				return err
			}
			return l.deliver(ctx, drain, subBatch(b.Route, b.Items[half:]), attempt, emit)
		case errors.As(err, &tooLarge):
			l.failAll(b, "TOO_LARGE", tooLarge.Error(), attempt, emit)
			return nil
		case errors.As(err, &perm):
			l.failAll(b, perm.Code, perm.Error(), attempt, emit)
			return nil
		case errors.As(err, &retry), ctx.Err() == nil:
			if ctx.Err() != nil {
				continue // the run is being stopped: not the target's fault
			}
			if retry == nil {
				retry = &RetryableError{Err: err} // unclassified transport errors are retried
			}
			if retry.Throttled {
				l.Stats.Throttled.Add(1)
				throttled++
				if throttled > l.opts.Retry.MaxThrottled {
					l.failAll(b, "RETRIES_EXHAUSTED", fmt.Sprintf("throttled %d times in a row: %v", throttled, retry), attempt, emit)
					return nil
				}
				l.pacer.pauseFor(l.opts.Retry.Backoff(attempt, retry.RetryAfter))
				continue
			}
			throttled = 0
			if attempt >= l.opts.Retry.MaxAttempts {
				l.failAll(b, "RETRIES_EXHAUSTED", fmt.Sprintf("gave up after %d attempts: %v", attempt, retry), attempt, emit)
				return nil
			}
			if err := sleep(drain, l.opts.Retry.Backoff(attempt, retry.RetryAfter)); err != nil {
				continue
			}
			attempt++
		default:
			continue
		}
	}
}

func (l *Loader) failAll(b *Batch, code, message string, attempts int, emit func(Result)) {
	for _, it := range b.Items {
		emit(Result{Item: it, Status: Failed, Code: code, Message: message, Attempts: attempts})
	}
}

func subBatch(route msg.Route, items []*msg.Item) *Batch {
	n := 0
	for _, it := range items {
		n += len(it.Payload)
	}
	return &Batch{Route: route, Items: items, Bytes: n}
}
