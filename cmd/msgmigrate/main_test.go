package main

import (
	"bytes"
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

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/internal/gen"
	"github.com/msgmigrate/msgmigrate/ledger/keyindex"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// TestMain lets the tests run this binary's main as a child process, to kill
// it and to interrupt it as a user would.
func TestMain(m *testing.M) {
	if os.Getenv("MSGMIGRATE_TEST_MAIN") == "1" {
		// A child may ask for a key index that seals every few hundred
		// entries, so that kills land in its maintenance.
		if n, err := strconv.Atoi(os.Getenv("MSGMIGRATE_TEST_KEYINDEX_MEM")); err == nil {
			keyindex.DefaultMemLimit = n
		}
		main()
		return
	}
	os.Exit(m.Run())
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = execute(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestQuickstartExitsZero(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := run(t, "run", "../../examples/quickstart.yaml", "--no-progress",
		"--set", "state="+filepath.Join(dir, "q.db"), "--set", "report="+filepath.Join(dir, "q.json"), "--set", "failures="+filepath.Join(dir, "q.jsonl"))
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "read 12 · loaded 11 · skipped 1 · failed 0")
	var rep pipeline.Report
	require.NoError(t, json.Unmarshal([]byte(mustRead(t, filepath.Join(dir, "q.json"))), &rep))
	assert.Equal(t, int64(11), rep.Loaded)

	code, out, _ = run(t, "status", "../../examples/quickstart.yaml", "--set", "state="+filepath.Join(dir, "q.db"))
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "loaded 11 · failed 0")
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	csv := "id,department_uuid,customer_uuid,channel,direction,sent_at,created_at,subject,body_text,body_html,user_uuid,attachment_url\n" +
		"1,3f2b8c1e-6d4a-4f0e-9b7a-1c2d3e4f5a6b,0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b,sms,inbound,2024-01-01T00:00:00Z,,,hi,,,\n" +
		"2,3f2b8c1e-6d4a-4f0e-9b7a-1c2d3e4f5a6b,0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b,sms,inbound,yesterday,,,hi,,,\n"
	write(t, dir, "m.csv", csv)
	job := write(t, dir, "job.yaml", "source: {kind: csv, path: m.csv}\nmapping: builtin:csv-to-mykaarma\nsink: {kind: mykaarma, url: sandbox, username: sandbox, password: sandbox}\n")
	code, out, _ := run(t, "run", job, "--no-progress")
	assert.Equal(t, 2, code, "finished with failed records")
	assert.Contains(t, out, "failed: 0 read, 1 map, 0 load")

	code, out, _ = run(t, "validate", job)
	assert.Equal(t, 2, code)
	assert.Contains(t, out, `m.csv:3: sentOn: cannot parse "yesterday" as a time`)

	code, out, _ = run(t, "preview", job, "-n", "1")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, `"sourceUuid"`)

	bad := write(t, dir, "bad.yaml", "source: {kind: csv, path: m.csv}\nmapping: builtin:csv-to-mykaarma\nsink:\n  kind: mykaarma\n  url: sandbox\n  concurency: 8\n")
	code, _, errs := run(t, "run", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, bad+`:6: unknown key "concurency"`)

	env := write(t, dir, "env.yaml", "source: {kind: csv, path: m.csv}\nmapping: builtin:csv-to-mykaarma\nsink: {kind: mykaarma, url: sandbox, username: u, password: '${NO_SUCH_VAR_FOR_TEST}'}\n")
	code, _, errs = run(t, "run", env)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, env+":3: environment variable NO_SUCH_VAR_FOR_TEST is not set")

	unknown := write(t, dir, "kind.yaml", "source: {kind: xml, path: m.csv}\nmapping: builtin:csv-to-mykaarma\nsink: {kind: mykaarma, url: sandbox, username: sandbox, password: sandbox}\n")
	code, _, errs = run(t, "run", unknown)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `unknown source kind "xml" (known: csv, `)
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

// child runs msgmigrate as a separate process.
func child(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return childEnv(t, nil, args...)
}

// childEnv runs msgmigrate as a separate process with more environment.
func childEnv(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "MSGMIGRATE_TEST_MAIN=1", "MSGMIGRATE_TEST_PASSWORD=p"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("child output:\n%s", out.String())
		}
	})
	require.NoError(t, cmd.Start())
	return cmd
}

func slowJob(t *testing.T, rows int) (job string, fake *sandbox.Running) {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "m.csv"))
	require.NoError(t, err)
	require.NoError(t, gen.WriteCSV(f, gen.Spec{Rows: rows, Routes: 50, Seed: 9}))
	require.NoError(t, f.Close())
	fake = sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p",
		Faults: sandbox.Faults{Latency: 15 * time.Millisecond}}})
	t.Cleanup(fake.Close)
	job = write(t, dir, "job.yaml", fmt.Sprintf(`source: {kind: csv, path: m.csv}
mapping: builtin:csv-to-mykaarma
sink:
  kind: mykaarma
  url: %s
  username: u
  password: ${MSGMIGRATE_TEST_PASSWORD}
  batch: {max_items: 10, linger: 1ms}
  concurrency: 2
`, fake.MyKaarmaURL()))
	return job, fake
}

func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Wait()
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	return ee.ExitCode()
}

// Killed with SIGKILL at any moment — again and again — the same command
// finishes the job, and each kill sends again at most what was in flight:
// concurrency × max_items (here 2 × 10). A worker takes its next batch only
// once its last one is recorded, so answers waiting for the ledger count
// as in flight, and there are never more of them.
func TestAKillLoopSendsAgainAtMostWhatWasInFlight(t *testing.T) {
	const rows, kills, inFlight = 3000, 6, 2 * 10
	job, _ := slowJob(t, rows)
	recorded := func() map[string]bool {
		code, out, errs := run(t, "idmap", job)
		require.Equal(t, 0, code, errs)
		keys := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			keys[strings.Split(line, ",")[1]] = true // source_id,key,…
		}
		return keys
	}
	// Each run loads into a fake of its own, closed (every request it got
	// handled to the end) before the ledger is looked at: what the fake of
	// a killed run holds and the ledger does not is exactly what that run
	// had in flight — delivered, or being delivered, and not yet recorded.
	// The key index seals every 128 entries and merges every 4 runs: kills
	// land in its maintenance as well as in loading.
	env := []string{"MSGMIGRATE_TEST_KEYINDEX_MEM=128"}
	acceptances, inFlightAtKills := 0, 0
	delivered := map[string]bool{}
	for k := range kills + 1 {
		fake := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p",
			Faults: sandbox.Faults{Latency: 15 * time.Millisecond}}})
		cmd := childEnv(t, env, "run", job, "--no-progress", "--set", "sink.url="+fake.MyKaarmaURL())
		if k < kills {
			target := int64(rows * (k + 1) / (kills + 2))
			require.Eventually(t, func() bool { return int64(len(delivered))+fake.MyKaarma.Stats.Accepted.Load() >= target }, 60*time.Second, time.Millisecond)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			exitCode(t, cmd)
		} else {
			require.Equal(t, 0, exitCode(t, cmd), "the run after the last kill completes")
		}
		fake.Close()
		rec := recorded()
		unrecorded := 0
		for _, st := range fake.MyKaarma.All() {
			acceptances += st.Times
			delivered[st.SourceUUID] = true
			if !rec[st.SourceUUID] {
				unrecorded++
			}
		}
		if k < kills {
			assert.LessOrEqual(t, unrecorded, inFlight, "kill %d: %d delivered and not recorded", k+1, unrecorded)
			inFlightAtKills += unrecorded
		} else {
			assert.Zero(t, unrecorded, "the completed run recorded everything it delivered")
		}
	}
	assert.Len(t, delivered, rows, "every message arrived")
	assert.LessOrEqual(t, acceptances-rows, inFlightAtKills, "sent again: only what was in flight at the kills")
	t.Logf("%d kills; %d in flight at them; %d sent again", kills, inFlightAtKills, acceptances-rows)
}

// SIGINT stops reading, lets requests in flight finish, records them, and
// exits 3; the same command finishes the job.
func TestInterruptedRunExitsThreeAndResumes(t *testing.T) {
	const rows = 1500
	job, fake := slowJob(t, rows)
	cmd := child(t, "run", job, "--no-progress")
	require.Eventually(t, func() bool { return fake.MyKaarma.Stats.Accepted.Load() >= 100 }, 30*time.Second, time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.Equal(t, 3, exitCode(t, cmd))
	rep := mustRead(t, filepath.Join(filepath.Dir(job), ".msgmigrate", "job.report.json"))
	assert.Contains(t, rep, `"state": "interrupted"`)

	cmd = child(t, "run", job, "--no-progress")
	require.Equal(t, 0, exitCode(t, cmd))
	assert.Equal(t, int64(rows), fake.MyKaarma.Unique())
	for _, st := range fake.MyKaarma.All() {
		assert.Equal(t, 1, st.Times, "a drained run records all it sent: nothing is sent twice")
	}
	assert.True(t, strings.Contains(mustRead(t, filepath.Join(filepath.Dir(job), ".msgmigrate", "job.report.json")), `"state": "completed"`))
}

func TestIDMap(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := run(t, "run", "../../examples/quickstart.yaml", "--no-progress", "--set", "state="+filepath.Join(dir, "q.db"),
		"--set", "report="+filepath.Join(dir, "q.json"), "--set", "failures="+filepath.Join(dir, "q.jsonl"))
	require.Equal(t, 0, code, errs)
	code, out, errs := run(t, "idmap", "../../examples/quickstart.yaml", "--set", "state="+filepath.Join(dir, "q.db"))
	require.Equal(t, 0, code, errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Equal(t, "source_id,key,target_id,loaded_at,origin", lines[0])
	assert.Len(t, lines, 12, "a header and the 11 loaded messages")
	assert.Contains(t, out, "../testdata/quickstart/messages.csv:2")
}

// Every command a user can run says how, with an example, in its --help.
func TestEveryCommandHasAnExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && !c.Hidden && c.Name() != "help" && c.Name() != "completion" {
			assert.NotEmpty(t, c.Example, "%s --help has no example", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRoot(&globals{}))
}

// version names the module version and commit: from the build's VCS stamp,
// or, in an image built without .git, from -ldflags -X.
func TestVersion(t *testing.T) {
	code, out, errs := run(t, "version")
	require.Equal(t, 0, code, errs)
	assert.Regexp(t, `^msgmigrate \S+ .*go1\.\d+`, out)

	version, commit = "v1.4.0", "0123456789abcdef"
	defer func() { version, commit = "", "" }()
	code, out, errs = run(t, "version", "--json")
	require.Equal(t, 0, code, errs)
	var b buildInfo
	require.NoError(t, json.Unmarshal([]byte(out), &b))
	assert.Equal(t, "v1.4.0", b.Version)
	if b.Commit != "0123456789abcdef" {
		assert.Len(t, b.Commit, 40, "a checkout's own stamp wins over the flag")
	}
	code, out, _ = run(t, "version")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "msgmigrate v1.4.0 (commit ")
}

// What status and idmap say after a completed run: where reading got to
// (not "stopped at"), and each record by the id its key is made of.
func TestStatusAndIDMapAfterACompletedRun(t *testing.T) {
	dir := t.TempDir()
	sets := []string{"--set", "state=" + filepath.Join(dir, "q.db"), "--set", "report=" + filepath.Join(dir, "q.json"),
		"--set", "failures=" + filepath.Join(dir, "q.jsonl")}
	code, _, errs := run(t, append([]string{"run", "../../examples/quickstart.yaml", "--no-progress"}, sets...)...)
	require.Equal(t, 0, code, errs)

	code, out, errs := run(t, append([]string{"status", "../../examples/quickstart.yaml"}, sets[:2]...)...)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "run completed")
	assert.Contains(t, out, "read up to ../testdata/quickstart/messages.csv:16", "the last record's line (records span lines)")
	assert.NotContains(t, out, "stopped at")

	// The key is uuid5("csv", row.id): idmap's source id is row.id, the
	// CSV's own id column, for the record at each origin.
	code, out, errs = run(t, append([]string{"idmap", "../../examples/quickstart.yaml"}, sets[:2]...)...)
	require.Equal(t, 0, code, errs)
	assert.Regexp(t, `(?m)^1,[0-9a-f-]{36},[^,]*,[^,]*,\.\./testdata/quickstart/messages\.csv:2$`, out)
	assert.Regexp(t, `(?m)^12,[0-9a-f-]{36},[^,]*,[^,]*,\.\./testdata/quickstart/messages\.csv:16$`, out)
}

// A missing input file is named with the job file's line that names it.
func TestAMissingInputNamesItsJobLine(t *testing.T) {
	dir := t.TempDir()
	job := write(t, dir, "job.yaml", "# a job\nsource:\n  kind: csv\n  path: nope.csv\nmapping: builtin:csv-to-mykaarma\nsink: {kind: jsonl, path: out.jsonl}\n")
	for _, cmd := range []string{"validate", "run"} {
		code, _, errs := run(t, cmd, job, "--no-progress")
		assert.Equal(t, 1, code, cmd)
		assert.Contains(t, errs, job+":4: source.path:", cmd)
		assert.Contains(t, errs, "nope.csv", cmd)
	}
}
