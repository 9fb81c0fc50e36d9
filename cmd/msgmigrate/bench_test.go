package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/internal/gen"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

const benchRows, benchRoutes = 3000, 40

func fewest(t *testing.T, spec gen.Spec) int {
	t.Helper()
	per, err := gen.Write(io.Discard, spec)
	require.NoError(t, err)
	return per.MinRequests(100)
}

// bench --sink loads into a sandbox it does not own, with the sandbox's
// credentials from the environment, and reports what that sandbox saw.
func TestBenchAgainstASinkElsewhere(t *testing.T) {
	t.Setenv("MYKAARMA_USER", "bench-user")
	t.Setenv("MYKAARMA_PASSWORD", "bench-pass")
	srv := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "bench-user", Password: "bench-pass", CountOnly: true}})
	defer srv.Close()
	dir := t.TempDir()
	code, out, errs := run(t, "bench", "--sink", srv.URL()+"/communications/", "--rows", "3000", "--routes", "40", "--dir", dir, "--json", "--rerun", "--no-progress")
	require.Equal(t, 0, code, errs)

	var res benchResult
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	assert.Equal(t, srv.URL(), res.Sink)
	assert.Equal(t, int64(benchRows), res.Rows)
	assert.Equal(t, int64(benchRows), res.Loaded)
	assert.Equal(t, fewest(t, gen.Spec{Rows: benchRows, Routes: benchRoutes, Seed: 42}), res.FewestRequests)
	assert.GreaterOrEqual(t, res.Requests, int64(res.FewestRequests))
	assert.InDelta(t, float64(benchRows)/float64(res.Requests), res.MeanBatchFill, 0.01)
	assert.Positive(t, res.ItemsPerSecond)
	assert.Positive(t, res.PeakRSSBytes)
	assert.Positive(t, res.CPUSeconds)
	assert.Positive(t, res.LedgerBytes)

	// What the sink says is what the sink saw: every row once, one request
	// per request the loader made, nothing at all on the rerun.
	st := srv.SinkStats()
	assert.Equal(t, int64(benchRows), st.Unique)
	assert.Zero(t, st.Duplicates)
	assert.Equal(t, res.Requests, st.Requests)
	assert.Equal(t, st.Unique, res.SinkStats.Unique)
	require.NotNil(t, res.Rerun)
	assert.Equal(t, int64(benchRows), res.Rerun.Skipped)
	assert.Zero(t, res.Rerun.Sent)
	assert.Positive(t, res.Rerun.RowsPerSecond)

	job := mustRead(t, filepath.Join(dir, "bench.yaml"))
	assert.Contains(t, job, `url: "`+srv.URL()+`/communications"`)
	assert.Contains(t, job, "password: ${MYKAARMA_PASSWORD:-sandbox}", "the secret stays in the environment")
	assert.NotContains(t, out+errs, "bench-pass")
}

func TestBenchInProcessSaysSo(t *testing.T) {
	code, out, errs := run(t, "bench", "--rows", "2000", "--routes", "20", "--no-progress")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "bench: sink in process")
	assert.Contains(t, out, "rows 2000 · loaded 2000 · failed 0")
	assert.Contains(t, out, fmt.Sprintf("× the fewest the routes allow (%d)", fewest(t, gen.Spec{Rows: 2000, Routes: 20, Seed: 42})))
	assert.Contains(t, out, "the sink: ")
	assert.Contains(t, out, "2000 items acknowledged once, 0 twice or more")
}

// A generated input is reused by the next run with the same spec, and
// written again when the spec changes.
func TestBenchReusesTheGeneratedInput(t *testing.T) {
	srv := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "sandbox", Password: "sandbox", CountOnly: true}})
	defer srv.Close()
	dir := t.TempDir()
	args := []string{"bench", "--sink", srv.URL(), "--rows", "1000", "--routes", "30", "--dir", dir, "--no-progress"}
	code, _, errs := run(t, args...)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, errs, "generated "+filepath.Join(dir, "messages.csv")+": 1000 rows, 30 routes")
	st1, err := os.Stat(filepath.Join(dir, "messages.csv"))
	require.NoError(t, err)

	code, out, errs := run(t, args...)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, errs, "reusing "+filepath.Join(dir, "messages.csv"))
	assert.Contains(t, out, "rows 1000 · loaded 1000", "a fresh ledger each run")
	assert.Contains(t, out, fmt.Sprintf("the fewest the routes allow (%d)", fewest(t, gen.Spec{Rows: 1000, Routes: 30, Seed: 42})),
		"the routes are known without reading the file")
	st2, err := os.Stat(filepath.Join(dir, "messages.csv"))
	require.NoError(t, err)
	assert.Equal(t, st1.ModTime(), st2.ModTime())

	for _, change := range [][]string{{"--rows", "1200"}, {"--gen-seed", "7"}, {"--short-rows"}} {
		code, _, errs = run(t, append(args, change...)...)
		require.Equal(t, 0, code, errs)
		assert.Contains(t, errs, "generated ", change)
	}
	// A file whose size no longer matches its description is not reused.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "messages.csv"), []byte("id\n"), 0o644))
	code, _, errs = run(t, append(args, "--short-rows")...)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, errs, "generated ")
}

// --gen-only writes the job a script then runs with `msgmigrate run`.
func TestBenchGenOnlyWritesTheJob(t *testing.T) {
	srv := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "sandbox", Password: "sandbox", CountOnly: true}})
	defer srv.Close()
	dir := t.TempDir()
	code, _, errs := run(t, "bench", "--sink", srv.URL(), "--rows", "500", "--routes", "10", "--dir", dir, "--gen-only")
	require.Equal(t, 0, code, errs)
	assert.Zero(t, srv.SinkStats().Requests, "nothing sent")
	code, out, errs := run(t, "run", filepath.Join(dir, "bench.yaml"), "--no-progress")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "read 500 · loaded 500")
	assert.Equal(t, int64(500), srv.SinkStats().Unique)
}

func TestBenchExitCodes(t *testing.T) {
	rejecting := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "sandbox", Password: "sandbox", CountOnly: true,
		Faults: sandbox.Faults{Reject: 0.05, Seed: 1}}})
	defer rejecting.Close()
	garbling := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "sandbox", Password: "sandbox", CountOnly: true,
		Faults: sandbox.Faults{Garble: 0.2, Seed: 1}}})
	defer garbling.Close()
	for _, tt := range []struct {
		Name   string
		Args   []string
		Code   int
		Stderr string
	}{
		{"FaultFlagWithSink", []string{"--sink", rejecting.URL(), "--latency", "20ms"}, 1, "--latency is the sandbox's flag with --sink"},
		{"NotASandbox", []string{"--sink", rejecting.URL() + "/gorgias/api"}, 1, "is it a msgmigrate sandbox?"},
		{"BadURL", []string{"--sink", "127.0.0.1:8089"}, 1, "want the sandbox's base URL"},
		{"RecordsFailed", []string{"--sink", rejecting.URL()}, 2, "records failed"},
		// Cut-short answers are sent again, and that is no duplicate.
		{"RetriedIsNotTwice", []string{"--sink", garbling.URL(), "--set", "sink.retry.base_delay=1ms"}, 0, ""},
	} {
		t.Run(tt.Name, func(t *testing.T) {
			code, out, errs := run(t, append([]string{"bench", "--rows", "1000", "--routes", "10", "--dir", t.TempDir(), "--no-progress"}, tt.Args...)...)
			assert.Equal(t, tt.Code, code, out+errs)
			assert.Contains(t, errs, tt.Stderr)
			if tt.Name == "RetriedIsNotTwice" {
				assert.Contains(t, out, "1000 items acknowledged once, 0 twice or more")
				assert.Regexp(t, `retried [1-9]`, out)
			}
		})
	}
}

func TestBenchEachOnce(t *testing.T) {
	for _, tt := range []struct {
		Name string
		Res  benchResult
		Want string
	}{
		{"Once", benchResult{Loaded: 10, SinkStats: sandbox.SinkStats{Unique: 10}}, ""},
		{"Failed", benchResult{Loaded: 9, Failed: 1, SinkStats: sandbox.SinkStats{Unique: 9}}, "1 records failed"},
		{"Twice", benchResult{Loaded: 10, SinkStats: sandbox.SinkStats{Unique: 10, Duplicates: 2}}, "acknowledged 2 messages more than once"},
		{"Unrecorded", benchResult{Loaded: 9, SinkStats: sandbox.SinkStats{Unique: 10}}, "the ledger says 9 loaded, the sink acknowledged 10"},
		{"RerunSent", benchResult{Loaded: 10, SinkStats: sandbox.SinkStats{Unique: 10}, Rerun: &benchRerunResult{Sent: 1}}, "the rerun of a fully loaded job sent 1 requests"},
	} {
		t.Run(tt.Name, func(t *testing.T) {
			got := tt.Res.eachOnce()
			if tt.Want == "" {
				assert.Empty(t, got)
				return
			}
			assert.True(t, strings.Contains(got, tt.Want), got)
		})
	}
}
