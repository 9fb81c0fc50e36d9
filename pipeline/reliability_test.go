package pipeline_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/internal/gen"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// Issue 12 (5): an endpoint that answers 503 forever. The circuit opens,
// every worker waits while one probes, and after the outage bound the run
// stops — resumable, its records unsent, saying what happened and for how
// long — not thousands of RETRIES_EXHAUSTED after hours.
func TestAnOutageStopsTheRunResumably(t *testing.T) {
	var sb strings.Builder
	require.NoError(t, gen.WriteCSV(&sb, gen.Spec{Rows: 3000, Routes: 300, Seed: 7}))
	h := newHarness(t, sb.String(), sandbox.Faults{ServerError: 1}, "  concurrency: 8\n")
	rep := h.runSets([]string{"sink.retry.outage=500ms", "sink.retry.circuit_after=5", "sink.retry.max_retry_after=20ms"})
	assert.Equal(t, "interrupted", rep.State)
	assert.Contains(t, rep.StoppedBy, "sink mykaarma failed every request for")
	assert.Contains(t, rep.StoppedBy, "HTTP 50")
	assert.Zero(t, rep.Failed, "no record is blamed for the outage")
	assert.Empty(t, h.failures())
	assert.Equal(t, rep.Read-rep.Skipped, rep.Unsent, "everything else is left for the next run")
	// 300 routes of batches, each with 10 attempts, would be thousands of
	// requests; the circuit sends the failures that opened it, those in
	// flight, and a probe now and then.
	assert.Less(t, h.fake.MyKaarma.Stats.Requests.Load(), int64(100))
}
