package pipeline

import (
	"strings"
	"time"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/internal/progress"
)

const (
	// drawEvery is how often a terminal's line is redrawn: five times a
	// second reads as live and costs nothing.
	drawEvery = 200 * time.Millisecond
	// saveEvery is how often the ledger is told how far reading got.
	saveEvery = 2 * time.Second
)

// startProgress shows the run's progress until stop is called — the whole
// run, loading included, not only the reading: a line redrawn in place when
// opts.Progress is a terminal, else a log line every LogEvery. It also
// records in the ledger how far reading got, so `status` can say where a
// run that died stopped. stop draws the last line, whose counts are the
// report's: call it once the recorder is closed.
func (r *run) startProgress(src extract.Source) (stop func()) {
	tr := progress.NewTracker(time.Now())
	sized, _ := src.(extract.Progress)
	// A ledger source counts records; a file's progress is bytes.
	counts := r.job != nil && strings.EqualFold(r.job.SourceKind, "ledger")
	snapshot := func(final bool) progress.Snapshot {
		c := r.counts()
		if sized != nil {
			c.SourceDone, c.SourceTotal = sized.Progress()
			c.SourceCounts = counts
		}
		return tr.Snapshot(time.Now(), c, final)
	}
	var term *progress.Terminal
	every := min(r.opts.LogEvery, time.Second) // the rate needs samples more often than a log line
	if r.opts.Progress != nil {
		var ok bool
		if term, ok = r.opts.Progress.(*progress.Terminal); !ok {
			term = progress.NewTerminal(r.opts.Progress)
		}
		every = drawEvery
		term.Draw(progress.Line(snapshot(false), term.Width()))
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(every)
		defer tick.Stop()
		lastSaved, lastLogged := time.Now(), time.Now()
		for {
			select {
			case <-done:
				if term != nil {
					term.Finish(progress.Line(snapshot(true), term.Width()))
				}
				return
			case <-tick.C:
			}
			now := time.Now()
			switch {
			case term != nil:
				term.Draw(progress.Line(snapshot(false), term.Width()))
			case now.Sub(lastLogged) >= r.opts.LogEvery:
				r.opts.Log.Info("progress", progress.Attrs(snapshot(false))...)
				lastLogged = now
			default:
				// Between log lines, only a sample for the rate: the source is
				// asked how far it is no more often than before (the parquet
				// and ledger sources' Progress is not yet safe to call while
				// Next runs).
				tr.Sample(now, r.counts())
			}
			if r.led != nil && now.Sub(lastSaved) >= saveEvery {
				if p := r.lastOrigin.Load(); p != nil {
					r.led.Progress(r.runID, *p)
				}
				lastSaved = now
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// counts reads the run's counters for the progress display.
func (r *run) counts() progress.Counts {
	c := &r.c
	// Finished counts first, then the records read: a record is counted
	// read before it finishes, so done never exceeds read.
	out := progress.Counts{Loaded: c.loaded.Load(), Skipped: c.skipped(), Failed: c.failed.Load(),
		OtherShards: c.otherShards.Load(), WouldSend: c.wouldSend.Load()}
	out.Read = c.read.Load()
	out.ReadEnded = c.readEnded.Load()
	out.Limit = int64(r.opts.Limit)
	if r.loader != nil {
		p := r.loader.Pacer()
		out.InFlight, out.Retries, out.Throttled = p.Stats.InFlight.Load(), p.Stats.Retries.Load(), p.Stats.Throttled.Load()
		out.Paused, out.Outage = p.Paused(), p.CircuitOpen()
	}
	return out
}
