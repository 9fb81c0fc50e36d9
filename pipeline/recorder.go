package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
)

// failure is a record that failed without a load result: read, map, or
// refused by the gate.
type failure struct {
	err    *msg.Error
	record []byte // the source record as JSON, when there is one
}

// packedJSON renders a record packed by msg.EncodeFields as JSON.
func packedJSON(packed []byte) []byte {
	if len(packed) == 0 {
		return nil
	}
	fields, err := msg.DecodeFields(packed)
	if err != nil {
		return nil
	}
	b, _ := json.Marshal(fields)
	return b
}

// event is what the recorder writes: a batch's outcomes (whose sender waits
// on done), a record's failure, or the origins of records read correctly
// that once failed.
type event struct {
	results []load.Result
	done    chan error
	fail    *failure
	cleared []msg.Origin
}

// recorder is the only writer of outcomes: it groups them into one ledger
// transaction at a time, then writes the failures file, then counts, then
// releases the keys — in that order, so a key is never both unrecorded and
// unknown to the gate.
type recorder struct {
	r      *run
	fw     *failureWriter
	ch     chan event
	done   chan error
	cancel func(error)
}

// recordGroup bounds the events of one transaction.
const recordGroup = 256

func newRecorder(r *run, fw *failureWriter, cancel func(error)) *recorder {
	rc := &recorder{r: r, fw: fw, ch: make(chan event, 256), done: make(chan error, 1), cancel: cancel}
	go func() { rc.done <- rc.loop() }()
	return rc
}

// results records a batch's outcomes and returns once they are durable.
func (rc *recorder) results(rs []load.Result) error {
	done := make(chan error, 1)
	rc.ch <- event{results: rs, done: done}
	return <-done
}

func (rc *recorder) failure(f failure)          { rc.ch <- event{fail: &f} }
func (rc *recorder) clear(origins []msg.Origin) { rc.ch <- event{cleared: origins} }

// close waits for every event to be written; it returns every error the
// recorder met.
func (rc *recorder) close() error {
	close(rc.ch)
	return <-rc.done
}

// loop commits as soon as nothing more is queued (group commit): under load
// many outcomes share a transaction, and an acknowledged item is never kept
// waiting for a timer. After a failure it keeps answering (with the
// failure) so that no sender waits forever, and it reports every failure.
func (rc *recorder) loop() error {
	pending := make([]event, 0, recordGroup)
	var errs []error
	for {
		ev, ok := <-rc.ch
		if !ok {
			return errors.Join(errs...)
		}
		pending = append(pending[:0], ev)
	fill:
		for len(pending) < recordGroup {
			select {
			case ev, ok := <-rc.ch:
				if !ok {
					break fill
				}
				pending = append(pending, ev)
			default:
				break fill
			}
		}
		var err error
		if len(errs) > 0 {
			err = fmt.Errorf("not recorded: the ledger failed earlier: %w", errs[0])
		} else if err = rc.flush(pending); err != nil {
			errs = append(errs, err)
			rc.cancel(err)
		}
		for _, ev := range pending {
			if ev.done != nil {
				ev.done <- err
			}
		}
	}
}

func (rc *recorder) flush(events []event) error {
	var entries []ledger.Entry
	var recFails []ledger.RecordFailure
	var cleared []msg.Origin
	var keys []string
	var loaded, failedLoad int64
	for _, ev := range events {
		cleared = append(cleared, ev.cleared...)
		if ev.fail != nil {
			e := ev.fail.err
			if e.Stage == msg.StageRead || e.Stage == msg.StageMap {
				raw := ev.fail.record
				if len(e.Raw) > 0 {
					raw = e.Raw
				}
				recFails = append(recFails, ledger.RecordFailure{Origin: e.Origin, Stage: string(e.Stage), Error: e.Error(), Raw: capRaw(raw)})
			}
			continue
		}
		for _, res := range ev.results {
			it := res.Item
			keys = append(keys, it.Key)
			if res.Status == load.Skipped {
				rc.r.skippedBySink(res.Code)
				continue
			}
			e := ledger.Entry{Key: it.Key, Route: it.Route, Origin: it.Origin, Hash: it.Hash, TargetID: res.TargetID, Kept: it.Kept}
			if res.Status == load.Loaded {
				e.Status = ledger.Loaded
				loaded++
			} else {
				e.Status, e.Code, e.Error, e.Payload = ledger.Failed, res.Code, res.Message, it.Payload
				failedLoad++
			}
			entries = append(entries, e)
		}
	}
	if err := rc.r.store.Write(rc.r.runID, entries, recFails, cleared); err != nil {
		return err
	}
	for _, ev := range events {
		if ev.fail != nil {
			if err := rc.fw.write(ev.fail.err, ev.fail.record); err != nil {
				return err
			}
			continue
		}
		for _, res := range ev.results {
			if res.Status != load.Failed {
				continue
			}
			it := res.Item
			e := &msg.Error{Origin: it.Origin, Stage: msg.StageLoad, Key: it.Key, Code: res.Code, Err: errors.New(res.Message)}
			src := it.Source
			if src == nil {
				var err error
				if src, err = rc.r.spill.get(it.SourceRef); err != nil {
					return err
				}
			}
			if err := rc.fw.write(e, packedJSON(src)); err != nil {
				return err
			}
			rc.r.countCode(res.Code, it.Route)
		}
	}
	for _, ev := range events {
		for _, res := range ev.results {
			rc.r.spill.release(res.Item.PayloadRef)
			rc.r.spill.release(res.Item.SourceRef)
		}
	}
	if m := rc.r.opts.Metrics; m != nil && loaded > 0 {
		m.Records("loaded", "", int(loaded))
	}
	rc.r.c.loaded.Add(loaded)
	rc.r.c.failLoad.Add(failedLoad)
	rc.r.c.failed.Add(failedLoad)
	rc.r.open.release(keys)
	return nil
}

// maxRaw bounds the record text a record failure keeps in the ledger.
const maxRaw = 4 << 10

func capRaw(b []byte) string {
	if len(b) <= maxRaw {
		return string(b)
	}
	return string(b[:maxRaw]) + "…"
}
