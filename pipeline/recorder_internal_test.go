package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/msgmigrate/msgmigrate/extract/all"
	"github.com/msgmigrate/msgmigrate/internal/gen"
	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/ledger"
	_ "github.com/msgmigrate/msgmigrate/load/all"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// fullDisk is a ledger whose writes fail, after a few, as on a full disk.
type fullDisk struct {
	ledger.Ledger
	left atomic.Int64
}

func (f *fullDisk) Write(runID int64, items []ledger.Entry, failures []ledger.RecordFailure, cleared []msg.Origin) error {
	if f.left.Add(-1) < 0 {
		return fmt.Errorf("ledger: disk I/O error: %w", syscall.ENOSPC)
	}
	return f.Ledger.Write(runID, items, failures, cleared)
}

// Issue 12 (3): when the ledger cannot record (a full disk), loading stops
// at once — no more answers pile up unrecorded — and the ledger's own error
// is reported, even though the run has failed for it already.
func TestALedgerThatCannotRecordStopsLoading(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "m.csv"))
	require.NoError(t, err)
	require.NoError(t, gen.WriteCSV(f, gen.Spec{Rows: 5000, Routes: 100, Seed: 4}))
	f.Close()
	fake := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p", Faults: sandbox.Faults{Latency: 2 * time.Millisecond}}})
	defer fake.Close()
	jp := filepath.Join(dir, "job.yaml")
	require.NoError(t, os.WriteFile(jp, []byte(fmt.Sprintf("source: {kind: csv, path: m.csv}\nmapping: builtin:csv-to-mykaarma\n"+
		"sink: {kind: mykaarma, url: %s, username: u, password: p, concurrency: 4, batch: {max_items: 10}}\n", fake.MyKaarmaURL())), 0o644))
	j, err := job.Load(jp, nil, func(string) (string, bool) { return "", false })
	require.NoError(t, err)

	var disk *fullDisk
	openLedger = func(state string, o ledger.Options) (ledger.Ledger, error) {
		l, err := ledger.Open(state, o)
		if err != nil {
			return nil, err
		}
		disk = &fullDisk{Ledger: l}
		disk.left.Store(3)
		return disk, nil
	}
	defer func() { openLedger = ledger.Open }()

	rep, err := Run(context.Background(), context.Background(), j, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ENOSPC), "the ledger's own error is reported: %v", err)
	assert.Equal(t, "failed", rep.State)
	// What the target took beyond what was recorded is what was in flight
	// when the ledger failed: 4 batches of 10, not a queue's worth.
	unrecorded := fake.MyKaarma.Stats.Accepted.Load() - rep.Loaded
	assert.LessOrEqual(t, unrecorded, int64(4*10), "answers kept coming after the ledger failed: %d unrecorded", unrecorded)
	assert.False(t, strings.Contains(err.Error(), "context canceled") && !errors.Is(err, syscall.ENOSPC))
}
