package progress

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func at(secs float64) time.Time { return t0.Add(time.Duration(secs * float64(time.Second))) }

// The rate is the current one: ten fast seconds then ten slow ones read as
// slow, where the mean since the start would still say fast.
func TestWindowIsTheRecentRate(t *testing.T) {
	w := Window{Span: 10 * time.Second}
	assert.Zero(t, w.Rate(), "no rate from one sample")
	n := int64(0)
	for s := 0; s <= 20; s++ {
		w.Add(at(float64(s)), n)
		if s < 10 {
			n += 1000
		} else {
			n += 100
		}
	}
	assert.InDelta(t, 100, w.Rate(), 1, "the last ten seconds, not the %d/s since the start", n/20)

	// A pause: nothing finishes for ten seconds, and the rate says so.
	for s := 21; s <= 31; s++ {
		w.Add(at(float64(s)), n)
	}
	assert.Zero(t, w.Rate())
}

func TestWindowBeforeItIsFull(t *testing.T) {
	w := Window{Span: 10 * time.Second}
	w.Add(at(0), 0)
	w.Add(at(0.2), 100)
	w.Add(at(0.4), 200)
	assert.InDelta(t, 500, w.Rate(), 0.001)
	w.Add(at(0.4), 200)
	assert.InDelta(t, 500, w.Rate(), 0.001, "a sample at the same time changes nothing")
}

func TestEstimator(t *testing.T) {
	t.Run("steady records per byte settle", func(t *testing.T) {
		e := Estimator{Settle: 3 * time.Second, Tolerance: 0.02}
		var stableAt float64 = -1
		for i := 1; i <= 50; i++ {
			secs := float64(i) * 0.2
			bytes := int64(i) * 1_000_000
			records := bytes / 250 // 250 bytes a record, 1 GB: 4M records
			got, stable := e.Observe(at(secs), records, bytes, 1_000_000_000)
			assert.Equal(t, int64(4_000_000), got)
			if stable && stableAt < 0 {
				stableAt = secs
			}
		}
		assert.InDelta(t, 3.2, stableAt, 0.01, "trusted once it held still for Settle")
	})
	t.Run("a header-heavy start is not trusted", func(t *testing.T) {
		e := Estimator{Settle: 3 * time.Second, Tolerance: 0.02}
		// The first records are long, then they get short: the estimate
		// climbs and is never trusted while it does.
		records := int64(0)
		for i := 1; i <= 30; i++ {
			records += int64(i) * 10
			_, stable := e.Observe(at(float64(i)*0.2), records, int64(i)*100_000, 100_000_000)
			assert.False(t, stable, "sample %d", i)
		}
	})
	t.Run("all of the source read", func(t *testing.T) {
		e := Estimator{Settle: 3 * time.Second, Tolerance: 0.02}
		got, stable := e.Observe(at(0.2), 1234, 5000, 5000)
		assert.Equal(t, int64(1234), got)
		assert.True(t, stable)
	})
	t.Run("nothing to go on", func(t *testing.T) {
		e := Estimator{Settle: 3 * time.Second, Tolerance: 0.02}
		for _, c := range [][3]int64{{0, 100, 1000}, {10, 0, 1000}, {10, 100, 0}} {
			got, stable := e.Observe(at(1), c[0], c[1], c[2])
			assert.Zero(t, got)
			assert.False(t, stable)
		}
	})
}

func TestETA(t *testing.T) {
	d, ok := ETA(10_000, 100)
	assert.True(t, ok)
	assert.Equal(t, 100*time.Second, d)
	_, ok = ETA(10_000, 0)
	assert.False(t, ok, "nothing moves: no ETA")
	d, ok = ETA(0, 0)
	assert.True(t, ok)
	assert.Zero(t, d)
	d, ok = ETA(1<<62, 1e-9)
	assert.True(t, ok)
	assert.Positive(t, d, "no overflow")
}

// feed runs a tracker over a run in which reading and loading each go at
// their own steady pace, and returns its snapshots, one every 200 ms.
type runSim struct {
	records, bytesPerRecord int64
	readPerSec, loadPerSec  int64
	limit                   int64
	counts                  bool // the source counts records (a ledger source)
}

func (r runSim) feed(secs float64) []Snapshot {
	tr := NewTracker(t0)
	var out []Snapshot
	for i := 1; float64(i)*0.2 <= secs; i++ {
		s := float64(i) * 0.2
		read := min(r.records, int64(s*float64(r.readPerSec)))
		if r.limit > 0 {
			read = min(read, r.limit)
		}
		done := min(read, int64(s*float64(r.loadPerSec)))
		c := Counts{Read: read, Loaded: done, Limit: r.limit, SourceTotal: r.records * r.bytesPerRecord, SourceDone: read * r.bytesPerRecord}
		if r.counts {
			c.SourceTotal, c.SourceDone, c.SourceCounts = r.records, read, true
		}
		out = append(out, tr.Snapshot(at(s), c, false))
	}
	return out
}

func TestTracker(t *testing.T) {
	t.Run("a trial's --limit bounds what is expected", func(t *testing.T) {
		// The case: --limit 20000 on a 300k file. Bytes read say
		// nothing of a trial; the limit does.
		sim := runSim{records: 300_000, bytesPerRecord: 250, readPerSec: 50_000, loadPerSec: 400, limit: 20_000}
		snaps := sim.feed(20)
		last := snaps[len(snaps)-1]
		assert.Equal(t, int64(20_000), last.Expected)
		assert.False(t, last.Estimated)
		assert.True(t, last.ReadEnded)
		require.True(t, last.HasETA)
		assert.InDelta(t, 30, last.ETA.Seconds(), 1, "12000 left at 400/s, not hours")
		for _, s := range snaps {
			assert.LessOrEqual(t, s.Expected, int64(20_000), "at %v", s.Elapsed)
		}
	})
	t.Run("an estimate says ~ and gives no ETA until settled", func(t *testing.T) {
		sim := runSim{records: 1_000_000, bytesPerRecord: 250, readPerSec: 20_000, loadPerSec: 5_000}
		snaps := sim.feed(10)
		first := snaps[0]
		assert.True(t, first.Estimated)
		assert.Equal(t, int64(1_000_000), first.Expected)
		assert.False(t, first.HasETA, "not settled yet")
		last := snaps[len(snaps)-1]
		assert.True(t, last.Estimated)
		require.True(t, last.HasETA)
		assert.InDelta(t, 190, last.ETA.Seconds(), 1, "950000 left at 5000/s")
		assert.Contains(t, Line(last, 80), "/~1000000")
	})
	t.Run("a source that counts records gives the total", func(t *testing.T) {
		sim := runSim{records: 40_000, readPerSec: 10_000, loadPerSec: 1_000, counts: true}
		snaps := sim.feed(1)
		s := snaps[len(snaps)-1]
		assert.Equal(t, int64(40_000), s.Expected)
		assert.False(t, s.Estimated)
		require.True(t, s.HasETA, "a count needs no settling")
		assert.InDelta(t, 39, s.ETA.Seconds(), 1, "39000 left at 1000/s")
	})
	t.Run("reading ended: loading goes on, still shown", func(t *testing.T) {
		sim := runSim{records: 100_000, readPerSec: 100_000, loadPerSec: 10_000, counts: true}
		snaps := sim.feed(5)
		last := snaps[len(snaps)-1]
		assert.True(t, last.ReadEnded)
		assert.Equal(t, int64(100_000), last.Expected)
		assert.Equal(t, 50, last.Percent())
		assert.Contains(t, Line(last, 160), "read all 100000")
	})
	t.Run("nothing tells the total", func(t *testing.T) {
		tr := NewTracker(t0)
		s := tr.Snapshot(at(5), Counts{Read: 500, Loaded: 400}, false)
		assert.Zero(t, s.Expected)
		assert.False(t, s.HasETA)
		assert.Equal(t, -1, s.Percent())
	})
	t.Run("samples between snapshots feed the rate", func(t *testing.T) {
		tr := NewTracker(t0)
		for i := range 10 {
			tr.Sample(at(float64(i)), Counts{Read: int64(i) * 200, Loaded: int64(i) * 100})
		}
		s := tr.Snapshot(at(10), Counts{Read: 2000, Loaded: 1000}, false)
		assert.InDelta(t, 100, s.Rate, 0.001)
	})
	t.Run("the final snapshot is the report's counts", func(t *testing.T) {
		tr := NewTracker(t0)
		tr.Snapshot(at(1), Counts{Read: 500, Loaded: 100, SourceDone: 500, SourceTotal: 2000}, false)
		// Read to the end of the file: what was read is all there is.
		s := tr.Snapshot(at(9), Counts{Read: 1990, Loaded: 1980, Skipped: 6, Failed: 4, SourceDone: 2000, SourceTotal: 2000}, true)
		assert.Equal(t, int64(1990), s.Expected)
		assert.False(t, s.Estimated)
		assert.Equal(t, "100% 1990/1990 · loaded 1980 · skipped 6 · failed 4", Line(s, 80))
		// Stopped half way: the count is what it is, and the file holds more.
		tr = NewTracker(t0)
		s = tr.Snapshot(at(9), Counts{Read: 1000, Loaded: 900, SourceDone: 1000, SourceTotal: 2000}, true)
		assert.Equal(t, "45% 900/~2000 · loaded 900 · skipped 0 · failed 0 · unsent 100", Line(s, 80))
	})
}

type fakeTTY struct {
	bytes.Buffer
	width int
}

func (f *fakeTTY) Width() int { return f.width }

func TestTerminal(t *testing.T) {
	var out fakeTTY
	out.width = 120
	term := NewTerminal(&out)
	assert.Equal(t, 120, term.Width())
	assert.Equal(t, 80, NewTerminal(&bytes.Buffer{}).Width(), "a writer that cannot tell")

	fmt.Fprint(term, "before any status\n")
	term.Draw("status 1")
	term.Draw("status 2")
	fmt.Fprint(term, "level=WARN msg=throttled\n")
	term.Draw("status 3")
	fmt.Fprint(term, "a partial")
	term.Draw("status 4")
	term.Finish("final")
	fmt.Fprint(term, "summary\n")
	term.Draw("too late")

	assert.Equal(t, "before any status\n"+
		"\rstatus 1\x1b[K"+
		"\rstatus 2\x1b[K"+
		"\r\x1b[K"+"level=WARN msg=throttled\n"+"\rstatus 2\x1b[K"+ // the log line above, the status under it
		"\rstatus 3\x1b[K"+
		"\r\x1b[K"+"a partial"+
		"\nstatus 4\x1b[K"+ // a line not ended is not drawn over
		"\rfinal\x1b[K\n"+
		"summary\n", out.String())
}
