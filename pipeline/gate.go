package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
)

// changedListed bounds how many changed records the report names.
const changedListed = 100

// lookupBatch items are asked about in one ledger call: one round trip to a
// shared ledger instead of one per record.
const lookupBatch = 256

// gate decides, per mapped item, whether it is sent: not if an earlier run
// loaded it, not twice in one run. What passes goes to the batcher.
func (r *run) gate(ctx, drain context.Context, items <-chan *msg.Item, batches chan<- *load.Batch, rec *recorder) error {
	defer close(batches)
	var b *load.Batcher
	var tick <-chan time.Time
	if r.loader != nil {
		opts := r.loader.Options()
		b = load.NewBatcher(opts, func(bt *load.Batch) {
			// The batch is leaving: bring its payloads back into memory.
			for _, it := range bt.Items {
				p, err := r.spill.get(it.PayloadRef)
				if err != nil {
					r.fail(err)
					return
				}
				it.Payload = p
			}
			if r.opts.Metrics != nil {
				r.opts.Metrics.Batch(len(bt.Items), bt.Bytes)
			}
			select {
			case batches <- bt:
			case <-ctx.Done():
			}
		})
		if opts.Linger > 0 {
			t := time.NewTicker(max(opts.Linger/4, 10*time.Millisecond))
			defer t.Stop()
			tick = t.C
		}
	}
	pending := make([]*msg.Item, 0, lookupBatch)
	keys := make([]string, 0, lookupBatch)
	seen := make([]ledger.Seen, lookupBatch)
	inBatch := make(map[string]bool, lookupBatch)
	for {
		select {
		case it, ok := <-items:
			if !ok {
				if b != nil && drain.Err() == nil && ctx.Err() == nil {
					b.Flush()
				}
				return nil
			}
			pending = append(pending[:0], it)
		more:
			for len(pending) < lookupBatch {
				select {
				case it, ok := <-items:
					if !ok {
						break more
					}
					pending = append(pending, it)
				default:
					break more
				}
			}
			if drain.Err() != nil {
				continue // unsent: the next run sends them
			}
			r.open.apply() // before the lookup: see the open map's doc
			keys = keys[:0]
			for _, it := range pending {
				keys = append(keys, it.Key)
			}
			if err := r.store.Lookup(keys, seen[:len(keys)]); err != nil {
				return fmt.Errorf("ledger lookup: %w", err)
			}
			clear(inBatch)
			now := time.Now()
			for i, it := range pending {
				if inBatch[it.Key] {
					// A key twice in one batch (of a dry run, which keeps no
					// open keys): the ledger was asked before the first was
					// admitted.
					if err := r.store.Lookup(keys[i:i+1], seen[i:i+1]); err != nil {
						return fmt.Errorf("ledger lookup: %w", err)
					}
				}
				inBatch[it.Key] = true
				send, err := r.admit(it, seen[i], b)
				if err != nil {
					return err
				}
				if !send {
					continue
				}
				if b == nil {
					r.c.wouldSend.Add(1)
					continue
				}
				b.Add(it, now)
			}
		case now := <-tick:
			b.FlushOlder(now)
		case <-ctx.Done():
			return nil
		}
	}
}

// admit applies the delivery rules to one item, given what the ledger knew
// of its key when the batch was looked up (this run's later admissions are
// in the open keys, or recorded under this run's id).
func (r *run) admit(it *msg.Item, seen ledger.Seen, b *load.Batcher) (bool, error) {
	if b != nil && !b.Fits(it.Size()) {
		r.recordFailure(&msg.Error{Origin: it.Origin, Stage: msg.StageLoad, Key: it.Key, Code: "TOO_LARGE",
			Err: fmt.Errorf("the item is %d bytes, more than the batch limit of %d", len(it.Payload), r.loader.Options().MaxBytes)}, packedJSON(it.Source))
		return false, nil
	}
	if e, ok := r.open.get(it.Key); ok {
		first := msg.Origin{Source: it.Origin.Source, Line: e.line}
		r.duplicate(it, ledger.Hash64(e.hash), first.String())
		return false, nil
	}
	h := ledger.Hash64(it.Hash)
	if seen.Known {
		same := seen.Hash == h
		switch {
		case seen.RunID == r.runID:
			origin, err := r.store.Origin(it.Key)
			if err != nil {
				return false, fmt.Errorf("ledger: %w", err)
			}
			r.duplicate(it, seen.Hash, origin)
			return false, nil
		case seen.Status == ledger.Loaded && same:
			r.c.skipLoaded.Add(1)
			r.metric("skipped", "already_loaded")
			return false, nil
		case seen.Status == ledger.Loaded && r.opts.ResendChanged:
			// Sent again on purpose: the sink updates by key.
		case seen.Status == ledger.Loaded:
			r.c.skipChanged.Add(1)
			r.metric("skipped", "changed")
			r.chMu.Lock()
			if len(r.changed) < changedListed {
				r.changed = append(r.changed, Ref{Key: it.Key, Origin: it.Origin.String()})
			}
			r.chMu.Unlock()
			return false, nil
		}
		// Failed in an earlier run: send again.
	}
	if ds, ok := r.store.(*dryStore); ok {
		if err := ds.admit(it, r.runID); err != nil {
			return false, err
		}
		return true, nil
	}
	r.open.add(it)
	var err error
	if it.PayloadRef, err = r.spill.put(it.Payload); err != nil {
		return false, err
	}
	if it.SourceRef, err = r.spill.put(it.Source); err != nil {
		return false, err
	}
	it.Payload, it.Source = nil, nil
	return true, nil
}

func (r *run) metric(outcome, reason string) {
	if r.opts.Metrics != nil {
		r.opts.Metrics.Records(outcome, reason, 1)
	}
}

// duplicate handles a key seen earlier in this run: the same content is
// skipped, other content fails — one key can never carry two messages.
func (r *run) duplicate(it *msg.Item, firstHash uint64, firstOrigin string) {
	if firstHash == ledger.Hash64(it.Hash) {
		r.c.skipDup.Add(1)
		r.metric("skipped", "duplicate")
		return
	}
	where := ""
	if firstOrigin != "" {
		where = " by " + firstOrigin
	}
	r.recordFailure(&msg.Error{Origin: it.Origin, Stage: msg.StageLoad, Key: it.Key, Code: "DUPLICATE_KEY",
		Err: fmt.Errorf("key %s was already used in this run%s, with other content", it.Key, where)}, packedJSON(it.Source))
}
