package progress

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runSim is a run in which reading and loading each go at their own steady
// pace; feed gives its snapshots, one every 200 ms.
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
