package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	apig "github.com/msgmigrate/msgmigrate/api/gorgias"
	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// gorgiasSource is a job's source section for the fake: its bucket of 40
// calls leaks in 100 ms (the real one in 20 s), and the source is told so.
const gorgiasSource = `{kind: gorgias, url: sandbox, username: ops@shop.example, api_key: k, rate: 1000/s, limit: 50,
  account_window: 100ms, retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}}`

const gorgiasLookups = `lookups:
  customers:   {file: REPO/testdata/gorgias/customers.csv, key: email, value: customer_uuid}
  departments: {file: REPO/testdata/gorgias/departments.csv, key: channel, value: department_uuid}
  users:       {file: REPO/testdata/gorgias/users.csv, key: email, value: user_uuid}
`

func repoDir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	return filepath.Dir(wd)
}

// writeJob writes a job file into dir, REPO standing for the repository.
func writeJob(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(strings.ReplaceAll(text, "REPO", repoDir(t))), 0o644))
	return path
}

func runJob(t *testing.T, fake *sandbox.Running, path string) *pipeline.Report {
	t.Helper()
	j, err := job.Load(path, nil, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	rep, err := pipeline.Run(context.Background(), context.Background(), j, pipeline.Options{URLs: fake, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	return rep
}

func gorgiasMigration(t *testing.T, dir string) string {
	return writeJob(t, dir, "migrate.yaml", "source: "+gorgiasSource+"\nmapping: builtin:gorgias-to-mykaarma\n"+gorgiasLookups+
		"sink: {kind: mykaarma, url: sandbox, username: u, password: p, retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}}\nstate: migrate.db\n")
}

func countDeleted(msgs []apig.Message) int {
	n := 0
	for _, m := range msgs {
		if m.DeletedDatetime != nil {
			n++
		}
	}
	return n
}

// A Gorgias account migrated to myKaarma, with faults on both sides and
// other apps spending from the account's budget: every message that is not
// deleted is loaded once, as what it is — a note is a NOTE whatever its
// channel, a channel newer than the mapping is TEXT, the historical flags
// are set; deleted messages are skipped and counted; a second run sends
// nothing; new messages are all a third run sends.
func TestGorgiasMigration(t *testing.T) {
	fake := sandbox.Start(sandbox.Config{
		Gorgias: sandbox.GorgiasConfig{Email: "ops@shop.example", APIKey: "k", Messages: 600, BucketSize: 40, LeakPerSecond: 400,
			OtherApps: 200, OtherAppsUsed: 30, Faults: sandbox.Faults{ServerError: 0.05, Throttle: 0.03, Drop: 0.02, Garble: 0.02, Seed: 2}},
		MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p", Faults: sandbox.Faults{Throttle: 0.05, ServerError: 0.05, Seed: 4}},
	})
	defer fake.Close()
	path := gorgiasMigration(t, t.TempDir())

	rep := runJob(t, fake, path)
	msgs := fake.Gorgias.Messages()
	deleted := countDeleted(msgs)
	require.Positive(t, deleted)
	assert.Equal(t, int64(len(msgs)), rep.Read)
	assert.Equal(t, int64(len(msgs)-deleted), rep.Loaded, "failed: %+v", rep.FailedBy)
	assert.Equal(t, map[string]int64{"deleted": int64(deleted)}, rep.SkippedBy.Source)
	assert.Equal(t, int64(len(msgs)-deleted), fake.MyKaarma.Unique())
	assert.Positive(t, fake.Gorgias.Stats.Faulted.Load())

	byID := map[string]apig.Message{}
	for _, m := range msgs {
		byID[strconv.FormatInt(m.ID, 10)] = m
	}
	kinds := map[string]int{}
	for _, st := range fake.MyKaarma.All() {
		var p struct {
			SentOn            time.Time `json:"sentOn"`
			MessageAttributes struct {
				Type, Protocol             string
				UpdateThreadTimestamp      *bool
				UpdateTotalMessageCount    *bool
				ShowInCustomerConversation *bool
				MetaData                   map[string]string
			}
		}
		require.NoError(t, json.Unmarshal(st.Payload, &p))
		a := p.MessageAttributes
		m, ok := byID[a.MetaData["gorgiasMessageId"]]
		require.True(t, ok)
		assert.Nil(t, m.DeletedDatetime, "%d: a deleted message is not migrated", m.ID)
		assert.Equal(t, 1, st.Times, "%d: loaded once", m.ID)
		require.NotNil(t, a.UpdateThreadTimestamp)
		assert.False(t, *a.UpdateThreadTimestamp)
		assert.True(t, *a.UpdateTotalMessageCount)
		assert.Equal(t, m.Public, *a.ShowInCustomerConversation)
		sent := m.CreatedDatetime
		if m.SentDatetime != nil {
			sent = *m.SentDatetime
		}
		want, err := apig.ParseTime(sent)
		require.NoError(t, err)
		assert.True(t, want.Truncate(time.Millisecond).Equal(p.SentOn), "%d: sentOn %v from %q", m.ID, p.SentOn, sent)
		switch {
		case !m.Public:
			kinds["note on "+m.Channel]++
			assert.Equal(t, []string{"NOTE", "NONE"}, []string{a.Type, a.Protocol}, "%d", m.ID)
		case m.Channel == sandbox.NewChannel:
			kinds["new channel"]++
			assert.Equal(t, "TEXT", a.Protocol)
			assert.Equal(t, sandbox.NewChannel, a.MetaData["gorgiasChannel"])
		case m.Channel == "email":
			assert.Equal(t, "EMAIL", a.Protocol)
		}
		if m.Public {
			assert.Equal(t, map[bool]string{true: "OUTGOING", false: "INCOMING"}[m.FromAgent], a.Type, "%d", m.ID)
		}
	}
	assert.Equal(t, map[string]int{"note on internal-note": 30, "note on email": 30, "new channel": 30}, kinds)

	accepted := fake.MyKaarma.Stats.Accepted.Load()
	rep = runJob(t, fake, path)
	assert.Zero(t, rep.Loaded, "nothing new")
	assert.Less(t, rep.Read, int64(100), "only the lookback window is read again")
	assert.Equal(t, accepted, fake.MyKaarma.Stats.Accepted.Load(), "nothing sent")

	last, err := apig.ParseTime(msgs[len(msgs)-1].CreatedDatetime)
	require.NoError(t, err)
	fresh := fake.Gorgias.Generate(40, last.Add(time.Minute))
	rep = runJob(t, fake, path)
	assert.Equal(t, int64(40-countDeleted(fresh)), rep.Loaded, "only the new messages")
	assert.Equal(t, int64(len(msgs)+40-deleted-countDeleted(fresh)), fake.MyKaarma.Unique())
}

// Extraction overlaps loading: the first batch reaches the target long
// before the last page is fetched.
func TestGorgiasExtractionOverlapsLoading(t *testing.T) {
	fake := sandbox.Start(sandbox.Config{
		Gorgias:  sandbox.GorgiasConfig{Email: "e", APIKey: "k", Messages: 3000, BucketSize: 1000, LeakPerSecond: 1000, Faults: sandbox.Faults{Latency: 10 * time.Millisecond}},
		MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p"},
	})
	defer fake.Close()
	path := writeJob(t, t.TempDir(), "g.yaml", "source: {kind: gorgias, url: sandbox, username: e, api_key: k, rate: 1000/s, limit: 50, account_window: 1s}\n"+
		"mapping: builtin:gorgias-to-mykaarma\n"+gorgiasLookups+"sink: {kind: mykaarma, url: sandbox, username: u, password: p, batch: {max_items: 20, linger: 20ms}}\n")
	rep := runJob(t, fake, path)
	require.Equal(t, int64(3000-countDeleted(fake.Gorgias.Messages())), rep.Loaded)
	first, last := time.Unix(0, fake.MyKaarma.Stats.FirstAt.Load()), time.Unix(0, fake.Gorgias.Stats.LastAt.Load())
	assert.True(t, first.Before(last), "first send %v, last page %v", first, last)
	assert.Greater(t, last.Sub(first), 200*time.Millisecond, "long before: most pages come after the first send")
}

// The write-back after a migration, under each reading of Gorgias's update
// (partial or full replace) and with its answer echoing the message or
// not, with faults: every message gets its myKaarma id once; every body,
// send time and other integration's external_id is intact; nothing is sent
// or deleted; what is left alone is in the failures file with its reason;
// a rerun sends nothing; overwrite: true then replaces the other
// integrations' ids and rewrites nothing else.
func TestGorgiasWriteBackUnderEveryReading(t *testing.T) {
	for _, reading := range []sandbox.GorgiasUpdate{sandbox.GorgiasPartial, sandbox.GorgiasReplace} {
		for _, echo := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s echo=%v", reading, echo), func(t *testing.T) {
				fake := sandbox.Start(sandbox.Config{
					Gorgias: sandbox.GorgiasConfig{Email: "ops@shop.example", APIKey: "k", Messages: 120, BucketSize: 40, LeakPerSecond: 800,
						Update: reading, NoEcho: !echo, Faults: sandbox.Faults{ServerError: 0.05, Drop: 0.03, Garble: 0.03, Throttle: 0.03, Seed: 9}},
					MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p"},
				})
				defer fake.Close()
				dir := t.TempDir()
				rep := runJob(t, fake, gorgiasMigration(t, dir))
				before := fake.Gorgias.Messages()
				require.Equal(t, int64(len(before)-countDeleted(before)), rep.Loaded)

				wb := func(name, extra string) string {
					return writeJob(t, dir, name+".yaml", "source: {kind: ledger, path: migrate.db}\nmapping: builtin:writeback-gorgias\n"+
						"sink: {kind: gorgias, url: sandbox, username: ops@shop.example, api_key: k, rate: 1000/s, account_window: 50ms, "+extra+
						"retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms}}\nstate: "+name+".db\n")
				}
				// What the migration recorded: each message's myKaarma id.
				target := map[int64]string{}
				rs, err := ledger.Readers(filepath.Join(dir, "migrate.db"))
				require.NoError(t, err)
				l := rs[0]
				require.NoError(t, l.Loaded(func(e ledger.Entry) error {
					id, err := strconv.ParseInt(e.Origin.ID, 10, 64)
					target[id] = e.TargetID
					return err
				}))
				require.NoError(t, l.Close())

				rep = runJob(t, fake, wb("writeback", ""))
				var theirs, unsent, ours []apig.Message
				for _, m := range before {
					switch {
					case m.DeletedDatetime != nil:
					case m.ExternalID != nil:
						theirs = append(theirs, m)
					case m.SentDatetime == nil:
						unsent = append(unsent, m)
					default:
						ours = append(ours, m)
					}
				}
				assert.Equal(t, int64(len(before)-countDeleted(before)), rep.Read)
				assert.Equal(t, int64(len(ours)), rep.Loaded, "%+v", rep.FailedBy)
				assert.Equal(t, int64(len(theirs)+len(unsent)), rep.FailedBy.Load)
				failures, err := os.ReadFile(filepath.Join(dir, ".msgmigrate", "writeback.failures.jsonl"))
				require.NoError(t, err)
				assert.Equal(t, len(theirs), strings.Count(string(failures), `"code":"CONFLICT"`))
				assert.Equal(t, len(unsent), strings.Count(string(failures), `"code":"UNSENT"`))
				assert.Contains(t, string(failures), "written by another integration")

				stamped := map[int64]bool{}
				for _, m := range ours {
					stamped[m.ID] = true
				}
				intact := func(overwritten bool) {
					t.Helper()
					for _, m := range before {
						after, ok := fake.Gorgias.Message(m.ID)
						require.True(t, ok)
						assert.Equal(t, m.BodyText, after.BodyText, "%d: body", m.ID)
						assert.Equal(t, m.BodyHTML, after.BodyHTML, "%d: body", m.ID)
						assert.Equal(t, m.Sender, after.Sender, "%d", m.ID)
						assert.Equal(t, m.Receiver, after.Receiver, "%d", m.ID)
						assert.Equal(t, m.Channel, after.Channel, "%d", m.ID)
						assert.Equal(t, m.Attachments, after.Attachments, "%d", m.ID)
						if m.SentDatetime == nil {
							assert.Nil(t, after.SentDatetime, "%d: still unsent", m.ID)
						} else if assert.NotNil(t, after.SentDatetime, "%d", m.ID) {
							a, _ := apig.ParseTime(*m.SentDatetime)
							b, _ := apig.ParseTime(*after.SentDatetime)
							assert.True(t, a.Equal(b), "%d: sent_datetime %s, was %s", m.ID, *after.SentDatetime, *m.SentDatetime)
						}
						switch {
						case stamped[m.ID] || (overwritten && m.ExternalID != nil && m.DeletedDatetime == nil):
							require.NotNil(t, after.ExternalID, "%d", m.ID)
							assert.Equal(t, target[m.ID], *after.ExternalID, "%d: its myKaarma id", m.ID)
							assert.Len(t, fake.Gorgias.Updates(m.ID), 1, "%d: written once", m.ID)
						default:
							assert.Equal(t, m.ExternalID, after.ExternalID, "%d: left alone", m.ID)
							assert.Empty(t, fake.Gorgias.Updates(m.ID), "%d", m.ID)
						}
					}
					assert.Zero(t, fake.Gorgias.Stats.Sends.Load(), "nothing sent")
					assert.Zero(t, fake.Gorgias.Stats.Deletes.Load(), "nothing deleted")
				}
				intact(false)
				assert.Positive(t, fake.Gorgias.Stats.Faulted.Load())

				rep = runJob(t, fake, wb("writeback", ""))
				assert.Zero(t, rep.Loaded, "a rerun writes nothing")
				intact(false)

				rep = runJob(t, fake, wb("overwrite", "overwrite: true, "))
				assert.Equal(t, int64(len(ours)+len(theirs)), rep.Loaded, "%+v", rep.FailedBy)
				assert.Equal(t, int64(len(unsent)), rep.FailedBy.Load, "still never sent")
				intact(true)
			})
		}
	}
}

// An update Gorgias answers 200 but does not apply fails as NOT_APPLIED;
// the message is as it was.
func TestGorgiasWriteBackThatWasNotApplied(t *testing.T) {
	fake := sandbox.Start(sandbox.Config{
		Gorgias:  sandbox.GorgiasConfig{Email: "ops@shop.example", APIKey: "k", Messages: 200, BucketSize: 400, LeakPerSecond: 4000, Ignore: 0.2, Seed: 3},
		MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p"},
	})
	defer fake.Close()
	dir := t.TempDir()
	runJob(t, fake, gorgiasMigration(t, dir))
	wb := writeJob(t, dir, "wb.yaml", "source: {kind: ledger, path: migrate.db}\nmapping: builtin:writeback-gorgias\n"+
		"sink: {kind: gorgias, url: sandbox, username: ops@shop.example, api_key: k, rate: 1000/s, account_window: 100ms}\nstate: wb.db\n")
	before := fake.Gorgias.Messages()
	rep := runJob(t, fake, wb)
	ignored := fake.Gorgias.Stats.Ignored.Load()
	require.Positive(t, ignored)
	failures, err := os.ReadFile(filepath.Join(dir, ".msgmigrate", "wb.failures.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, int(ignored), strings.Count(string(failures), `"code":"NOT_APPLIED"`))
	assert.Contains(t, string(failures), "did not apply the update: external_id is null, not")
	eligible, stamped, untouched := 0, 0, 0
	for _, m := range before {
		if m.DeletedDatetime != nil || m.SentDatetime == nil || m.ExternalID != nil {
			continue
		}
		eligible++
		after, _ := fake.Gorgias.Message(m.ID)
		if after.ExternalID == nil {
			untouched++
		} else {
			stamped++
		}
	}
	assert.Equal(t, int64(stamped), rep.Loaded)
	assert.Equal(t, int(ignored), untouched, "an update not applied leaves the message as it was")
	assert.Equal(t, eligible, stamped+untouched)
	assert.Zero(t, fake.Gorgias.Stats.Sends.Load())
}
