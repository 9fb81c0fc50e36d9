package progress

import "time"

// Counts are a run's counters at one moment, as the tracker needs them.
type Counts struct {
	Read                    int64 // records read
	Loaded, Skipped, Failed int64
	OtherShards             int64 // under --shard, the records another shard sends
	WouldSend               int64 // in a dry run, the records a run would send

	// Limit is a trial's record limit (--limit), 0 for none.
	Limit int64
	// SourceDone of SourceTotal is how far the source is in its own units
	// (SourceTotal 0: it does not say); SourceCounts says they are records,
	// not bytes.
	SourceDone, SourceTotal int64
	SourceCounts            bool
	// ReadEnded: reading is over, to the end of the source or the limit.
	ReadEnded bool

	InFlight, Retries, Throttled int64
	Paused                       time.Duration
	Outage                       bool
}

// Done is the records finished.
func (c Counts) Done() int64 { return c.Loaded + c.Skipped + c.Failed + c.OtherShards + c.WouldSend }

// Tracker turns a run's counts, taken again and again, into snapshots: it
// keeps what the rate and the estimate need of the past. One goroutine
// uses it.
type Tracker struct {
	start time.Time
	rate  Window
	est   Estimator
}

// NewTracker tracks a run that started at start.
func NewTracker(start time.Time) *Tracker {
	return &Tracker{start: start,
		rate: Window{Span: 10 * time.Second},
		est:  Estimator{Settle: 3 * time.Second, Tolerance: 0.02}}
}

// Sample takes the counts at now for the rate only, between snapshots.
func (t *Tracker) Sample(now time.Time, c Counts) { t.rate.Add(now, c.Done()) }

// Snapshot is the run at now. final: the run has ended, every stage has
// stopped and c are its last counts.
func (t *Tracker) Snapshot(now time.Time, c Counts, final bool) Snapshot {
	s := Snapshot{
		Elapsed: now.Sub(t.start), Read: c.Read, ReadShare: -1, ReadEnded: c.ReadEnded,
		Loaded: c.Loaded, Skipped: c.Skipped, Failed: c.Failed, OtherShards: c.OtherShards, WouldSend: c.WouldSend,
		Done:     c.Done(),
		InFlight: c.InFlight, Retries: c.Retries, Throttled: c.Throttled, Paused: c.Paused, Outage: c.Outage,
		Final: final,
	}
	t.rate.Add(now, s.Done)
	s.Rate = t.rate.Rate()
	trusted := t.expect(now, c, &s)
	if final && (s.ReadEnded || s.ReadShare >= 1 || s.Expected == 0) {
		// Every stage has stopped: a source read to its end has been parsed
		// to its last record, so what was read is all there is. A run
		// stopped before that keeps its estimate: the source holds more.
		s.Expected, s.Estimated = s.Read, false
	}
	if s.Expected > 0 {
		s.Expected = max(s.Expected, s.Read, s.Done) // an estimate is never below the count
	}
	if trusted && !final {
		s.ETA, s.HasETA = ETA(s.Expected-s.Done, s.Rate)
	}
	return s
}

// expect sets the records expected, and says whether the figure is good
// enough to give an ETA from: the count read once reading is over; the
// source's total when it counts records; else an estimate from the
// source's progress in bytes, trusted once it has settled; all bounded by a
// trial's limit. Without any of them nothing is expected: no percentage and
// no ETA rather than made-up ones.
func (t *Tracker) expect(now time.Time, c Counts, s *Snapshot) (trusted bool) {
	if c.SourceTotal > 0 {
		s.ReadShare = min(1, float64(c.SourceDone)/float64(c.SourceTotal))
	}
	if c.Limit > 0 && c.Read >= c.Limit {
		s.ReadEnded = true
	}
	if c.SourceCounts && c.SourceTotal > 0 && c.SourceDone >= c.SourceTotal {
		s.ReadEnded = true
	}
	limited := func(n int64) int64 {
		if c.Limit > 0 {
			return min(n, c.Limit)
		}
		return n
	}
	switch {
	case s.ReadEnded:
		s.Expected = c.Read
		return true
	case c.SourceTotal > 0 && c.SourceCounts:
		s.Expected = limited(c.SourceTotal)
		return true
	case c.SourceTotal > 0:
		est, stable := t.est.Observe(now, c.Read, c.SourceDone, c.SourceTotal)
		if est == 0 {
			break
		}
		if c.Limit > 0 && stable && float64(est) > 1.05*float64(c.Limit) {
			// Clearly more than the trial reads: it reads Limit.
			s.Expected = c.Limit
			return true
		}
		s.Expected, s.Estimated = limited(est), true
		return stable
	}
	if c.Limit > 0 {
		s.Expected, s.Estimated = c.Limit, true // at most that
	}
	return false
}
