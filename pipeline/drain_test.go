package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/internal/gen"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// interruptedRun runs a job of 600 rows against a slow fake and drains it
// once the fake has had four requests.
func interruptedRun(t *testing.T, sink string) (*harness, *pipeline.Report) {
	t.Helper()
	var sb strings.Builder
	require.NoError(t, gen.WriteCSV(&sb, gen.Spec{Rows: 600, Routes: 60, Seed: 5}))
	h := newHarness(t, sb.String(), sandbox.Faults{Latency: 20 * time.Millisecond}, sink)
	drain, stop := context.WithCancel(context.Background())
	done := make(chan *pipeline.Report)
	go func() {
		rep, err := pipeline.Run(context.Background(), drain, h.load(), h.opts())
		assert.NoError(t, err)
		done <- rep
	}()
	require.Eventually(t, func() bool { return h.fake.MyKaarma.Stats.Requests.Load() >= 4 }, 10*time.Second, time.Millisecond)
	stop()
	return h, <-done
}

// Interrupted, a run stops reading, finishes what is in flight, records it,
// and says so; run again, it finishes without sending anything twice.
func TestDrainThenResume(t *testing.T) {
	h, rep := interruptedRun(t, "  batch: {max_items: 5, linger: 1ms}\n  concurrency: 2\n")
	assert.Equal(t, "interrupted", rep.State)
	assert.Positive(t, rep.Loaded)
	assert.Positive(t, rep.Unsent)
	assert.Equal(t, rep.Read, rep.Loaded+rep.Skipped+rep.Failed+rep.Unsent)
	assert.Equal(t, rep.Loaded, h.fake.MyKaarma.Unique(), "everything the target took was recorded")

	rep2 := h.run()
	assert.Equal(t, "completed", rep2.State)
	assert.Equal(t, int64(600), rep.Loaded+rep2.Loaded)
	assert.Equal(t, int64(600), h.fake.MyKaarma.Unique())
	for _, st := range h.fake.MyKaarma.All() {
		assert.Equal(t, 1, st.Times, "sent once: %s", st.SourceUUID)
	}
	h.withLedger(func(l *ledgerView) {
		runs, err := l.Runs(2)
		require.NoError(t, err)
		assert.Equal(t, "completed", runs[0].State)
		assert.Equal(t, "interrupted", runs[1].State)
	})
}

// Issue 12 (6): after an interrupted run, retry says that it resends only
// failures, and how many records that run left unsent.
func TestRetryAfterAnInterruptedRunSaysWhatIsLeft(t *testing.T) {
	h, rep := interruptedRun(t, "  batch: {max_items: 5}\n  concurrency: 2\n")
	require.Equal(t, "interrupted", rep.State)
	require.Positive(t, rep.Unsent)

	rep2, err := pipeline.Retry(context.Background(), context.Background(), h.load(), h.opts())
	require.NoError(t, err)
	require.Len(t, rep2.Warnings, 1)
	assert.Contains(t, rep2.Warnings[0], fmt.Sprintf("ended interrupted with %d records unsent", rep.Unsent))
	assert.Contains(t, rep2.Warnings[0], "msgmigrate run` sends the rest")
}
