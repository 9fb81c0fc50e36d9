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
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/msgmigrate/msgmigrate/api/mykaarma"
	so "github.com/msgmigrate/msgmigrate/api/superoffice"
	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
	"github.com/msgmigrate/msgmigrate/transform"
)

// soReadings are the SuperOffice fake's readings an end-to-end run meets.
var soReadings = map[string]sandbox.SuperOfficeConfig{
	"offsets -0500, levels translated":           {},
	"SO-TimeZone ignored, levels in lower case":  {Dates: sandbox.SODatesIgnored, Language: sandbox.SOLanguageLower},
	"no offsets, levels untranslated, system":    {Dates: sandbox.SODatesNoOffset, Language: sandbox.SOLanguageRaw, Incoming: sandbox.SOIncomingSystem},
	"+01:00 offsets, replies name their person":  {Dates: sandbox.SODatesColon, RepliesNamePerson: true},
	"the archive moves while it is read":         {Shift: 2, Delete: 2, Grow: 1},
	"tokens that expire, creator 0 for incoming": {TokenUses: 40, Incoming: sandbox.SOIncomingZero},
}

func soRun(t *testing.T, fake *sandbox.Running, path string) *pipeline.Report {
	t.Helper()
	j, err := job.Load(path, nil, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	rep, err := pipeline.Run(context.Background(), context.Background(), j, pipeline.Options{URLs: fake, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	return rep
}

func soStart(t *testing.T, cfg sandbox.SuperOfficeConfig, n int) *sandbox.Running {
	t.Helper()
	cfg.Token, cfg.ClientID, cfg.ClientSecret, cfg.RefreshToken, cfg.Messages = "t0k", "cid", "cs", "rt", n
	cfg.Faults = sandbox.Faults{ServerError: 0.05, Throttle: 0.05, Drop: 0.02, Garble: 0.03, Seed: 6}
	fake := sandbox.Start(sandbox.Config{SuperOffice: cfg, MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p",
		Faults: sandbox.Faults{Throttle: 0.05, ServerError: 0.05, Seed: 4}}})
	t.Cleanup(fake.Close)
	return fake
}

const soSource = `source:
  kind: superoffice
  url: sandbox
  token: t0k
  refresh_token: rt
  client_id: cid
  client_secret: cs
  timezone: Europe/Oslo
  so_timezone: NO
  top: 60
  retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}
mapping: builtin:superoffice-to-mykaarma
lookups:
  customers:   {file: REPO/testdata/superoffice/customers.csv, key: key, value: customer_uuid}
  departments: {file: REPO/testdata/superoffice/departments.csv, key: key, value: department_uuid}
  users:       {file: REPO/testdata/superoffice/users.csv, key: associate, value: user_uuid}
sink: {kind: mykaarma, url: sandbox, username: u, password: p, retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}}
state: migrate.db
`

func soJob(t *testing.T, dir, name, text string) string {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(replaceAll(text, "REPO", filepath.Dir(wd))), 0o644))
	return path
}

// A migration from SuperOffice under each reading, faults on both sides:
// every message once, at its own instant, with its direction; a second run
// sends nothing; new messages are all a third run sends.
func TestSuperOfficeMigrationUnderEveryReading(t *testing.T) {
	for name, cfg := range soReadings {
		t.Run(name, func(t *testing.T) {
			fake := soStart(t, cfg, 300)
			before := fake.SuperOffice.Rows()
			path := soJob(t, t.TempDir(), "migrate.yaml", soSource)
			rep := soRun(t, fake, path)
			truth := fake.SuperOffice.Ever()
			assert.Equal(t, rep.Read, rep.Loaded, "failed: %+v", rep.FailedBy)
			for _, m := range truth {
				key, err := transform.UUID5("superoffice", strconv.FormatInt(m.ID, 10))
				require.NoError(t, err)
				st, ok := fake.MyKaarma.Stored(key)
				if !ok {
					assert.True(t, m.Deleted || m.Created.Before(before[0].Created), "message %d, there when the run began, was loaded", m.ID)
					continue
				}
				assert.Equal(t, 1, st.Times, "message %d loaded once", m.ID)
				var item api.SaveMessageRequest
				require.NoError(t, jsonUnmarshal(st.Payload, &item))
				assert.Equal(t, m.Created.Format("2006-01-02T15:04:05.000Z"), item.SentOn, "message %d's time", m.ID)
				want := map[string]string{so.Internal: "NOTE", so.Outgoing: "OUTGOING", so.Automatic: "OUTGOING", so.Incoming: "INCOMING"}[m.Direction]
				assert.Equal(t, want, item.MessageAttributes.Type, "message %d (%s)", m.ID, m.Direction)
				assert.Equal(t, m.Direction != so.Internal, *item.MessageAttributes.ShowInCustomerConversation, "message %d", m.ID)
			}
			if cfg.Shift+cfg.Delete+cfg.Grow > 0 {
				return // it moves on every page of every run: "nothing new" is never so
			}

			accepted := fake.MyKaarma.Stats.Accepted.Load()
			rep = soRun(t, fake, path)
			assert.Zero(t, rep.Loaded, "nothing new")
			assert.Equal(t, rep.Read, rep.SkippedBy.AlreadyLoaded)
			assert.Equal(t, accepted, fake.MyKaarma.Stats.Accepted.Load(), "nothing sent")

			rows := fake.SuperOffice.Rows()
			fake.SuperOffice.Generate(25, rows[len(rows)-1].Created.Add(time.Hour))
			rep = soRun(t, fake, path)
			assert.EqualValues(t, 25, rep.Loaded, "only the new messages")
		})
	}
}

// After the migration, the write-back tells each message its myKaarma id,
// under each reading of If-Unmodified-Since, with agents editing messages
// meanwhile and faults on: each message carries its id, nothing else in it
// changed but what the agents did; a rerun sends nothing. A tenant without
// the custom field fails every record as NOT_APPLIED.
func TestSuperOfficeWriteBack(t *testing.T) {
	cases := map[string]sandbox.SuperOfficeConfig{
		"412 on a change":            {ConcurrentEdits: 0.1},
		"If-Unmodified-Since unread": {ConcurrentEdits: 0.1, IgnoreUnmodifiedSince: true, TokenUses: 50},
		"no such custom field":       {CustomFields: []string{}, EchoIgnored: true},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			fake := soStart(t, cfg, 200)
			dir := t.TempDir()
			rep := soRun(t, fake, soJob(t, dir, "migrate.yaml", soSource))
			require.Equal(t, rep.Read, rep.Loaded)
			before := map[int64]map[string]any{}
			for _, m := range fake.SuperOffice.Rows() {
				before[m.ID], _, _ = fake.SuperOffice.Entity(m.ID)
			}
			wb := soJob(t, dir, "writeback.yaml", `source: {kind: ledger, path: migrate.db}
mapping: builtin:writeback-superoffice
sink: {kind: superoffice, url: sandbox, token: t0k, refresh_token: rt, client_id: cid, client_secret: cs, concurrency: 4,
       retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}}
state: writeback.db
`)
			rep = soRun(t, fake, wb)
			assert.EqualValues(t, len(before), rep.Read)
			assert.Zero(t, fake.SuperOffice.Stats.Puts.Load(), "never a whole-entity save")
			assert.Zero(t, fake.SuperOffice.Stats.Sends.Load(), "never /Send")
			if len(cfg.CustomFields) == 0 && cfg.CustomFields != nil {
				assert.Zero(t, rep.Loaded)
				failures, err := os.ReadFile(filepath.Join(dir, ".msgmigrate", "writeback.failures.jsonl"))
				require.NoError(t, err)
				assert.Contains(t, string(failures), `"code":"NOT_APPLIED"`)
				assert.Contains(t, string(failures), "CustomFields.x_mykaarma_message_id")
				return
			}
			assert.Equal(t, rep.Read, rep.Loaded, "%+v", rep.FailedBy)
			rs, err := ledger.Readers(filepath.Join(dir, "migrate.db"))
			require.NoError(t, err)
			l := rs[0]
			n := 0
			require.NoError(t, l.Loaded(func(e ledger.Entry) error {
				n++
				id, _ := strconv.ParseInt(e.Origin.ID, 10, 64)
				after, _, ok := fake.SuperOffice.Entity(id)
				require.True(t, ok)
				assert.Equal(t, e.TargetID, after["CustomFields"].(map[string]any)["x_mykaarma_message_id"])
				want := before[id]
				want["CustomFields"] = after["CustomFields"]
				if fake.SuperOffice.Edited(id) {
					want["Badge"], want["TimeSpent"] = after["Badge"], after["TimeSpent"]
				}
				assert.Equal(t, want, after, "message %d intact", id)
				return nil
			}))
			l.Close()
			assert.Equal(t, len(before), n)
			rep = soRun(t, fake, wb)
			assert.Zero(t, rep.Loaded, "a rerun sends nothing new")
		})
	}
}

func jsonUnmarshal(b []byte, v any) error {
	if err := jsonStd(b, v); err != nil {
		return fmt.Errorf("%s: %w", b, err)
	}
	return nil
}

var jsonStd = json.Unmarshal
