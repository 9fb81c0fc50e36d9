package pipeline

import (
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/msgmigrate/msgmigrate/extract"
)

// startProgress shows a live bar when there is a terminal, and periodic log
// lines otherwise. It also records in the ledger how far reading got, so
// `status` can say where a run that died stopped.
func (r *run) startProgress(src extract.Source) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	var sized extract.Progress
	if p, ok := src.(extract.Progress); ok {
		sized = p
	}
	var bar *progressbar.ProgressBar
	every := r.opts.LogEvery
	if r.opts.Progress != nil {
		every = 200 * time.Millisecond
		total := int64(-1)
		if sized != nil {
			if _, t := sized.Progress(); t > 0 {
				total = t
			}
		}
		bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(r.opts.Progress),
			progressbar.OptionShowBytes(total > 0),
			progressbar.OptionSetWidth(24),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetPredictTime(total > 0),
		)
	}
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		lastSaved := time.Now()
		for {
			select {
			case <-done:
				if bar != nil {
					bar.Finish()
				}
				return
			case <-t.C:
			}
			read := r.c.read.Load()
			rate := float64(read) / time.Since(start).Seconds()
			var inFlight, retries int64
			if r.loader != nil {
				ps := &r.loader.Pacer().Stats
				inFlight, retries = ps.InFlight.Load(), ps.Retries.Load()
			}
			line := fmt.Sprintf("%d read · %d loaded · %d failed · %.0f rec/s · %d in flight · %d retries",
				read, r.c.loaded.Load(), r.c.failed.Load(), rate, inFlight, retries)
			if bar != nil {
				bar.Describe(line)
				if sized != nil {
					d, _ := sized.Progress()
					bar.Set64(d)
				}
			} else {
				attrs := []any{"read", read, "loaded", r.c.loaded.Load(), "skipped", r.c.skipped(),
					"failed", r.c.failed.Load(), "records_per_s", int64(rate), "in_flight", inFlight, "retries", retries}
				if sized != nil {
					if d, tot := sized.Progress(); tot > 0 && d > 0 {
						// Read is not done: a record counts once it settled,
						// so the source's share is scaled by the share of
						// what was read that has settled.
						pct := float64(d) / float64(tot)
						if read > 0 {
							settled := r.c.loaded.Load() + r.c.skipped() + r.c.failed.Load()
							pct *= float64(settled) / float64(read)
						}
						eta := time.Duration(float64(time.Since(start)) * (1 - pct) / max(pct, 1e-9))
						attrs = append(attrs, "done_pct", int(pct*100), "eta", eta.Round(time.Second).String())
					}
				}
				r.opts.Log.Info("progress", attrs...)
			}
			if r.led != nil && time.Since(lastSaved) > 2*time.Second {
				if p := r.lastOrigin.Load(); p != nil {
					r.led.Progress(r.runID, *p)
				}
				lastSaved = time.Now()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
