package pipeline_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/msgmigrate/msgmigrate/api/tracezilla"
	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// tzFaults are what each side throws at a run: 429 with Retry-After, 5xx,
// dropped connections, answers cut short.
var tzFaults = sandbox.Faults{ServerError: 0.05, Throttle: 0.05, Drop: 0.02, Garble: 0.03, Seed: 3}

// tzLookups are the migration's lookup tables (REPO: the repository).
const tzLookups = `lookups:
  customers:   {file: REPO/testdata/tracezilla/customers.csv, key: key, value: customer_uuid}
  departments: {file: REPO/testdata/tracezilla/departments.csv, key: model, value: department_uuid}
  users:       {file: REPO/testdata/tracezilla/users.csv, key: user_id, value: user_uuid}
`

// tzEnv is a directory of jobs against one sandbox.
type tzEnv struct {
	t    *testing.T
	fake *sandbox.Running
	dir  string
	repo string
}

func newTZEnv(t *testing.T, cfg sandbox.TracezillaConfig) *tzEnv {
	t.Helper()
	cfg.Token = "t0k"
	fake := sandbox.Start(sandbox.Config{Tracezilla: cfg,
		MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p", Faults: sandbox.Faults{Throttle: 0.05, ServerError: 0.05, Seed: 4}}})
	t.Cleanup(fake.Close)
	wd, err := os.Getwd()
	require.NoError(t, err)
	return &tzEnv{t: t, fake: fake, dir: t.TempDir(), repo: filepath.Dir(wd)}
}

// write writes a job (or mapping) file into the directory.
func (e *tzEnv) write(name, text string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	require.NoError(e.t, os.WriteFile(p, []byte(replaceAll(text, "REPO", e.repo)), 0o644))
	return p
}

// migration writes the migration job: the tracezilla source with extra
// keys, the built-in mapping (or another), myKaarma.
func (e *tzEnv) migration(extra, mapping string) string {
	if mapping == "" {
		mapping = "builtin:tracezilla-to-mykaarma"
	}
	return e.write("migrate.yaml", `source:
  kind: tracezilla
  url: sandbox
  token: t0k
  per_page: 20
  retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}
`+extra+`mapping: `+mapping+`
`+tzLookups+`sink:
  kind: mykaarma
  url: sandbox
  username: u
  password: p
  retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}
state: migrate.db
`)
}

// writeback writes the write-back job from the migration's ledger.
func (e *tzEnv) writeback(mapping, sinkExtra string) string {
	if mapping == "" {
		mapping = "builtin:writeback-tracezilla"
	}
	return e.write("writeback.yaml", `source: {kind: ledger, state: migrate.db}
mapping: `+mapping+`
sink:
  kind: tracezilla
  url: sandbox
  token: t0k
  concurrency: 4
  retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}
`+sinkExtra+`state: writeback.db
`)
}

func (e *tzEnv) run(path string, limit int) (*pipeline.Report, error) {
	e.t.Helper()
	j, err := job.Load(path, nil, func(string) (string, bool) { return "", false })
	require.NoError(e.t, err)
	return pipeline.Run(context.Background(), context.Background(), j,
		pipeline.Options{URLs: e.fake, Limit: limit, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func (e *tzEnv) mustRun(path string) *pipeline.Report {
	e.t.Helper()
	rep, err := e.run(path, 0)
	require.NoError(e.t, err)
	return rep
}

// watermark is the migration ledger's watermark ("" when none).
func (e *tzEnv) watermark() string {
	e.t.Helper()
	rs, err := ledger.Readers(filepath.Join(e.dir, "migrate.db"))
	require.NoError(e.t, err)
	defer rs[0].Close()
	w, err := rs[0].Meta("watermark")
	require.NoError(e.t, err)
	return w
}

// count counts the fake's messages by the status they show now.
func (e *tzEnv) count() map[string]int {
	out := map[string]int{}
	for _, m := range e.fake.Tracezilla.Messages() {
		out[m.Status]++
	}
	return out
}

// grow adds k messages newer than every message there.
func (e *tzEnv) grow(k int) {
	msgs := e.fake.Tracezilla.Messages()
	last, err := time.Parse(time.RFC3339, msgs[len(msgs)-1].CreatedAt)
	require.NoError(e.t, err)
	e.fake.Tracezilla.Generate(k, last.Add(time.Minute))
}

// Each reading of tracezilla's paging, with faults on both sides: every
// message that is sent reaches myKaarma once, the pending and failed ones
// are skipped by rule and counted; a second run sends nothing; new
// messages are all a third run sends.
func TestTracezillaMigrationEveryReading(t *testing.T) {
	cases := map[string]struct {
		cfg    sandbox.TracezillaConfig
		source string
	}{
		"links.next and meta":     {sandbox.TracezillaConfig{Paging: sandbox.TracezillaPagingNext}, ""},
		"links.next_page":         {sandbox.TracezillaConfig{Paging: sandbox.TracezillaPagingNextPage}, ""},
		"both":                    {sandbox.TracezillaConfig{Paging: sandbox.TracezillaPagingBoth}, ""},
		"no status, read as sent": {sandbox.TracezillaConfig{NoStatus: true}, "  status: sent\n"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			c.cfg.Messages, c.cfg.Faults = 500, tzFaults
			e := newTZEnv(t, c.cfg)
			job := e.migration(c.source, "")
			n := e.count()

			rep := e.mustRun(job)
			assert.Equal(t, "completed", rep.State)
			assert.Equal(t, int64(n[api.StatusSent]), rep.Loaded, "failed: %+v %v", rep.FailedBy, rep.FailedByCode)
			assert.Equal(t, int64(n[api.StatusSent]), e.fake.MyKaarma.Unique(), "every sent message once")
			if c.source == "" {
				assert.Equal(t, int64(n[api.StatusPending]+n[api.StatusFailed]), rep.SkippedBy.Rule, "pending and failed: skipped by rule, counted")
			}
			assert.NotEmpty(t, e.watermark())
			assert.Positive(t, e.fake.Tracezilla.Stats.Faulted.Load())

			accepted := e.fake.MyKaarma.Stats.Accepted.Load()
			rep = e.mustRun(job)
			assert.Equal(t, int64(0), rep.Loaded, "nothing new")
			assert.Less(t, rep.Read, int64(100), "only the lookback window is read again")
			assert.Equal(t, accepted, e.fake.MyKaarma.Stats.Accepted.Load(), "nothing sent")

			e.grow(40)
			rep = e.mustRun(job)
			now := e.count()
			assert.Equal(t, int64(now[api.StatusSent]-n[api.StatusSent]), rep.Loaded, "only the new sent messages")
			assert.Equal(t, int64(now[api.StatusSent]), e.fake.MyKaarma.Unique())
		})
	}
}

// Messages are sent while a full run reads them (pages by updated_at
// would shift): the run reads every message once; one read while pending
// is skipped, and the next run, from the watermark, loads it once it is
// sent. Nothing lost, nothing doubled.
func TestTracezillaMessagesSentDuringAMigration(t *testing.T) {
	for _, paging := range []string{sandbox.TracezillaPagingNext, sandbox.TracezillaPagingNextPage} {
		t.Run(paging, func(t *testing.T) {
			e := newTZEnv(t, sandbox.TracezillaConfig{Messages: 500, Paging: paging, Churn: 0.01, Seed: 8, Faults: tzFaults})
			job := e.migration("", "")
			rep := e.mustRun(job)
			assert.Equal(t, int64(500), rep.Read, "every message read once")
			e.fake.Tracezilla.Set(func(c *sandbox.TracezillaConfig) { c.Churn = 0 })
			changed := 0
			msgs := e.fake.Tracezilla.Messages()
			for _, m := range msgs {
				if m.UpdatedAt > msgs[len(msgs)-1].CreatedAt {
					changed++
				}
			}
			require.Positive(t, changed, "messages were sent during the run")
			e.mustRun(job)
			assert.Equal(t, int64(e.count()[api.StatusSent]), e.fake.MyKaarma.Unique(), "every message sent by now, once")
		})
	}
}

// A read that got less than the API said exists has not completed: the run
// ends with the listing's error, and the watermark does not move; once
// the listing is whole, a run completes and loads what is missing.
func TestTracezillaAnIncompleteReadKeepsTheWatermark(t *testing.T) {
	e := newTZEnv(t, sandbox.TracezillaConfig{Messages: 300, PhantomMessages: 5})
	job := e.migration("", "")

	// A full run: meta.total counts messages no page serves.
	rep, err := e.run(job, 0)
	var pe *api.PagingError
	require.ErrorAs(t, err, &pe)
	assert.Contains(t, err.Error(), "the listing stopped at page 15 of 16 (meta.last_page)")
	assert.Equal(t, "failed", rep.State)
	assert.Empty(t, e.watermark(), "no watermark after an incomplete read")

	e.fake.Tracezilla.Set(func(c *sandbox.TracezillaConfig) { c.PhantomMessages = 0 })
	rep = e.mustRun(job)
	assert.Equal(t, "completed", rep.State)
	mark := e.watermark()
	require.NotEmpty(t, mark)
	assert.Equal(t, int64(e.count()[api.StatusSent]), e.fake.MyKaarma.Unique())

	// An incremental run whose listing repeats a page: the watermark stays.
	e.grow(60)
	e.fake.Tracezilla.Set(func(c *sandbox.TracezillaConfig) { c.RepeatPage = 2 })
	_, err = e.run(job, 0)
	require.ErrorAs(t, err, &pe)
	assert.Contains(t, err.Error(), "repeats page 2")
	assert.Equal(t, mark, e.watermark())

	e.fake.Tracezilla.Set(func(c *sandbox.TracezillaConfig) { c.RepeatPage = 0 })
	rep = e.mustRun(job)
	assert.Equal(t, "completed", rep.State)
	assert.Greater(t, e.watermark(), mark)
	assert.Equal(t, int64(e.count()[api.StatusSent]), e.fake.MyKaarma.Unique(), "nothing lost")
}

// A trial run with --limit does not move the watermark: the next run still
// reads everything it did not.
func TestTracezillaLimitedTrialKeepsTheWatermark(t *testing.T) {
	e := newTZEnv(t, sandbox.TracezillaConfig{Messages: 300})
	job := e.migration("  status: sent\n", "")
	n := e.count()[api.StatusSent]
	assert.Equal(t, int64(n), e.mustRun(job).Loaded)
	// 100 new messages over 100 minutes; a trial reads the newest 10.
	e.grow(100)
	fresh := e.count()[api.StatusSent] - n
	rep, err := e.run(job, 10)
	require.NoError(t, err)
	assert.Equal(t, int64(10), rep.Loaded)
	assert.Equal(t, int64(fresh-10), e.mustRun(job).Loaded, "the rest, not just what is newer than the trial")
	assert.Equal(t, int64(n+fresh), e.fake.MyKaarma.Unique())
}

// After a migration, the write-back tells tracezilla where every message
// went — only on messages tracezilla shows as sent right before the write,
// each keeping its sent_at: one sent since the migration read it and then
// failed (a bounce) is refused, one deleted is NOT_FOUND; no pending or
// failed message is ever marked sent. A rerun sends nothing new. In every
// reading of a message record, with faults on.
func TestTracezillaWriteBack(t *testing.T) {
	for name, cfg := range map[string]sandbox.TracezillaConfig{
		"documented":   {},
		"no sent_note": {HideNote: true},
		"wrapped":      {Wrap: true},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.Messages, cfg.Faults = 200, tzFaults
			e := newTZEnv(t, cfg)
			require.Equal(t, "completed", e.mustRun(e.migration("", "")).State)
			before := map[string]api.Message{}
			for _, m := range e.fake.Tracezilla.Messages() {
				before[m.ID] = m
			}
			var sent []string
			for _, m := range e.fake.Tracezilla.Messages() {
				if m.Status == api.StatusSent {
					sent = append(sent, m.ID)
				}
			}
			bounced, gone := sent[3], sent[7]
			e.fake.Tracezilla.SetStatus(bounced, api.StatusFailed)
			e.fake.Tracezilla.Remove(gone)

			wb := e.writeback("", "")
			rep := e.mustRun(wb)
			assert.Equal(t, int64(len(sent)), rep.Read)
			assert.Equal(t, int64(len(sent)-2), rep.Loaded, "%+v %v", rep.FailedBy, rep.FailedByCode)
			assert.Equal(t, map[string]int64{api.NotFound: 1}, rep.FailedByCode)
			assert.Equal(t, map[string]int64{"not sent": 1}, rep.SkippedBy.Sink, "a bounce since the migration: skipped by rule, counted")
			failures, err := os.ReadFile(filepath.Join(e.dir, ".msgmigrate", "writeback.failures.jsonl"))
			require.NoError(t, err)
			assert.NotContains(t, string(failures), bounced)
			assert.Contains(t, string(failures), "No query results for model [Message] "+gone)

			assert.Empty(t, e.fake.Tracezilla.Damage(), "no message marked sent that was not, no sent_at moved")
			rs, err := ledger.Readers(filepath.Join(e.dir, "migrate.db"))
			require.NoError(t, err)
			defer rs[0].Close()
			require.NoError(t, rs[0].Loaded(func(en ledger.Entry) error {
				id := en.Origin.ID
				if id == bounced || id == gone {
					return nil
				}
				sentAt, note, times := e.fake.Tracezilla.Sent(id)
				assert.Equal(t, "Migrated to myKaarma as message "+en.TargetID, note)
				assert.Equal(t, *before[id].SentAt, sentAt, "sent_at kept")
				assert.GreaterOrEqual(t, times, 1)
				return nil
			}))
			for _, m := range e.fake.Tracezilla.Messages() {
				if before[m.ID].Status != api.StatusSent {
					_, _, times := e.fake.Tracezilla.Sent(m.ID)
					assert.Zero(t, times, "message %s (%s) never written", m.ID, before[m.ID].Status)
				}
			}

			puts := e.fake.Tracezilla.Stats.Puts.Load()
			rep = e.mustRun(wb)
			assert.Equal(t, int64(0), rep.Loaded, "a rerun sends nothing new")
			assert.Equal(t, int64(len(sent)-2), rep.SkippedBy.AlreadyLoaded)
			assert.Equal(t, puts, e.fake.Tracezilla.Stats.Puts.Load(), "not one PUT more")
		})
	}
}

// The rule cannot be bypassed by a mapping: a migration that loads every
// message (no where) and a write-back that stamps every one with
// loaded_at — what the old built-in did — marks no pending or failed
// message sent and moves no sent_at. Pending and failed messages are
// skipped (not sent), sent ones fail as WOULD_CHANGE_SENT_AT; nothing is
// written.
func TestTracezillaTheRuleCannotBeBypassedByAMapping(t *testing.T) {
	e := newTZEnv(t, sandbox.TracezillaConfig{Messages: 200})
	builtin, err := os.ReadFile(filepath.Join(e.repo, "mappings", "tracezilla-to-mykaarma.yaml"))
	require.NoError(t, err)
	all := strings.Replace(string(builtin), `where: row.status == "sent"`, "", 1)
	all = strings.Replace(all, "time(row.sent_at)", "time(row.sent_at ?? row.created_at)", 2)
	require.NotEqual(t, string(builtin), all)
	e.write("all.yaml", all)
	require.Equal(t, int64(200), e.mustRun(e.migration("", "all.yaml")).Loaded)

	e.write("stamp.yaml", `version: 1
sink: tracezilla
route:
  id: row.source_id
fields:
  sent_at: time(row.loaded_at)
  sent_note: '"Migrated to myKaarma as message " + row.target_id'
`)
	n := e.count()
	rep := e.mustRun(e.writeback("stamp.yaml", ""))
	assert.Equal(t, int64(0), rep.Loaded)
	assert.Equal(t, map[string]int64{api.WouldChangeSentAt: int64(n[api.StatusSent])}, rep.FailedByCode)
	assert.Equal(t, map[string]int64{"not sent": int64(n[api.StatusPending] + n[api.StatusFailed])}, rep.SkippedBy.Sink)
	assert.Zero(t, e.fake.Tracezilla.Stats.Puts.Load(), "nothing written")
	assert.Empty(t, e.fake.Tracezilla.Damage())
	assert.Equal(t, n, e.count(), "every status as it was")

	// Told that it is a correction, the same job changes when sent messages
	// went out — and still marks no other message sent.
	rep = e.mustRun(e.writeback("stamp.yaml", "  change_sent_at: true\n"))
	assert.Equal(t, int64(n[api.StatusSent]), rep.Loaded)
	assert.Empty(t, rep.FailedByCode)
	assert.Equal(t, map[string]int64{"not sent": int64(n[api.StatusPending] + n[api.StatusFailed])}, rep.SkippedBy.Sink)
	assert.Equal(t, n, e.count(), "every status as it was")
	for _, d := range e.fake.Tracezilla.Damage() {
		assert.Contains(t, d, "sent_at", "only sent_at moved, as asked: %s", d)
	}
}

// A CSV of corrections through the tracezilla sink: a sent message's time
// is corrected only when the job says change_sent_at; a pending message is
// never marked sent; a missing one fails alone as NOT_FOUND; a date that is
// not one fails before anything is sent; a rerun sends nothing.
func TestTracezillaCorrections(t *testing.T) {
	e := newTZEnv(t, sandbox.TracezillaConfig{Messages: 30})
	var sent []api.Message
	var pending api.Message
	for _, m := range e.fake.Tracezilla.Messages() {
		switch m.Status {
		case api.StatusSent:
			sent = append(sent, m)
		case api.StatusPending:
			pending = m
		}
	}
	require.GreaterOrEqual(t, len(sent), 2)
	require.NotEmpty(t, pending.ID)
	e.write("fix.csv", "id,sent,note\n"+
		sent[0].ID+",2024-02-01 10:00:00,Sent by post\n"+
		sent[1].ID+",2024-02-01T11:00:00+01:00,Sent by fax\n"+
		pending.ID+",2024-02-01 10:00:00,Never went out\n"+
		"00000000-0000-0000-0000-000000000000,2024-02-01 10:00:00,Gone\n"+
		sent[2].ID+",yesterday,Bad date\n")
	e.write("fix.yaml", "version: 1\nsink: tracezilla\nroute: {id: row.id}\nfields:\n  sent_at: time(row.sent)\n  sent_note: row.note\n")
	job := func(extra string) string {
		return e.write("fix.job.yaml", "source: {kind: csv, path: fix.csv}\nmapping: fix.yaml\nsink: {kind: tracezilla, url: sandbox, token: t0k"+extra+"}\n")
	}

	rep := e.mustRun(job(""))
	assert.Equal(t, int64(0), rep.Loaded, "without change_sent_at a sent_at stays")
	assert.Equal(t, map[string]int64{api.WouldChangeSentAt: 2, api.NotFound: 1}, rep.FailedByCode)
	assert.Equal(t, map[string]int64{"not sent": 1}, rep.SkippedBy.Sink)
	assert.Equal(t, int64(1), rep.FailedBy.Map, "a date that is not one fails before sending")

	rep = e.mustRun(job(", change_sent_at: true"))
	assert.Equal(t, int64(2), rep.Loaded, "%v", rep.FailedByCode)
	assert.Equal(t, map[string]int64{api.NotFound: 1}, rep.FailedByCode)
	at0, note0, _ := e.fake.Tracezilla.Sent(sent[0].ID)
	assert.Equal(t, "2024-02-01T10:00:00.000Z", at0)
	assert.Equal(t, "Sent by post", note0)
	at1, _, _ := e.fake.Tracezilla.Sent(sent[1].ID)
	assert.Equal(t, "2024-02-01T10:00:00.000Z", at1)
	got, _ := e.fake.Tracezilla.Message(pending.ID)
	assert.Equal(t, api.StatusPending, got.Status, "never marked sent")

	puts := e.fake.Tracezilla.Stats.Puts.Load()
	rep = e.mustRun(job(", change_sent_at: true"))
	assert.Equal(t, int64(0), rep.Loaded)
	assert.Equal(t, int64(2), rep.SkippedBy.AlreadyLoaded)
	assert.Equal(t, puts, e.fake.Tracezilla.Stats.Puts.Load(), "a rerun writes nothing")
}
