package progress

import (
	"math"
	"time"
)

type sample struct {
	t time.Time
	n int64
}

// trim drops the samples older than cut but the newest of them, which stays
// as the base the span is measured from.
func trim(s []sample, cut time.Time) []sample {
	i := 0
	for i+1 < len(s) && !s[i+1].t.After(cut) {
		i++
	}
	if i == 0 {
		return s
	}
	return append(s[:0], s[i:]...)
}

// Window is the rate of a growing count over the last Span: the pace now,
// not the mean since the start (which a 429 pause at minute 2 would still
// drag down at minute 40).
type Window struct {
	Span    time.Duration
	samples []sample
}

// Add records the count n at t; t does not go back.
func (w *Window) Add(t time.Time, n int64) {
	w.samples = trim(append(w.samples, sample{t, n}), t.Add(-w.Span))
}

// Rate is the count's growth per second over the window, 0 before two
// samples.
func (w *Window) Rate() float64 {
	if len(w.samples) < 2 {
		return 0
	}
	first, last := w.samples[0], w.samples[len(w.samples)-1]
	dt := last.t.Sub(first.t).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(last.n-first.n) / dt
}

// Estimator estimates the records a source holds from the records read per
// unit of its progress so far (bytes, for a file: a file's size is not a
// count of records). The estimate is trusted — Stable — once it has stayed
// within Tolerance of itself for Settle.
type Estimator struct {
	Settle    time.Duration
	Tolerance float64 // a fraction: 0.02 is 2%
	hist      []sample
}

// Observe takes the records read and the source's progress (done of total
// units) at t and returns the records expected in all.
func (e *Estimator) Observe(t time.Time, records, done, total int64) (expected int64, stable bool) {
	if total <= 0 || done <= 0 || records <= 0 {
		e.hist = e.hist[:0]
		return 0, false
	}
	if done >= total {
		// All of the source is read: what was read is what there is.
		return records, true
	}
	expected = int64(math.Round(float64(records) * float64(total) / float64(done)))
	e.hist = trim(append(e.hist, sample{t, expected}), t.Add(-e.Settle))
	if t.Sub(e.hist[0].t) < e.Settle {
		return expected, false
	}
	lo, hi := expected, expected
	for _, s := range e.hist {
		lo, hi = min(lo, s.n), max(hi, s.n)
	}
	return expected, float64(hi-lo) <= e.Tolerance*float64(expected)
}

// ETA is the time remaining records take at rate per second; false when it
// cannot be told (nothing is moving).
func ETA(remaining int64, rate float64) (time.Duration, bool) {
	if remaining <= 0 {
		return 0, true
	}
	if rate <= 0 {
		return 0, false
	}
	secs := float64(remaining) / rate
	if secs > float64(math.MaxInt64/int64(time.Second)) {
		secs = float64(math.MaxInt64 / int64(time.Second))
	}
	return time.Duration(secs * float64(time.Second)), true
}
