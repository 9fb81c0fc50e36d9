// Package ledgertest is the conformance suite every ledger backend passes:
// one place says what a correct ledger is.
package ledgertest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/msg"
)

// Backend makes fresh, empty ledgers for the suite: each call to New names
// a job's state that no other test uses.
type Backend struct {
	New func(t *testing.T) (state string)
}

// Item makes an entry for key with status, from line of messages.csv.
func Item(key, status string, line int) ledger.Entry {
	e := ledger.Entry{Key: key, Route: []string{"dept-" + strconv.Itoa(line%3), "cust-" + strconv.Itoa(line%7)},
		Origin: msg.Origin{Source: "messages.csv", Line: line}, Status: status, Payload: []byte(`{"n":` + strconv.Itoa(line) + `}`)}
	copy(e.Hash[:], fmt.Sprintf("%016d", line))
	if status == ledger.Loaded {
		e.TargetID = "target-" + key
	} else {
		e.Code, e.Error = "BAD_"+strconv.Itoa(line%2), "the vendor said no to "+key
	}
	return e
}

func open(t *testing.T, state string, o ledger.Options) ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(state, o)
	require.NoError(t, err)
	return l
}

func lookup(t *testing.T, l ledger.Ledger, keys ...string) []ledger.Seen {
	t.Helper()
	out := make([]ledger.Seen, len(keys))
	require.NoError(t, l.Lookup(keys, out))
	return out
}

// Run checks the backend.
func Run(t *testing.T, b Backend) {
	t.Run("WriteThenLookup", func(t *testing.T) {
		l := open(t, b.New(t), ledger.Options{})
		defer l.Close()
		run, err := l.StartRun("job.yaml", "run")
		require.NoError(t, err)
		seen := lookup(t, l, "a", "b")
		assert.False(t, seen[0].Known)
		a, bb := Item("a", ledger.Loaded, 2), Item("b", ledger.Failed, 3)
		require.NoError(t, l.Write(run, []ledger.Entry{a, bb}, nil, nil))
		seen = lookup(t, l, "a", "b", "c")
		assert.Equal(t, ledger.Seen{Known: true, Status: ledger.Loaded, Hash: ledger.Hash64(a.Hash), RunID: run}, seen[0])
		assert.Equal(t, ledger.Seen{Known: true, Status: ledger.Failed, Hash: ledger.Hash64(bb.Hash), RunID: run}, seen[1])
		assert.False(t, seen[2].Known)
		origin, err := l.Origin("b")
		require.NoError(t, err)
		assert.Equal(t, "messages.csv:3", origin)
		c, err := l.Counts()
		require.NoError(t, err)
		assert.Equal(t, int64(1), c.Loaded)
		assert.Equal(t, int64(1), c.Failed)
	})

	t.Run("ALoadedItemIsNeverDowngraded", func(t *testing.T) {
		l := open(t, b.New(t), ledger.Options{})
		defer l.Close()
		run, _ := l.StartRun("job.yaml", "run")
		require.NoError(t, l.Write(run, []ledger.Entry{Item("a", ledger.Loaded, 2), Item("b", ledger.Failed, 3)}, nil, nil))
		run2, _ := l.StartRun("job.yaml", "retry")
		require.NoError(t, l.Write(run2, []ledger.Entry{Item("a", ledger.Failed, 2), Item("b", ledger.Loaded, 3)}, nil, nil))
		seen := lookup(t, l, "a", "b")
		assert.Equal(t, ledger.Loaded, seen[0].Status)
		assert.Equal(t, run, seen[0].RunID, "the loaded outcome stays as it was")
		assert.Equal(t, ledger.Loaded, seen[1].Status)
		assert.Equal(t, run2, seen[1].RunID)
		c, err := l.Counts()
		require.NoError(t, err)
		assert.Equal(t, int64(2), c.Loaded, "one item per key")
		assert.Zero(t, c.Failed)
		var loaded []string
		require.NoError(t, l.Loaded(func(e ledger.Entry) error { loaded = append(loaded, e.Key); return nil }))
		assert.ElementsMatch(t, []string{"a", "b"}, loaded)
	})

	t.Run("WhatIsWrittenSurvivesReopening", func(t *testing.T) {
		state := b.New(t)
		l := open(t, state, ledger.Options{})
		run, _ := l.StartRun("job.yaml", "run")
		var items []ledger.Entry
		for i := range 3000 {
			st := ledger.Loaded
			if i%10 == 0 {
				st = ledger.Failed
			}
			items = append(items, Item("k"+strconv.Itoa(i), st, i+2))
		}
		for chunk := range slices.Chunk(items, 256) {
			require.NoError(t, l.Write(run, chunk, nil, nil))
		}
		require.NoError(t, l.SetMeta("watermark", "2026-11-30T00:00:00Z"))
		require.NoError(t, l.FinishRun(run, "completed", "messages.csv:3001", map[string]int{"read": 3000}))
		require.NoError(t, l.Close())

		l = open(t, state, ledger.Options{})
		defer l.Close()
		keys := make([]string, 0, len(items))
		for _, e := range items {
			keys = append(keys, e.Key)
		}
		seen := make([]ledger.Seen, len(keys))
		require.NoError(t, l.Lookup(keys, seen))
		for i, s := range seen {
			require.True(t, s.Known, keys[i])
			require.Equal(t, items[i].Status, s.Status, keys[i])
			require.Equal(t, ledger.Hash64(items[i].Hash), s.Hash, keys[i])
		}
		origin, err := l.Origin("k2999")
		require.NoError(t, err)
		assert.Equal(t, "messages.csv:3001", origin)
		wm, err := l.Meta("watermark")
		require.NoError(t, err)
		assert.Equal(t, "2026-11-30T00:00:00Z", wm)
		runs, err := l.Runs(5)
		require.NoError(t, err)
		require.Len(t, runs, 1)
		assert.Equal(t, "completed", runs[0].State)
		assert.Equal(t, "messages.csv:3001", runs[0].LastOrigin)
		assert.JSONEq(t, `{"read":3000}`, runs[0].Counts)
	})

	t.Run("FailedAndLoadedAreReadBack", func(t *testing.T) {
		l := open(t, b.New(t), ledger.Options{})
		defer l.Close()
		run, _ := l.StartRun("job.yaml", "run")
		kept := Item("k", ledger.Loaded, 5)
		kept.Kept = []byte(`{"id":"42"}`)
		vendor := Item("v", ledger.Failed, 0)
		vendor.Origin = msg.Origin{Source: "gorgias", ID: "9876"}
		require.NoError(t, l.Write(run, []ledger.Entry{Item("f1", ledger.Failed, 2), Item("f2", ledger.Failed, 3), kept, vendor}, nil, nil))
		var failed []ledger.Entry
		require.NoError(t, l.Failed(nil, func(e ledger.Entry) error { failed = append(failed, e); return nil }))
		require.Len(t, failed, 3)
		assert.Equal(t, []string{"f1", "f2", "v"}, []string{failed[0].Key, failed[1].Key, failed[2].Key}, "in the order recorded")
		assert.Equal(t, Item("f1", ledger.Failed, 2).Payload, failed[0].Payload, "a failed item keeps its payload for retry")
		assert.Equal(t, []string{"dept-2", "cust-2"}, failed[0].Route)
		assert.Equal(t, "BAD_0", failed[0].Code)
		assert.Equal(t, "gorgias message 9876", failed[2].Origin.String())
		var byCode []string
		require.NoError(t, l.Failed([]string{"BAD_1"}, func(e ledger.Entry) error { byCode = append(byCode, e.Key); return nil }))
		assert.Equal(t, []string{"f2"}, byCode)
		var loaded []ledger.Entry
		require.NoError(t, l.Loaded(func(e ledger.Entry) error { loaded = append(loaded, e); return nil }))
		require.Len(t, loaded, 1)
		assert.JSONEq(t, `{"id":"42"}`, string(loaded[0].Kept))
		assert.Equal(t, "target-k", loaded[0].TargetID)
		assert.Equal(t, "messages.csv:5", loaded[0].Origin.String())
		assert.Empty(t, loaded[0].Payload, "a loaded item keeps no payload")
		assert.False(t, loaded[0].At.IsZero())
	})

	t.Run("RecordFailuresStayUntilReadCorrectly", func(t *testing.T) {
		l := open(t, b.New(t), ledger.Options{})
		defer l.Close()
		run, _ := l.StartRun("job.yaml", "run")
		o9, o10 := msg.Origin{Source: "messages.csv", Line: 9}, msg.Origin{Source: "messages.csv", Line: 10}
		require.NoError(t, l.Write(run, nil, []ledger.RecordFailure{
			{Origin: o9, Stage: "map", Error: "sentOn: bad", Raw: `{"id":"9"}`},
			{Origin: o10, Stage: "read", Error: "bad quoting", Raw: `10,"x`},
		}, nil))
		c, err := l.Counts()
		require.NoError(t, err)
		assert.Equal(t, map[string]int64{"map": 1, "read": 1}, c.RecordFailures)
		// A later run fails line 9 again (one failure per record) and reads
		// line 10 correctly.
		run2, _ := l.StartRun("job.yaml", "run")
		require.NoError(t, l.Write(run2, nil, []ledger.RecordFailure{{Origin: o9, Stage: "map", Error: "sentOn: still bad"}}, []msg.Origin{o10}))
		var got []ledger.RecordFailure
		require.NoError(t, l.RecordFailures(func(f ledger.RecordFailure) error { got = append(got, f); return nil }))
		require.Len(t, got, 1)
		assert.Equal(t, "messages.csv:9", got[0].Origin.String())
		assert.Equal(t, "sentOn: still bad", got[0].Error)
		assert.Equal(t, run2, got[0].RunID)
	})

	t.Run("Breakdowns", func(t *testing.T) {
		l := open(t, b.New(t), ledger.Options{})
		defer l.Close()
		run, _ := l.StartRun("job.yaml", "run")
		var items []ledger.Entry
		for i := range 30 {
			st := ledger.Loaded
			if i%3 == 0 {
				st = ledger.Failed
			}
			items = append(items, Item("k"+strconv.Itoa(i), st, i))
		}
		require.NoError(t, l.Write(run, items, nil, nil))
		codes, err := l.Breakdown("code")
		require.NoError(t, err)
		total := int64(0)
		for _, g := range codes {
			total += g.Failed
			assert.Contains(t, []string{"BAD_0", "BAD_1"}, g.Name)
		}
		assert.Equal(t, int64(10), total)
		routes, err := l.Breakdown("route")
		require.NoError(t, err)
		var loaded, failed int64
		for _, g := range routes {
			loaded += g.Loaded
			failed += g.Failed
		}
		assert.Equal(t, int64(20), loaded)
		assert.Equal(t, int64(10), failed)
		_, err = l.Breakdown("colour")
		assert.Error(t, err)
	})

	t.Run("OneRunAtATimePerShard", func(t *testing.T) {
		state := b.New(t)
		s0 := ledger.Options{Shard: ledger.Shard{Index: 0, Count: 2}}
		s1 := ledger.Options{Shard: ledger.Shard{Index: 1, Count: 2}}
		l0 := open(t, state, s0)
		_, err := ledger.Open(state, s0)
		require.Error(t, err, "the same shard twice")
		l1 := open(t, state, s1) // another shard of the same job
		r0, _ := l0.StartRun("job.yaml", "run")
		r1, _ := l1.StartRun("job.yaml", "run")
		require.NoError(t, l0.Write(r0, []ledger.Entry{Item("a", ledger.Loaded, 1)}, nil, nil))
		require.NoError(t, l1.Write(r1, []ledger.Entry{Item("b", ledger.Loaded, 2)}, nil, nil))
		require.NoError(t, l0.SetMeta("watermark", "w0"))
		require.NoError(t, l1.SetMeta("watermark", "w1"))
		// Readers see every shard while the runs hold them.
		rs, err := ledger.Readers(state)
		require.NoError(t, err)
		var total int64
		var marks []string
		for _, r := range rs {
			c, err := r.Counts()
			require.NoError(t, err)
			total += c.Loaded
			wm, err := r.Meta("watermark")
			require.NoError(t, err)
			marks = append(marks, wm)
			r.Close()
		}
		assert.Equal(t, int64(2), total)
		assert.ElementsMatch(t, []string{"w0", "w1"}, marks, "each shard keeps its own watermark")
		require.NoError(t, l0.Close())
		l0 = open(t, state, s0) // free again once closed
		require.NoError(t, l0.Close())
		require.NoError(t, l1.Close())
	})

	t.Run("WritesAreVisibleToReadersAtOnce", func(t *testing.T) {
		state := b.New(t)
		l := open(t, state, ledger.Options{})
		defer l.Close()
		run, _ := l.StartRun("job.yaml", "run")
		require.NoError(t, l.Write(run, []ledger.Entry{Item("a", ledger.Loaded, 1)}, nil, nil))
		rs, err := ledger.Readers(state)
		require.NoError(t, err)
		defer func() {
			for _, r := range rs {
				r.Close()
			}
		}()
		require.Len(t, rs, 1)
		c, err := rs[0].Counts()
		require.NoError(t, err)
		assert.Equal(t, int64(1), c.Loaded, "a Write is durable when it returns: a process killed now keeps it")
	})

	t.Run("ADuplicateKeyInOneWriteKeepsTheLater", func(t *testing.T) {
		l := open(t, b.New(t), ledger.Options{})
		defer l.Close()
		run, _ := l.StartRun("job.yaml", "run")
		require.NoError(t, l.Write(run, []ledger.Entry{Item("a", ledger.Failed, 1), Item("a", ledger.Loaded, 1)}, nil, nil))
		c, err := l.Counts()
		require.NoError(t, err)
		assert.Equal(t, ledger.Counts{Loaded: 1, RecordFailures: map[string]int64{}}, c)
	})

	t.Run("FailedAndLoadedComeInTheOrderRecorded", func(t *testing.T) {
		l := open(t, b.New(t), ledger.Options{})
		defer l.Close()
		run, _ := l.StartRun("job.yaml", "run")
		// Not the keys' order: the order the outcomes were recorded in, an
		// item recorded again moving to the end.
		require.NoError(t, l.Write(run, []ledger.Entry{Item("c", ledger.Failed, 1), Item("a", ledger.Failed, 2), Item("z", ledger.Loaded, 3), Item("m", ledger.Loaded, 4)}, nil, nil))
		require.NoError(t, l.Write(run, []ledger.Entry{Item("b", ledger.Failed, 5), Item("y", ledger.Loaded, 6)}, nil, nil))
		keys := func(read func(func(ledger.Entry) error) error) []string {
			var ks []string
			require.NoError(t, read(func(e ledger.Entry) error { ks = append(ks, e.Key); return nil }))
			return ks
		}
		failed := func(fn func(ledger.Entry) error) error { return l.Failed(nil, fn) }
		assert.Equal(t, []string{"c", "a", "b"}, keys(failed))
		assert.Equal(t, []string{"z", "m", "y"}, keys(l.Loaded))
		require.NoError(t, l.Write(run, []ledger.Entry{Item("c", ledger.Failed, 1), Item("z", ledger.Loaded, 3)}, nil, nil))
		assert.Equal(t, []string{"a", "b", "c"}, keys(failed))
		assert.Equal(t, []string{"m", "y", "z"}, keys(l.Loaded))
	})

	t.Run("ARunLeftRunningDied", func(t *testing.T) {
		state := b.New(t)
		l := open(t, state, ledger.Options{})
		first, err := l.StartRun("job.yaml", "run")
		require.NoError(t, err)
		require.NoError(t, l.Progress(first, "messages.csv:41"))
		require.NoError(t, l.Close()) // no FinishRun: the process died
		l = open(t, state, ledger.Options{})
		defer l.Close()
		second, err := l.StartRun("job.yaml", "run")
		require.NoError(t, err)
		runs, err := l.Runs(5)
		require.NoError(t, err)
		require.Len(t, runs, 2)
		assert.Equal(t, second, runs[0].ID, "newest first")
		assert.Equal(t, "running", runs[0].State)
		assert.Equal(t, "died", runs[1].State)
		assert.Equal(t, "messages.csv:41", runs[1].LastOrigin)
		assert.True(t, runs[1].FinishedAt.IsZero())
	})

	t.Run("VacuumKeepsEverything", func(t *testing.T) {
		l := open(t, b.New(t), ledger.Options{})
		defer l.Close()
		run, _ := l.StartRun("job.yaml", "run")
		var items []ledger.Entry
		for i := range 200 {
			items = append(items, Item("k"+strconv.Itoa(i), ledger.Failed, i+2))
		}
		require.NoError(t, l.Write(run, items, nil, nil))
		for i := range items {
			items[i] = Item("k"+strconv.Itoa(i), ledger.Loaded, i+2) // rewritten: room to give back
		}
		require.NoError(t, l.Write(run, items, nil, nil))
		require.NoError(t, l.Vacuum())
		c, err := l.Counts()
		require.NoError(t, err)
		assert.Equal(t, int64(200), c.Loaded)
		seen := lookup(t, l, "k0", "k199")
		assert.True(t, seen[0].Known && seen[1].Known)
	})

	t.Run("KeysAndTextsAsTheyCome", func(t *testing.T) {
		l := open(t, b.New(t), ledger.Options{})
		defer l.Close()
		run, _ := l.StartRun("job.yaml", "run")
		// Keys are bytes: not always UTF-8, a NUL now and then, and one
		// that looks like what a backend might escape a key to. A vendor's
		// message or a record capped mid-character is not UTF-8 either.
		keys := []string{"\xff\xfe-latin1", "nul\x00key", "\x01base64:bnVsAGtleQ", "plain"}
		var items []ledger.Entry
		for i, k := range keys {
			e := Item(k, ledger.Failed, i+2)
			e.Error = "the vendor said \xe2\x82"
			items = append(items, e)
		}
		require.NoError(t, l.Write(run, items, []ledger.RecordFailure{
			{Origin: msg.Origin{Source: "messages.csv", Line: 9}, Stage: "read", Error: "bad quoting", Raw: "9,\"caf\xc3"},
		}, nil))
		seen := lookup(t, l, keys...)
		for i, s := range seen {
			assert.True(t, s.Known, "%q", keys[i])
			assert.Equal(t, ledger.Hash64(items[i].Hash), s.Hash, "%q is itself, not another key", keys[i])
		}
		var got []string
		require.NoError(t, l.Failed(nil, func(e ledger.Entry) error {
			got = append(got, e.Key)
			assert.Contains(t, e.Error, "the vendor said")
			return nil
		}))
		assert.Equal(t, keys, got, "the keys as they were")
		origin, err := l.Origin("nul\x00key")
		require.NoError(t, err)
		assert.Equal(t, "messages.csv:3", origin)
		c, err := l.Counts()
		require.NoError(t, err)
		assert.Equal(t, int64(4), c.Failed)
		assert.Equal(t, map[string]int64{"read": 1}, c.RecordFailures)
	})

	t.Run("NoReaderWithoutALedger", func(t *testing.T) {
		_, err := ledger.Readers(b.New(t))
		require.Error(t, err)
		assert.False(t, errors.Is(err, ledger.ErrNotLedger), "a job that has not run is not a damaged ledger")
	})
}
