package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
)

// changedListed bounds how many changed records the report names.
const changedListed = 100

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
	for {
		select {
		case it, ok := <-items:
			if !ok {
				if b != nil && drain.Err() == nil && ctx.Err() == nil {
					b.Flush()
				}
				return nil
			}
			if drain.Err() != nil {
				continue // unsent: the next run sends it
			}
			send, err := r.admit(it, b)
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
			b.Add(it, time.Now())
		case now := <-tick:
			b.FlushOlder(now)
		case <-ctx.Done():
			return nil
		}
	}
}

// admit applies the delivery rules to one item.
func (r *run) admit(it *msg.Item, b *load.Batcher) (bool, error) {
	if b != nil && !b.Fits(it.Size()) {
		r.recordFailure(&msg.Error{Origin: it.Origin, Stage: msg.StageLoad, Key: it.Key, Code: "TOO_LARGE",
			Err: fmt.Errorf("the item is %d bytes, more than the batch limit of %d", len(it.Payload), r.loader.Options().MaxBytes)}, packedJSON(it.Source))
		return false, nil
	}
	if e, ok := r.open.get(it.Key); ok {
		first := msg.Origin{Source: it.Origin.Source, Line: e.line}
		r.duplicate(it, e.hash[:], first.String())
		return false, nil
	}
	seen, ok, err := r.store.Lookup(it.Key)
	if err != nil {
		return false, fmt.Errorf("ledger lookup of %s: %w", it.Key, err)
	}
	if ok {
		same := bytes.Equal(seen.Hash, it.Hash[:])
		switch {
		case seen.RunID == r.runID:
			r.duplicate(it, seen.Hash, seen.Origin)
			return false, nil
		case seen.Status == ledger.Loaded && same:
			r.c.skipLoaded.Add(1)
			return false, nil
		case seen.Status == ledger.Loaded:
			r.c.skipChanged.Add(1)
			r.chMu.Lock()
			if len(r.changed) < changedListed {
				r.changed = append(r.changed, Ref{Key: it.Key, Origin: it.Origin.String()})
			}
			r.chMu.Unlock()
			r.opts.Log.Warn("record changed since it was loaded; not resent", "origin", it.Origin.String(), "key", it.Key, "loaded_from", seen.Origin)
			return false, nil
		}
		// Failed in an earlier run: send again.
	}
	r.store.Admit(it)
	if b != nil {
		r.open.add(it)
		var err error
		if it.PayloadRef, err = r.spill.put(it.Payload); err != nil {
			return false, err
		}
		if it.SourceRef, err = r.spill.put(it.Source); err != nil {
			return false, err
		}
		it.Payload, it.Source = nil, nil
	}
	return true, nil
}

// duplicate handles a key seen earlier in this run: the same content is
// skipped, other content fails — one key can never carry two messages.
func (r *run) duplicate(it *msg.Item, firstHash []byte, firstOrigin string) {
	if bytes.Equal(firstHash, it.Hash[:]) {
		r.c.skipDup.Add(1)
		return
	}
	r.recordFailure(&msg.Error{Origin: it.Origin, Stage: msg.StageLoad, Key: it.Key, Code: "DUPLICATE_KEY",
		Err: fmt.Errorf("key %s was already used in this run by %s, with other content", it.Key, firstOrigin)}, packedJSON(it.Source))
}
