package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/internal/gen"
	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
	"github.com/msgmigrate/msgmigrate/transform"
)

func TestQuickstartLoadsOnceAndRerunSendsNothing(t *testing.T) {
	src, err := os.ReadFile("../testdata/quickstart/messages.csv")
	require.NoError(t, err)
	h := newHarness(t, string(src), sandbox.Faults{}, "")
	rep := h.run()
	assert.Equal(t, "completed", rep.State)
	assert.Equal(t, int64(12), rep.Read)
	assert.Equal(t, int64(11), rep.Loaded)
	assert.Equal(t, pipeline.SkippedBy{Rule: 1}, rep.SkippedBy)
	assert.Equal(t, int64(0), rep.Failed)
	assert.Equal(t, int64(11), h.fake.MyKaarma.Unique())
	assert.FileExists(t, h.load().Report)

	// Bytes arrive exactly: multi-line text with CRLF kept, emoji, RTL.
	key, err := transform.UUID5("csv", "4")
	require.NoError(t, err)
	st, ok := h.fake.MyKaarma.Stored(key)
	require.True(t, ok)
	assert.Contains(t, string(st.Payload), `"body":"Thanks — can you do Thursday?\nI work until 5.\n\n— Jens"`)
	assert.Equal(t, dept, st.Department)
	h.withLedger(func(l *ledgerView) {
		e, ok, err := l.Entry(key)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, st.MessageUUID, e.TargetID, "the ledger holds the target's id")
	})

	requests := h.fake.MyKaarma.Stats.Requests.Load()
	rep = h.run()
	assert.Equal(t, int64(0), rep.Loaded)
	assert.Equal(t, pipeline.SkippedBy{Rule: 1, AlreadyLoaded: 11}, rep.SkippedBy)
	assert.Equal(t, requests, h.fake.MyKaarma.Stats.Requests.Load(), "a rerun sends nothing")
}

func TestBadInputCostsOnlyItsRecord(t *testing.T) {
	csv := csvHeader +
		row(1, "fine") + // line 2
		"2,too,few\n" + // line 3: wrong column count
		row(3, `bare"quote`) + // line 4: bad quoting
		fmt.Sprintf("4,%s,%s,sms,inbound,31/02/2024,,,bad date,,,\n", dept, cust) + // line 5
		fmt.Sprintf("5,%s,%s,sms,inbound,2024-03-01T09:15:00Z,,,,,,\n", dept, cust) + // line 6: no body
		row(1, "fine") + // line 7: the same message again
		row(1, "changed") + // line 8: the same key, other content
		fmt.Sprintf("8,%s,%s,internal-note,inbound,2024-03-01T09:15:00Z,,,note,,,\n", dept, cust) + // line 9
		fmt.Sprintf("9,%s,not-a-uuid,sms,inbound,2024-03-01T09:15:00Z,,,bad route,,,\n", dept) + // line 10
		row(10, "\"unterminated") + // line 11
		row(11, "last") // line 12
	h := newHarness(t, csv, sandbox.Faults{}, "")
	rep := h.run()
	assert.Equal(t, int64(11), rep.Read)
	assert.Equal(t, int64(2), rep.Loaded)
	assert.Equal(t, pipeline.SkippedBy{Rule: 1, Duplicate: 1}, rep.SkippedBy)
	assert.Equal(t, pipeline.FailedBy{Read: 3, Map: 2, Load: 2}, rep.FailedBy)
	assert.Equal(t, rep.Read, rep.Loaded+rep.Skipped+rep.Failed, "every record is accounted for")

	byOrigin := map[string]pipeline.FailureLine{}
	for _, f := range h.failures() {
		byOrigin[f.Origin] = f
	}
	want := map[string]struct{ Stage, Code, Error string }{
		"messages.csv:3":  {"read", "", "row has 3 fields, the header has 12"},
		"messages.csv:4":  {"read", "", `bare " in unquoted field`},
		"messages.csv:5":  {"map", "", `sentOn: cannot parse "31/02/2024" as a time`},
		"messages.csv:6":  {"map", "", "messageAttributes.body or messageAttributes.attachments: no value"},
		"messages.csv:8":  {"load", "DUPLICATE_KEY", "was already used in this run by messages.csv:2, with other content"},
		"messages.csv:10": {"load", "INVALID_CUSTOMER_UUID", `customerUUID "not-a-uuid" is not a UUID`},
		"messages.csv:11": {"read", "", "quoted field is never closed"},
	}
	assert.Len(t, byOrigin, len(want))
	for origin, w := range want {
		f, ok := byOrigin[origin]
		if !assert.True(t, ok, "no failure for %s", origin) {
			continue
		}
		assert.Equal(t, w.Stage, f.Stage, origin)
		assert.Equal(t, w.Code, f.Code, origin)
		assert.Contains(t, f.Error, w.Error, origin)
		if w.Stage != "read" {
			assert.NotEmpty(t, f.Record, "%s: the failure carries the source record", origin)
		}
	}
	assert.Contains(t, string(byOrigin["messages.csv:10"].Record), `"customer_uuid":"not-a-uuid"`)
}

func TestEveryRecordEndsLoadedOrFailedUnderFaults(t *testing.T) {
	var sb strings.Builder
	require.NoError(t, gen.WriteCSV(&sb, gen.Spec{Rows: 3000, Routes: 40, Seed: 7}))
	h := newHarness(t, sb.String(), sandbox.Faults{
		Throttle: 0.05, ServerError: 0.05, Drop: 0.02, Garble: 0.02, Reject: 0.01, RetryAfter: 0, Seed: 3,
	}, "  batch: {max_items: 50}\n  concurrency: 8\n")
	rep := h.run()
	assert.Equal(t, "completed", rep.State)
	assert.Equal(t, int64(3000), rep.Read)
	assert.Equal(t, rep.Read, rep.Loaded+rep.Failed, "none lost, none in limbo")
	assert.Positive(t, rep.Retried, "the faults were retried")
	assert.Positive(t, rep.Failed, "1% are rejected by the target")

	fails := h.failures()
	require.Len(t, fails, int(rep.Failed))
	failed := map[string]bool{}
	for _, f := range fails {
		assert.Equal(t, "load", f.Stage)
		assert.Equal(t, "MESSAGE_REJECTED", f.Code, "only the target's rejections fail: %s", f.Error)
		failed[f.Key] = true
	}
	// None doubled: what the target holds is exactly what the ledger says
	// was loaded, each under the id the target gave it.
	assert.Equal(t, rep.Loaded, h.fake.MyKaarma.Unique())
	h.withLedger(func(l *ledgerView) {
		counts, err := l.Counts()
		require.NoError(t, err)
		assert.Equal(t, map[string]int{ledger.Loaded: int(rep.Loaded), ledger.Failed: int(rep.Failed)}, counts)
		for _, st := range h.fake.MyKaarma.All() {
			assert.False(t, failed[st.SourceUUID])
			e, ok, err := l.Entry(st.SourceUUID)
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, ledger.Loaded, e.Status)
			assert.Equal(t, st.MessageUUID, e.TargetID)
		}
	})
}

func TestResumeSendsOnlyWhatIsLeft(t *testing.T) {
	var sb strings.Builder
	require.NoError(t, gen.WriteCSV(&sb, gen.Spec{Rows: 1000, Routes: 20, Seed: 1}))
	h := newHarness(t, sb.String(), sandbox.Faults{}, "")
	rep := h.run(func(o *pipeline.Options) { o.Limit = 300 })
	assert.Equal(t, int64(300), rep.Loaded)
	rep = h.run()
	assert.Equal(t, int64(700), rep.Loaded)
	assert.Equal(t, int64(300), rep.SkippedBy.AlreadyLoaded)
	assert.Equal(t, int64(1000), h.fake.MyKaarma.Unique())
	for _, st := range h.fake.MyKaarma.All() {
		assert.Equal(t, 1, st.Times, "sent once: %s", st.SourceUUID)
	}
}

func TestChangedRecordIsReportedNotResent(t *testing.T) {
	h := newHarness(t, csvHeader+row(1, "one")+row(2, "two"), sandbox.Faults{}, "")
	h.run()
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "messages.csv"), []byte(csvHeader+row(1, "one")+row(2, "two edited")), 0o644))
	rep := h.run()
	assert.Equal(t, pipeline.SkippedBy{AlreadyLoaded: 1, Changed: 1}, rep.SkippedBy)
	require.Len(t, rep.Changed, 1)
	assert.Equal(t, "messages.csv:3", rep.Changed[0].Origin)
	assert.Contains(t, h.logs.String(), "records changed since they were loaded were not resent")
	assert.Equal(t, 1, strings.Count(h.logs.String(), "changed since"), "one line, not one per record")
	for _, st := range h.fake.MyKaarma.All() {
		assert.Equal(t, 1, st.Times)
	}
}

func TestRetryResendsWhatFailed(t *testing.T) {
	var sb strings.Builder
	require.NoError(t, gen.WriteCSV(&sb, gen.Spec{Rows: 400, Routes: 5, Seed: 2}))
	h := newHarness(t, sb.String(), sandbox.Faults{Reject: 0.1, Seed: 1}, "")
	rep := h.run()
	require.Positive(t, rep.Failed)
	failed := rep.Failed

	// The target's rule is lifted; retry sends exactly the failed items.
	h.fake = sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p"}})
	t.Cleanup(h.fake.Close)
	rep, err := pipeline.Retry(context.Background(), context.Background(), h.load(), h.opts())
	require.NoError(t, err)
	assert.Equal(t, failed, rep.Read)
	assert.Equal(t, failed, rep.Loaded)
	assert.Equal(t, failed, h.fake.MyKaarma.Unique())
	h.withLedger(func(l *ledgerView) {
		counts, err := l.Counts()
		require.NoError(t, err)
		assert.Equal(t, map[string]int{ledger.Loaded: 400}, counts)
	})
}

func TestDryRunSendsNothing(t *testing.T) {
	h := newHarness(t, csvHeader+row(1, "one")+row(2, "two")+row(2, "two")+"3,x\n", sandbox.Faults{}, "")
	rep := h.run(func(o *pipeline.Options) { o.DryRun = true })
	assert.Equal(t, int64(2), rep.WouldSend)
	assert.Equal(t, int64(1), rep.SkippedBy.Duplicate)
	assert.Equal(t, int64(1), rep.FailedBy.Read)
	assert.Equal(t, int64(0), h.fake.MyKaarma.Stats.Requests.Load())
	assert.NoFileExists(t, h.load().State)
}

func TestSecretsNeverWritten(t *testing.T) {
	const secret = "Tr0ub4dor&3-horse"
	h := newHarness(t, csvHeader+row(1, "one"), sandbox.Faults{}, "")
	require.NoError(t, os.WriteFile(h.job, []byte(strings.Replace(mustRead(t, h.job), "password: p", "password: ${SECRET}", 1)), 0o644))
	j, err := loadWithEnv(h, map[string]string{"SECRET": secret}) // the fake expects "p": a 401
	require.NoError(t, err)
	rep, err := pipeline.Run(context.Background(), context.Background(), j, h.opts())
	require.Error(t, err, "a refused password stops the run")
	assert.Contains(t, err.Error(), "HTTP 401")
	assert.NotContains(t, err.Error(), secret)
	assert.Equal(t, int64(0), rep.Failed, "nothing failed: the record stays unsent for the next run")
	assert.Equal(t, int64(1), rep.Unsent)
	for _, path := range []string{j.Report, j.Failures, j.State, j.State + "-wal"} {
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		assert.NotContains(t, string(b), secret, path)
	}
	assert.NotContains(t, h.logs.String(), secret)
}

func mustRead(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
