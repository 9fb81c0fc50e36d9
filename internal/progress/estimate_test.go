package progress

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
