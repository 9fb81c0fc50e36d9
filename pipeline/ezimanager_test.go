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

	ezi "github.com/msgmigrate/msgmigrate/api/ezimanager"
	api "github.com/msgmigrate/msgmigrate/api/mykaarma"
	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
	"github.com/msgmigrate/msgmigrate/transform"
	"github.com/msgmigrate/msgmigrate/transport"
)

// eziReadings are the EziManager fake's readings an end-to-end run meets.
var eziReadings = map[string]sandbox.EziManagerConfig{
	"401":                                       {Expiry: sandbox.EziExpiry401},
	"403, relations not loaded, zero times":     {Expiry: sandbox.EziExpiry403, Relations: sandbox.EziRelationsNotLoaded, ZeroTimes: true},
	"redirect to the login page":                {Expiry: sandbox.EziExpiryRedirect},
	"the login page in place, the token wraped": {Expiry: sandbox.EziExpiryLoginPage, TokenObject: true},
	"403, the token in X-Auth-Token":            {Expiry: sandbox.EziExpiry403, TokenHeader: "X-Auth-Token:"},
}

const eziSource = `source:
  kind: ezimanager
  url: sandbox
  email: ops@store.example
  password: pw
  token_header: 'HEADER'
  ids: ids.txt
  concurrency: 8
  retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms}
mapping: builtin:ezimanager-to-mykaarma
lookups:
  customers:   {file: REPO/testdata/ezimanager/customers.csv, key: key, value: customer_uuid}
  departments: {file: REPO/testdata/ezimanager/departments.csv, key: key, value: department_uuid}
  users:       {file: REPO/testdata/ezimanager/users.csv, key: sender, value: user_uuid}
sink: {kind: mykaarma, url: sandbox, username: u, password: p, batch: {linger: 20ms}, retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms}}
state: migrate.db
`

func eziStart(t *testing.T, cfg sandbox.EziManagerConfig, n int) *sandbox.Running {
	t.Helper()
	cfg.Email, cfg.Password, cfg.Messages = "ops@store.example", "pw", n
	if cfg.TokenUses == 0 {
		cfg.TokenUses = 30
	}
	cfg.Faults = sandbox.Faults{ServerError: 0.05, Throttle: 0.05, Drop: 0.02, Garble: 0.03, Seed: 7}
	fake := sandbox.Start(sandbox.Config{EziManager: cfg, MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p",
		Faults: sandbox.Faults{Throttle: 0.05, ServerError: 0.05, Seed: 8}}})
	t.Cleanup(fake.Close)
	return fake
}

// eziJob writes the ids file and the job (its token_header the fake's).
func eziJob(t *testing.T, dir string, cfg sandbox.EziManagerConfig, ids []string) string {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ids.txt"), []byte(joinLines(ids)), 0o644))
	header := cfg.TokenHeader
	if header == "" {
		header = ezi.DefaultTokenHeader
	}
	return soJob(t, dir, "migrate.yaml", strings.ReplaceAll(eziSource, "HEADER", header))
}

func eziRun(t *testing.T, fake *sandbox.Running, path string) (*pipeline.Report, error) {
	t.Helper()
	j, err := job.Load(path, nil, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	return pipeline.Run(context.Background(), context.Background(), j, pipeline.Options{URLs: fake, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// A migration from EziManager under each reading, sessions expiring every
// 30 requests, faults on both sides: every message loaded once, read once,
// as a note at its creation time; a second run reads the ids again and
// sends nothing; ids added later are all a third run sends.
func TestEziManagerMigrationUnderEveryReading(t *testing.T) {
	for name, cfg := range eziReadings {
		t.Run(name, func(t *testing.T) {
			fake := eziStart(t, cfg, 160)
			ids := fake.EziManager.IDs()
			path := eziJob(t, t.TempDir(), cfg, ids)
			rep, err := eziRun(t, fake, path)
			require.NoError(t, err)
			assert.EqualValues(t, len(ids), rep.Read)
			assert.EqualValues(t, len(ids), rep.Loaded, "failed: %+v", rep.FailedByCode)
			assert.EqualValues(t, len(ids), fake.MyKaarma.Unique())
			for _, id := range ids {
				assert.Equal(t, 1, fake.EziManager.Reads(id), "message %s read once", id)
				key, err := transform.UUID5("ezimanager", id)
				require.NoError(t, err)
				st, ok := fake.MyKaarma.Stored(key)
				require.True(t, ok, "message %s loaded", id)
				assert.Equal(t, 1, st.Times, "message %s loaded once", id)
				var item api.SaveMessageRequest
				require.NoError(t, jsonUnmarshal(st.Payload, &item))
				m, _ := fake.EziManager.Message(id)
				created, err := time.ParseInLocation(ezi.TimeLayout, m.CreatedUtc, time.UTC)
				require.NoError(t, err)
				assert.Equal(t, created.Format("2006-01-02T15:04:05.000Z"), item.SentOn, "message %s's time", id)
				assert.Equal(t, "NOTE", item.MessageAttributes.Type)
				assert.False(t, *item.MessageAttributes.ShowInCustomerConversation)
				assert.False(t, *item.MessageAttributes.UpdateThreadTimestamp)
			}
			tokens := fake.EziManager.Stats.Tokens.Load()
			assert.Greater(t, tokens, int64(1), "sessions expired mid-run and were renewed")
			assert.LessOrEqual(t, tokens, int64(len(ids)/30+3), "one login per expiry")

			accepted := fake.MyKaarma.Stats.Accepted.Load()
			rep, err = eziRun(t, fake, path)
			require.NoError(t, err)
			assert.Zero(t, rep.Loaded, "nothing new")
			assert.EqualValues(t, len(ids), rep.SkippedBy.AlreadyLoaded)
			assert.Equal(t, accepted, fake.MyKaarma.Stats.Accepted.Load(), "nothing sent")

			fresh := fake.EziManager.Generate(20, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
			for _, m := range fresh {
				ids = append(ids, m.IdentifierGUID)
			}
			require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(path), "ids.txt"), []byte(joinLines(ids)), 0o644))
			rep, err = eziRun(t, fake, path)
			require.NoError(t, err)
			assert.EqualValues(t, 20, rep.Loaded, "only the new messages")
			assert.EqualValues(t, len(ids), fake.MyKaarma.Unique())
		})
	}
}

// After the migration, the write-back marks each message external, under
// each reading of the relations and of an expired session, with faults on:
// where the vendor saves relations each message is external and otherwise
// intact, and a rerun sends nothing; where it ignores them (or does not load
// them) every record fails as NOT_APPLIED and no message changes. A message
// deleted meanwhile fails as NOT_FOUND, one refused to the account as
// FORBIDDEN.
func TestEziManagerWriteBack(t *testing.T) {
	cases := map[string]sandbox.EziManagerConfig{
		"relations saved, 401":           {Relations: sandbox.EziRelationsSaved},
		"relations saved, login page":    {Relations: sandbox.EziRelationsSaved, Expiry: sandbox.EziExpiryLoginPage, ZeroTimes: true},
		"relations ignored, redirect":    {Relations: sandbox.EziRelationsIgnored, Expiry: sandbox.EziExpiryRedirect},
		"relations not loaded, 403":      {Relations: sandbox.EziRelationsNotLoaded, Expiry: sandbox.EziExpiry403},
		"relations saved, 403, expiring": {Relations: sandbox.EziRelationsSaved, Expiry: sandbox.EziExpiry403, TokenUses: 25},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			ids := sandbox.NewEziManager(sandbox.EziManagerConfig{Messages: 120}).IDs()
			forbidden := ids[5]
			cfg.Forbidden = []string{forbidden}
			fake := eziStart(t, cfg, 120)
			dir := t.TempDir()
			rep, err := eziRun(t, fake, eziJob(t, dir, cfg, ids))
			require.NoError(t, err)
			require.EqualValues(t, len(ids)-1, rep.Loaded, "all but the forbidden one")
			migrated := mustRead(t, filepath.Join(dir, ".msgmigrate", "migrate.failures.jsonl"))
			assert.Contains(t, migrated, `"code":"FORBIDDEN"`)
			assert.Contains(t, migrated, "ids.txt:6 names it")

			gone := ids[9]
			fake.EziManager.Remove(gone)
			before := map[string]any{}
			for _, id := range ids {
				before[id], _ = fake.EziManager.Message(id)
			}
			wb := soJob(t, dir, "writeback.yaml", `source: {kind: ledger, path: migrate.db}
mapping: builtin:writeback-ezimanager
sink: {kind: ezimanager, url: sandbox, email: ops@store.example, password: pw, token_header: 'HEADER', concurrency: 4,
       retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms}}
state: writeback.db
`)
			header := cfg.TokenHeader
			if header == "" {
				header = ezi.DefaultTokenHeader
			}
			require.NoError(t, os.WriteFile(wb, []byte(strings.ReplaceAll(mustRead(t, wb), "HEADER", header)), 0o644))
			rep, err = eziRun(t, fake, wb)
			require.NoError(t, err)
			assert.EqualValues(t, len(ids)-1, rep.Read)
			failures := mustRead(t, filepath.Join(dir, ".msgmigrate", "writeback.failures.jsonl"))
			assert.Contains(t, failures, `"code":"NOT_FOUND"`)
			assert.Contains(t, failures, "message "+gone)

			saved := cfg.Relations == sandbox.EziRelationsSaved
			external := 0 // messages external already, as read: nothing to write
			for _, id := range ids {
				if m := before[id].(ezi.Message); id != gone && id != forbidden && m.External != nil && *m.External && cfg.Relations != sandbox.EziRelationsNotLoaded {
					external++
				}
			}
			require.Positive(t, len(ids)-2-external)
			if saved {
				assert.EqualValues(t, len(ids)-2, rep.Loaded, "%+v", rep.FailedByCode)
			} else {
				assert.EqualValues(t, external, rep.Loaded)
				assert.EqualValues(t, len(ids)-2-external, rep.FailedByCode[load.NotApplied], "%+v", rep.FailedByCode)
				assert.Contains(t, failures, "external: wants true")
				assert.Contains(t, failures, "may not always be loaded or used for updates")
			}
			rs, err := ledger.Readers(filepath.Join(dir, "migrate.db"))
			require.NoError(t, err)
			n := 0
			require.NoError(t, rs[0].Loaded(func(e ledger.Entry) error {
				n++
				id := e.Origin.ID
				if id == gone {
					return nil
				}
				after, ok := fake.EziManager.Message(id)
				require.True(t, ok)
				want := before[id].(ezi.Message)
				if saved {
					writes := 1
					if want.External != nil && *want.External {
						writes = 0 // already so: not written
					}
					want.External = ptrTo(true)
					assert.Equal(t, writes, fake.EziManager.Saves(id), "message %s written once", id)
				}
				assert.Equal(t, want, after, "message %s: external, nothing else", id)
				return nil
			}))
			rs[0].Close()
			assert.Equal(t, len(ids)-1, n)
			if saved {
				rep, err = eziRun(t, fake, wb)
				require.NoError(t, err)
				assert.Zero(t, rep.Loaded, "a rerun sends nothing new")
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

// A refused login stops the run, source or sink, sent once and naming the
// vendor's words, never the password; a token header the site does not
// read stops it after two logins, saying to check token_header.
func TestEziManagerStopsOnRefusedCredentials(t *testing.T) {
	t.Run("source login", func(t *testing.T) {
		fake := eziStart(t, sandbox.EziManagerConfig{}, 50)
		dir := t.TempDir()
		path := eziJob(t, dir, sandbox.EziManagerConfig{}, fake.EziManager.IDs())
		require.NoError(t, os.WriteFile(path, []byte(strings.Replace(mustRead(t, path), "password: pw", "password: wr0ng-pw", 1)), 0o644))
		_, err := eziRun(t, fake, path)
		var fe *transport.FatalError
		require.ErrorAs(t, err, &fe)
		assert.Contains(t, err.Error(), "source ezimanager refused the credentials")
		assert.Contains(t, err.Error(), "Invalid email or password.")
		assert.NotContains(t, err.Error(), "wr0ng-pw")
		assert.EqualValues(t, 1, fake.EziManager.Stats.LoginsRefused.Load(), "sent once (the faults aside)")
		assert.Zero(t, fake.EziManager.Stats.Requests.Load())
		assert.Zero(t, fake.MyKaarma.Unique())
	})
	t.Run("sink login", func(t *testing.T) {
		fake := eziStart(t, sandbox.EziManagerConfig{}, 50)
		dir := t.TempDir()
		rep, err := eziRun(t, fake, eziJob(t, dir, sandbox.EziManagerConfig{}, fake.EziManager.IDs()))
		require.NoError(t, err)
		require.EqualValues(t, 50, rep.Loaded)
		wb := soJob(t, dir, "writeback.yaml", `source: {kind: ledger, path: migrate.db}
mapping: builtin:writeback-ezimanager
sink: {kind: ezimanager, url: sandbox, email: ops@store.example, password: wr0ng-pw, concurrency: 4, retry: {base_delay: 1ms, max_delay: 5ms}}
state: writeback.db
`)
		_, err = eziRun(t, fake, wb)
		var fe *transport.FatalError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, ezi.LoginRefused, fe.Last.Code)
		assert.NotContains(t, err.Error(), "wr0ng-pw")
		assert.EqualValues(t, 1, fake.EziManager.Stats.LoginsRefused.Load(), "sent once (the faults aside)")
		assert.Zero(t, fake.EziManager.Stats.Puts.Load())
	})
	t.Run("token header", func(t *testing.T) {
		fake := eziStart(t, sandbox.EziManagerConfig{TokenHeader: "X-Auth-Token:", Expiry: sandbox.EziExpiryRedirect}, 50)
		path := eziJob(t, t.TempDir(), sandbox.EziManagerConfig{}, fake.EziManager.IDs())
		_, err := eziRun(t, fake, path)
		var fe *transport.FatalError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, ezi.TokenRefused, fe.Last.Code)
		assert.Contains(t, err.Error(), "check token_header")
		assert.EqualValues(t, 2, fake.EziManager.Stats.Tokens.Load(), "two logins, then it stops")
		assert.Zero(t, fake.MyKaarma.Unique())
	})
}

// The examples run as they are against the in-process sandbox: the
// migration, then the write-back, then the write-back again (nothing sent).
func TestEziManagerExamples(t *testing.T) {
	fake := sandbox.Start(sandbox.DefaultConfig(500))
	defer fake.Close()
	dir := t.TempDir()
	run := func(example string, sets ...string) *pipeline.Report {
		j, err := job.Load(filepath.Join("..", "examples", example), sets, func(string) (string, bool) { return "", false })
		require.NoError(t, err)
		rep, err := pipeline.Run(context.Background(), context.Background(), j, pipeline.Options{URLs: fake, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		require.NoError(t, err)
		return rep
	}
	at := func(name string) string { return filepath.Join(dir, name) }
	rep := run("ezimanager.yaml", "state="+at("m.db"), "report="+at("m.json"), "failures="+at("m.jsonl"))
	assert.EqualValues(t, 500, rep.Loaded, "%+v", rep.FailedByCode)
	sets := []string{"source.state=" + at("m.db"), "state=" + at("w.db"), "report=" + at("w.json"), "failures=" + at("w.jsonl")}
	rep = run("ezimanager-writeback.yaml", sets...)
	assert.EqualValues(t, 500, rep.Loaded, "%+v", rep.FailedByCode)
	rep = run("ezimanager-writeback.yaml", sets...)
	assert.Zero(t, rep.Loaded)
	assert.EqualValues(t, 500, rep.SkippedBy.AlreadyLoaded)
}
