package pipeline

import (
	"fmt"
	"time"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/ledger"
)

const watermarkKey = "watermark"

// startFromWatermark starts an incremental source where the last complete
// run ended, minus its lookback; keys loaded since are skipped by the ledger.
func (r *run) startFromWatermark(l *ledger.Ledger, inc extract.Incremental) error {
	v, err := l.Meta(watermarkKey)
	if err != nil || v == "" {
		return err
	}
	w, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("ledger: watermark %q: %w", v, err)
	}
	from := w.Add(-inc.Lookback())
	r.opts.Log.Info("incremental run", "watermark", w.Format(time.RFC3339), "from", from.Format(time.RFC3339))
	inc.Since(from)
	return nil
}

// advanceWatermark moves the watermark to the newest record read — only
// after a run in which every record read reached a final state.
func (r *run) advanceWatermark(l *ledger.Ledger, inc extract.Incremental) error {
	w := inc.Watermark()
	if w.IsZero() {
		return nil
	}
	if v, err := l.Meta(watermarkKey); err == nil && v != "" {
		if old, err := time.Parse(time.RFC3339Nano, v); err == nil && !w.After(old) {
			return nil
		}
	}
	return l.SetMeta(watermarkKey, w.UTC().Format(time.RFC3339Nano))
}
