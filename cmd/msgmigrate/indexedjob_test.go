package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/internal/gen"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// The Indexed Job as a Kubernetes node runs it: one process of this binary
// per index, JOB_COMPLETION_INDEX set, all at once, sharing the job's rate
// (--parallelism), against a myKaarma that fails now and then; one pod is
// killed mid-run (SIGKILL, as an OOM kill or a lost node) and started again
// with the same index, as backoffLimitPerIndex does.
func TestAnIndexedJobLoadsEveryRecordOnceWithinTheRate(t *testing.T) {
	indexedJob(t, "") // the default state: a SQLite file per shard
}

func TestAnIndexedJobSharesOnePostgresLedger(t *testing.T) {
	base := os.Getenv("MSGMIGRATE_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MSGMIGRATE_TEST_POSTGRES is not set in CI: .ci/run starts a PostgreSQL and exports it")
		}
		t.Skip("set MSGMIGRATE_TEST_POSTGRES=postgres://… (a server where tests may create schemas; .ci/run starts one) to run the Indexed Job on a PostgreSQL ledger")
	}
	schema := fmt.Sprintf("mm_indexedjob_%d", os.Getpid())
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, base)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		require.NoError(t, err)
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	indexedJob(t, base+sep+"ledger=indexedjob&schema="+schema)
}

func indexedJob(t *testing.T, state string) {
	const (
		rows, shards      = 3000, 4
		maxItems, workers = 20, 2
		rate, burst       = 40.0, shards // the job's; each process takes 1/shards of both
	)
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "m.csv"))
	require.NoError(t, err)
	require.NoError(t, gen.WriteCSV(f, gen.Spec{Rows: rows, Routes: 60, Seed: 11}))
	require.NoError(t, f.Close())

	fake := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p",
		Faults: sandbox.Faults{Latency: 5 * time.Millisecond, Jitter: 10 * time.Millisecond,
			ServerError: 0.04, Drop: 0.02, Garble: 0.02, Throttle: 0.02, RetryAfter: time.Second, Seed: 3}}})
	t.Cleanup(fake.Close)
	stateLine := ""
	if state != "" {
		stateLine = "state: " + state + "\n"
	}
	job := write(t, dir, "job.yaml", fmt.Sprintf(`source: {kind: csv, path: m.csv}
mapping: builtin:csv-to-mykaarma
%ssink:
  kind: mykaarma
  url: %s
  username: u
  password: ${MSGMIGRATE_TEST_PASSWORD}
  batch: {max_items: %d}
  concurrency: %d
  rate: %g/s
  burst: %d
  retry: {max_attempts: 12, base_delay: 10ms, max_delay: 200ms}
`, stateLine, fake.MyKaarmaURL(), maxItems, workers, rate, burst))

	pod := func(i int) *exec.Cmd {
		return childEnv(t, []string{"JOB_COMPLETION_INDEX=" + strconv.Itoa(i)},
			"run", job, "--no-progress", "--shard", "auto/"+strconv.Itoa(shards), "--parallelism", strconv.Itoa(shards))
	}
	cmds := make([]*exec.Cmd, shards)
	for i := range shards {
		cmds[i] = pod(i)
	}

	// Index 1 is killed once a quarter of the records are in: every shard
	// is then about a quarter of the way through its own.
	const killed = 1
	require.Eventually(t, func() bool { return fake.SinkStats().Unique >= rows/4 }, 2*time.Minute, time.Millisecond)
	require.NoError(t, cmds[killed].Process.Signal(syscall.SIGKILL))
	err = cmds[killed].Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "the pod was still running when killed")
	require.False(t, ee.Exited(), "killed by the signal, not finished: %v", err)
	cmds[killed] = pod(killed)
	for i, cmd := range cmds {
		assert.Equal(t, 0, exitCode(t, cmd), "index %d", i)
	}

	// The target: every record once. A record is acknowledged twice only
	// when the kill lost its answer: at most what one pod had in flight.
	st := fake.SinkStats()
	assert.Equal(t, int64(rows), st.Unique, "every record acknowledged")
	assert.LessOrEqual(t, st.Duplicates, int64(workers*maxItems), "acknowledged twice: at most what was in flight at the kill")
	assert.Positive(t, st.Faulted+st.Throttled, "the fake did fail now and then")

	// The rate: the pods' token buckets together allow rate × T + burst in
	// any span T; the pod started again brings a bucket of its own (one
	// more request). No wall-clock second may see more.
	limit := int64(rate) + burst + 1
	for _, s := range st.PerSecond {
		assert.LessOrEqual(t, s.Requests, limit, "requests in second %d", s.Second)
	}
	if st.FirstRequest != nil && st.LastRequest != nil {
		span := st.LastRequest.Sub(*st.FirstRequest).Seconds()
		t.Logf("%d requests in %.1fs (%.1f/s; at most %d in a second, the job's rate %g/s + burst %d); %d faulted, %d throttled, %d acknowledged twice",
			st.Requests, span, float64(st.Requests)/span, st.MaxPerSecond, rate, burst, st.Faulted, st.Throttled, st.Duplicates)
		assert.LessOrEqual(t, float64(st.Requests-burst-1)/span, rate, "the job's rate, on average")
	}

	// status: every shard, and totals equal to the input.
	code, out, errs := run(t, "status", job, "--json")
	require.Equal(t, 0, code, errs)
	var status struct {
		Shards []struct {
			Ledger string `json:"ledger"`
			Loaded int64  `json:"loaded"`
			Runs   []struct {
				State string `json:"state"`
			} `json:"runs"`
		} `json:"shards"`
		Loaded int64 `json:"loaded"`
		Failed int64 `json:"failed"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &status))
	assert.Equal(t, int64(rows), status.Loaded)
	assert.Zero(t, status.Failed)
	require.Len(t, status.Shards, shards)
	for _, s := range status.Shards {
		assert.Positive(t, s.Loaded, "shard %s loaded its share", s.Ledger)
		require.NotEmpty(t, s.Runs, s.Ledger)
		assert.Equal(t, "completed", s.Runs[0].State, "the last run of %s", s.Ledger)
	}

	// idmap: every record once, across the shards.
	code, out, errs = run(t, "idmap", job)
	require.Equal(t, 0, code, errs)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	seen := map[string]int{}
	for _, r := range recs[1:] {
		seen[r[0]]++
	}
	assert.Len(t, seen, rows, "every record in the id map")
	for id, n := range seen {
		if n != 1 {
			t.Errorf("source id %s listed %d times", id, n)
		}
	}
}
