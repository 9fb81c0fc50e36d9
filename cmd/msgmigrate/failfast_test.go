package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/internal/gen"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// messagesJob writes n generated messages and a job sending them to url.
func messagesJob(t *testing.T, n int, sink string) (dir, job string) {
	t.Helper()
	dir = t.TempDir()
	f, err := os.Create(filepath.Join(dir, "m.csv"))
	require.NoError(t, err)
	require.NoError(t, gen.WriteCSV(f, gen.Spec{Rows: n, Routes: 50, Seed: 3}))
	f.Close()
	job = write(t, dir, "job.yaml", "source: {kind: csv, path: m.csv}\nmapping: builtin:csv-to-mykaarma\nsink: "+sink+"\n")
	return dir, job
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A wrong password: the run stops after about one request per worker (a
// lockout risk on a real API), says 401, names the variable to fix, and
// leaves every record unsent for the run after the fix.
func TestAWrongPasswordStopsTheRunAndNamesTheVariable(t *testing.T) {
	fake := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "right"}})
	defer fake.Close()
	t.Setenv("TEST_MM_PASSWORD", "wrong")
	_, job := messagesJob(t, 2000, fmt.Sprintf("{kind: mykaarma, url: %s, username: u, password: '${TEST_MM_PASSWORD}', concurrency: 8}", fake.MyKaarmaURL()))
	code, out, errs := run(t, "run", job, "--no-progress")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "sink mykaarma refused the credentials 3 times in a row")
	assert.Contains(t, errs, "HTTP 401")
	assert.Contains(t, errs, "check sink.password (from $TEST_MM_PASSWORD)")
	assert.NotContains(t, errs+out, "wrong", "the password is never shown")
	assert.Contains(t, out, "failed in")
	assert.Contains(t, out, "failed 0 · unsent 2000")
	assert.LessOrEqual(t, fake.MyKaarma.Stats.Requests.Load(), int64(8+2), "not a budget's worth of 401s")

	// check says the same in a second, sending nothing.
	code, out, errs = run(t, "check", job)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "source csv: ok")
	assert.Contains(t, errs, "refused the credentials")
	assert.Contains(t, errs, "$TEST_MM_PASSWORD")
	assert.Zero(t, fake.MyKaarma.Unique())

	t.Setenv("TEST_MM_PASSWORD", "right")
	code, out, _ = run(t, "check", job)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "sink mykaarma: ok")
	code, out, _ = run(t, "run", job, "--no-progress")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "loaded 2000")
}

// A URL that misses the API's path: a plain 404 from every request. The run
// stops naming the URL, instead of failing every record as NOT_FOUND.
func TestAWrongURLStopsTheRunNamingIt(t *testing.T) {
	fake := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p"}})
	defer fake.Close()
	dir, job := messagesJob(t, 500, fmt.Sprintf("{kind: mykaarma, url: %s, username: u, password: p}", fake.URL()))
	code, out, errs := run(t, "run", job, "--no-progress")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "has no such endpoint (check the URL)")
	assert.Contains(t, errs, fake.URL()+"/department/")
	assert.Contains(t, out, "failed 0 · unsent 500")
	assert.NoFileExists(t, filepath.Join(dir, ".msgmigrate", "job.failures.jsonl"), "no record is blamed")
}

// Nothing listens: the run stops at once, saying so — not after a minute of
// silent retries.
func TestARefusedConnectionStopsTheRun(t *testing.T) {
	_, job := messagesJob(t, 100, "{kind: mykaarma, url: 'http://"+closedPort(t)+"/communications', username: u, password: p}")
	code, _, errs := run(t, "run", job, "--no-progress")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "sink mykaarma refused the connection")
}

// An unreachable vendor source ends the run with exit 1 and a summary that
// does not say "completed".
func TestAnUnreachableSourceStopsTheRun(t *testing.T) {
	dir := t.TempDir()
	job := write(t, dir, "job.yaml", "source: {kind: gorgias, url: 'http://"+closedPort(t)+"/api', username: ops@shop.example, api_key: k}\n"+
		"mapping: builtin:gorgias-to-mykaarma\nsink: {kind: jsonl, path: out.jsonl}\nlookups:\n"+
		"  customers: {file: c.csv, key: email, value: customer_uuid}\n  users: {file: c.csv, key: email, value: customer_uuid}\n"+
		"  departments: {file: c.csv, key: email, value: customer_uuid}\n")
	write(t, dir, "c.csv", "email,customer_uuid\n")
	code, out, errs := run(t, "run", job, "--no-progress")
	assert.Equal(t, 1, code, out+errs)
	assert.Contains(t, errs, "refused the connection")
	assert.NotContains(t, out, "completed")
}

func TestShardFlags(t *testing.T) {
	_, job := messagesJob(t, 10, "{kind: jsonl, path: out.jsonl}")
	os.Unsetenv("JOB_COMPLETION_INDEX")
	os.Unsetenv("CLOUD_RUN_TASK_INDEX")
	code, _, errs := run(t, "run", job, "--shard", "auto/4")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "neither JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) nor CLOUD_RUN_TASK_INDEX (Cloud Run) is set")
	t.Setenv("JOB_COMPLETION_INDEX", "7")
	code, _, errs = run(t, "run", job, "--shard", "auto/4")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `JOB_COMPLETION_INDEX="7" is not an index from 0 to 3`)
	code, _, errs = run(t, "run", job, "--shard", "4/4")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "the index must be from 0 to 3")
	t.Setenv("MSGMIGRATE_PARALLELISM", "zero")
	code, _, errs = run(t, "run", job, "--shard", "1/4")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `MSGMIGRATE_PARALLELISM="zero"`)
}

// validate and --dry-run check the sink section as a run would; a bad
// --set is named as such.
func TestTheSinkSectionIsCheckedBeforeARun(t *testing.T) {
	_, job := messagesJob(t, 10, "{kind: mykaarma, url: sandbox, username: sandbox, password: sandbox, rate: fast}")
	code, _, errs := run(t, "validate", job)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `"fast" is not a rate`)
	code, _, errs = run(t, "run", job, "--dry-run", "--set", "sink.rate=20/s", "--set", "sink.timeout=soon")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `--set: "soon" is not a duration`)
	assert.NotContains(t, errs, ":0:")
}

func TestRetryOfAJobThatNeverRan(t *testing.T) {
	_, job := messagesJob(t, 10, "{kind: jsonl, path: out.jsonl}")
	code, out, errs := run(t, "retry", job)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "the job has not run yet")
	assert.NotContains(t, out, "completed")
}

// A ledger that is empty (a failed copy, a full disk) is refused before
// anything is sent; --new-ledger starts over on purpose.
func TestAnEmptyLedgerIsRefused(t *testing.T) {
	dir, job := messagesJob(t, 30, "{kind: jsonl, path: out.jsonl}")
	code, _, _ := run(t, "run", job, "--no-progress")
	require.Equal(t, 0, code)
	state := filepath.Join(dir, ".msgmigrate", "job.db")
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(state + suffix)
	}
	require.NoError(t, os.Truncate(state, 0))
	code, out, errs := run(t, "run", job, "--no-progress")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "the ledger "+state+" is empty (0 bytes)")
	assert.Contains(t, errs, "--new-ledger")
	assert.Empty(t, out, "nothing was read or sent")
	code, out, _ = run(t, "run", job, "--no-progress", "--new-ledger")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "loaded 30")
	aside, _ := filepath.Glob(state + ".set-aside-*")
	assert.NotEmpty(t, aside)
	assert.True(t, strings.HasPrefix(filepath.Base(aside[0]), "job.db.set-aside-"))
}

// Issue 11 (3): a typo in a source column is found before anything is
// mapped or sent — by validate and by run.
func TestATypoInAColumnStopsValidateAndRun(t *testing.T) {
	fake := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p"}})
	defer fake.Close()
	dir, _ := messagesJob(t, 20, "{kind: jsonl, path: out.jsonl}")
	mapping := strings.Replace(mustRead(t, "../../mappings/csv-to-mykaarma.yaml"), "row.subject", "row.subjekt", 1)
	require.NotContains(t, mapping, "row.subject ", "the typo is in")
	write(t, dir, "m.yaml", mapping)
	job := write(t, dir, "typo.yaml", fmt.Sprintf("source: {kind: csv, path: m.csv}\nmapping: m.yaml\nsink: {kind: mykaarma, url: %s, username: u, password: p}\n", fake.MyKaarmaURL()))
	code, _, errs := run(t, "validate", job)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `row.subjekt: the source has no column "subjekt" (did you mean "subject"?)`)
	code, _, errs = run(t, "run", job, "--no-progress")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `did you mean "subject"?`)
	assert.Zero(t, fake.MyKaarma.Stats.Requests.Load(), "nothing sent")
}

// A file that cannot be read at all as its kind (a CSV saved as .parquet, a
// text file saved as .xlsx) is the job's mistake: exit 1 before anything is
// sent, naming the file — not one failed record and exit 2.
func TestAFileThatIsNotItsKindStopsTheRun(t *testing.T) {
	for _, kind := range []string{"parquet", "xlsx"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			fake := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p"}})
			t.Cleanup(fake.Close)
			write(t, dir, "messages."+kind, "message_id,department_uuid,customer_uuid,body_text\n1,d,c,hello\n")
			job := write(t, dir, "job.yaml", fmt.Sprintf(`source: {kind: %s, path: messages.%s}
mapping: builtin:csv-to-mykaarma
sink: {kind: mykaarma, url: %s, username: u, password: p}
`, kind, kind, fake.MyKaarmaURL()))
			code, _, errs := run(t, "run", job, "--no-progress")
			assert.Equal(t, 1, code, errs)
			assert.Contains(t, errs, "messages."+kind+": not a")
			assert.Zero(t, fake.SinkStats().Requests, "nothing sent")
		})
	}
}

// A retry resends what failed to load; a record that failed to read or map
// is never loaded by it, and the retry says so: exit 2, a line naming how
// many, the failures file and status keep them.
func TestRetryDoesNotHideRecordsThatNeverLoaded(t *testing.T) {
	dir, job := messagesJob(t, 20, "{kind: jsonl, path: out.jsonl}")
	csv := filepath.Join(dir, "m.csv")
	b, err := os.ReadFile(csv)
	require.NoError(t, err)
	// One row's sent_at no mapping can read.
	at := regexp.MustCompile(`\d{4}-\d\d-\d\dT[0-9:]+(Z|[+-]\d\d:\d\d)`).FindIndex(b)
	require.NotNil(t, at, "a sent_at in the generated file")
	b = slices.Concat(b[:at[0]], []byte("last Tuesday"), b[at[1]:])
	require.NoError(t, os.WriteFile(csv, b, 0o644))

	code, out, errs := run(t, "run", job, "--no-progress")
	require.Equal(t, 2, code, errs)
	assert.Contains(t, out, "loaded 19 · skipped 0 · failed 1")

	code, out, errs = run(t, "retry", job, "--no-progress")
	assert.Equal(t, 2, code, "records never loaded: the job is not done\n%s%s", out, errs)
	assert.Contains(t, out, "still failing: 1 records of earlier runs (0 read, 1 map) were never loaded")
	assert.Contains(t, out, "failures: ")
	assert.Contains(t, mustRead(t, filepath.Join(dir, ".msgmigrate", "job.failures.jsonl")), "last Tuesday")

	code, out, errs = run(t, "status", job)
	require.Equal(t, 0, code, errs)
	assert.Regexp(t, `(?m)failed\D+1\b`, out)
}

// An endpoint that answers 503 to everything: the circuit opens, the run
// stops after retry.outage with exit 3 (resumable), a line saying what
// happened and for how long, no record failed; the same command loads
// everything once the endpoint is back.
func TestAnOutageExitsThreeAndResumes(t *testing.T) {
	down := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p",
		Faults: sandbox.Faults{ServerError: 1}}})
	defer down.Close()
	_, job := messagesJob(t, 500, fmt.Sprintf("{kind: mykaarma, url: %s, username: u, password: p, concurrency: 4, retry: {outage: 300ms, circuit_after: 3, max_retry_after: 20ms}}", down.MyKaarmaURL()))
	code, out, errs := run(t, "run", job, "--no-progress")
	require.Equal(t, 3, code, "%s%s", out, errs)
	assert.Contains(t, out, "interrupted")
	assert.Contains(t, out, "stopped: sink mykaarma failed every request for")
	assert.Contains(t, out, "failed 0")
	assert.Less(t, down.SinkStats().Requests, int64(60), "a dead endpoint is probed, not hammered")

	up := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p"}})
	defer up.Close()
	code, out, errs = run(t, "run", job, "--no-progress", "--set", "sink.url="+up.MyKaarmaURL())
	require.Equal(t, 0, code, "%s%s", out, errs)
	assert.Equal(t, int64(500), up.SinkStats().Unique)
}

// Failures broken down as a user acts on them: the summary and report by
// code and by route, status --by code and --by route, and retry --code
// resending only that code's failures.
func TestFailuresByCodeAndRouteAndRetryByCode(t *testing.T) {
	rejecting := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p",
		Faults: sandbox.Faults{Reject: 0.1, Seed: 5}}})
	defer rejecting.Close()
	dir, job := messagesJob(t, 400, fmt.Sprintf("{kind: mykaarma, url: %s, username: u, password: p}", rejecting.MyKaarmaURL()))
	code, out, errs := run(t, "run", job, "--no-progress")
	require.Equal(t, 2, code, "%s%s", out, errs)
	assert.Regexp(t, `failed: 0 read, 0 map, \d+ load — MESSAGE_REJECTED \d+`, out)
	assert.Regexp(t, `load failures in \d+ routes, most in [0-9a-f-]+/[0-9a-f-]+ \(\d+\): status --by route`, out)
	var rep pipeline.Report
	require.NoError(t, json.Unmarshal([]byte(mustRead(t, filepath.Join(dir, ".msgmigrate", "job.report.json"))), &rep))
	require.NotZero(t, rep.Failed)
	assert.Equal(t, map[string]int64{"MESSAGE_REJECTED": rep.Failed}, rep.FailedByCode)
	var byRoute int64
	for _, n := range rep.FailedByRoute {
		byRoute += n
	}
	assert.Equal(t, rep.Failed, byRoute, "every load failure is in some route")

	code, out, errs = run(t, "status", job, "--by", "code")
	require.Equal(t, 0, code, errs)
	assert.Regexp(t, fmt.Sprintf(`MESSAGE_REJECTED\s+%d`, rep.Failed), out)
	code, out, errs = run(t, "status", job, "--by", "route")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "by route (failed first)")

	// A code nothing failed with resends nothing; the code that failed
	// resends exactly those items, to an endpoint that takes them now.
	accepting := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p"}})
	defer accepting.Close()
	code, out, errs = run(t, "retry", job, "--no-progress", "--code", "NOT_A_CODE", "--set", "sink.url="+accepting.MyKaarmaURL())
	assert.Equal(t, 2, code, "%s%s", out, errs)
	assert.Contains(t, out, fmt.Sprintf("note: no failed items with code NOT_A_CODE; the ledger's failures by code: MESSAGE_REJECTED %d", rep.Failed))
	assert.Zero(t, accepting.SinkStats().Items)
	code, out, errs = run(t, "retry", job, "--no-progress", "--code", "MESSAGE_REJECTED", "--set", "sink.url="+accepting.MyKaarmaURL())
	require.Equal(t, 0, code, "%s%s", out, errs)
	assert.Equal(t, rep.Failed, accepting.SinkStats().Unique, "exactly the rejected items")
}
