package pipeline

import (
	"fmt"
	"time"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/ledger"
)

const watermarkKey = "watermark"

// startFromWatermark starts an incremental source where the last complete
// run of every shard ended — the oldest of them — minus its lookback; keys
// loaded since are skipped by the ledger. A shard that never completed
// leaves the job without a watermark: everything is read.
func (r *run) startFromWatermark(inc extract.Incremental) error {
	w, ok, err := r.jobWatermark()
	if err != nil || !ok {
		return err
	}
	from := w.Add(-inc.Lookback())
	r.opts.Log.Info("incremental run", "watermark", w.Format(time.RFC3339), "from", from.Format(time.RFC3339))
	inc.Since(from)
	return nil
}

// jobWatermark is the oldest of the shards' watermarks.
func (r *run) jobWatermark() (time.Time, bool, error) {
	if r.opts.Shard.Count == 0 {
		return readWatermark(r.led)
	}
	readers, err := ledger.Readers(r.job.State)
	if err != nil {
		return time.Time{}, false, err
	}
	defer func() {
		for _, rd := range readers {
			rd.Close()
		}
	}()
	var oldest time.Time
	n := 0
	for _, rd := range readers {
		w, ok, err := readWatermark(rd)
		if err != nil {
			return time.Time{}, false, err
		}
		if !ok {
			continue
		}
		n++
		if oldest.IsZero() || w.Before(oldest) {
			oldest = w
		}
	}
	if n < r.opts.Shard.Count {
		return time.Time{}, false, nil
	}
	return oldest, true, nil
}

func readWatermark(rd ledger.Reader) (time.Time, bool, error) {
	v, err := rd.Meta(watermarkKey)
	if err != nil || v == "" {
		return time.Time{}, false, err
	}
	w, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%s: watermark %q: %w", rd.Where(), v, err)
	}
	return w, true, nil
}

// advanceWatermark moves this shard's watermark to the newest record read —
// only after a run in which every record read reached a final state.
func (r *run) advanceWatermark(inc extract.Incremental) error {
	w := inc.Watermark()
	if w.IsZero() {
		return nil
	}
	if old, ok, err := readWatermark(r.led); err == nil && ok && !w.After(old) {
		return nil
	}
	return r.led.SetMeta(watermarkKey, w.UTC().Format(time.RFC3339Nano))
}
