package pipeline

import (
	"encoding/json"
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

type event struct {
	res  *load.Result
	fail *failure
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

const recordBatch = 1024

func newRecorder(r *run, fw *failureWriter, cancel func(error)) *recorder {
	rc := &recorder{r: r, fw: fw, ch: make(chan event, 1024), done: make(chan error, 1), cancel: cancel}
	go func() { rc.done <- rc.loop() }()
	return rc
}

func (rc *recorder) result(res load.Result) { rc.ch <- event{res: &res} }
func (rc *recorder) failure(f failure)      { rc.ch <- event{fail: &f} }

// close waits for every event to be written.
func (rc *recorder) close() error {
	close(rc.ch)
	return <-rc.done
}

// loop commits as soon as nothing more is queued (group commit): under load
// many outcomes share a transaction, and an acknowledged item is never kept
// waiting for a timer — what a crash can lose is only what was in flight.
func (rc *recorder) loop() error {
	pending := make([]event, 0, recordBatch)
	var failed error
	for {
		ev, ok := <-rc.ch
		if !ok {
			return failed
		}
		pending = append(pending[:0], ev)
	fill:
		for len(pending) < recordBatch {
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
		if failed == nil {
			if err := rc.flush(pending); err != nil {
				failed = err
				rc.cancel(err)
			}
		}
	}
}

func (rc *recorder) flush(events []event) error {
	var entries []ledger.Entry
	var recFails []ledger.RecordFailure
	keys := make([]string, 0, len(events))
	var loaded, failedLoad int64
	for _, ev := range events {
		if ev.fail != nil {
			recFails = append(recFails, ledger.RecordFailure{Origin: ev.fail.err.Origin.String(), Stage: string(ev.fail.err.Stage), Error: ev.fail.err.Error()})
			continue
		}
		res := ev.res
		it := res.Item
		e := ledger.Entry{Key: it.Key, Route: it.Route, Origin: it.Origin.String(), Hash: it.Hash[:],
			TargetID: res.TargetID, Attempts: 1, Kept: it.Kept}
		if res.Status == load.Loaded {
			e.Status = ledger.Loaded
			loaded++
		} else {
			e.Status, e.Code, e.Error, e.Payload = ledger.Failed, res.Code, res.Message, it.Payload
			failedLoad++
		}
		entries = append(entries, e)
		keys = append(keys, it.Key)
	}
	if err := rc.r.store.Write(rc.r.runID, entries, recFails); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	for _, ev := range events {
		if ev.fail != nil {
			if err := rc.fw.write(ev.fail.err, ev.fail.record); err != nil {
				return err
			}
			continue
		}
		if ev.res.Status == load.Failed {
			it := ev.res.Item
			e := &msg.Error{Origin: it.Origin, Stage: msg.StageLoad, Key: it.Key, Code: ev.res.Code, Err: fmt.Errorf("%s", ev.res.Message)}
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
		}
	}
	for _, ev := range events {
		if ev.res != nil {
			rc.r.spill.release(ev.res.Item.PayloadRef)
			rc.r.spill.release(ev.res.Item.SourceRef)
		}
	}
	rc.r.c.loaded.Add(loaded)
	rc.r.c.failLoad.Add(failedLoad)
	rc.r.c.failed.Add(failedLoad)
	rc.r.open.release(keys)
	return nil
}
