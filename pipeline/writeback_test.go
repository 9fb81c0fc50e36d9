package pipeline_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// After a migration from each vendor to myKaarma, a write-back job from the
// migration's ledger tells the vendor where every message went, exactly
// once; rerunning it sends nothing; what the vendor rejects is in the
// failures file with the vendor's message.
func TestWriteBackAfterEachMigration(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	repo := filepath.Dir(wd)
	sinks := map[string]string{
		"gorgias":    "{kind: gorgias, url: sandbox, username: ops@shop.example, api_key: k, rate: 1000/s, retry: {base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms}}",
		"tracezilla": "{kind: tracezilla, url: sandbox, token: t0k, retry: {base_delay: 1ms, max_delay: 5ms}}",
	}
	// SuperOffice's and EziManager's write-backs, under each reading:
	// pipeline/superoffice_test.go, pipeline/ezimanager_test.go.
	for _, kind := range []string{"gorgias", "tracezilla"} {
		t.Run(kind, func(t *testing.T) {
			fake := sandbox.Start(sandbox.Config{
				Gorgias:    sandbox.GorgiasConfig{Email: "ops@shop.example", APIKey: "k", Messages: 400, BucketSize: 1000, LeakPerSecond: 1000},
				Tracezilla: sandbox.TracezillaConfig{Token: "t0k", Messages: 400, Faults: sandbox.Faults{ServerError: 0.05, Seed: 1}},
				MyKaarma:   sandbox.MyKaarmaConfig{Username: "u", Password: "p"},
			})
			defer fake.Close()
			dir := t.TempDir()
			migration := filepath.Join(dir, "migrate.yaml")
			src := map[string]string{
				"gorgias":    "{kind: gorgias, url: sandbox, username: ops@shop.example, api_key: k, rate: 1000/s}",
				"tracezilla": "{kind: tracezilla, url: sandbox, token: t0k, retry: {base_delay: 1ms, max_delay: 5ms}}",
			}[kind]
			lookups := map[string]string{
				"gorgias":    "customers: {file: REPO/testdata/gorgias/customers.csv, key: email, value: customer_uuid}\n  departments: {file: REPO/testdata/gorgias/departments.csv, key: channel, value: department_uuid}\n  users: {file: REPO/testdata/gorgias/users.csv, key: email, value: user_uuid}",
				"tracezilla": "customers: {file: REPO/testdata/tracezilla/customers.csv, key: key, value: customer_uuid}\n  departments: {file: REPO/testdata/tracezilla/departments.csv, key: model, value: department_uuid}\n  users: {file: REPO/testdata/tracezilla/users.csv, key: user_id, value: user_uuid}",
			}[kind]
			require.NoError(t, os.WriteFile(migration, []byte(replaceAll("source: "+src+"\nmapping: builtin:"+kind+"-to-mykaarma\nlookups:\n  "+lookups+
				"\nsink: {kind: mykaarma, url: sandbox, username: u, password: p}\nstate: migrate.db\n", "REPO", repo)), 0o644))
			writeback := filepath.Join(dir, "writeback.yaml")
			require.NoError(t, os.WriteFile(writeback, []byte("source: {kind: ledger, path: migrate.db}\nmapping: builtin:writeback-"+kind+
				"\nsink: "+sinks[kind]+"\nstate: writeback.db\n"), 0o644))
			run := func(path string) *pipeline.Report {
				j, err := job.Load(path, nil, func(string) (string, bool) { return "", false })
				require.NoError(t, err)
				rep, err := pipeline.Run(context.Background(), context.Background(), j, pipeline.Options{URLs: fake, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
				require.NoError(t, err)
				return rep
			}
			rep := run(migration)
			require.Equal(t, int64(400), rep.Loaded)

			// One message disappears before the write-back.
			var gone string
			if kind == "tracezilla" {
				gone = fake.Tracezilla.Messages()[7].ID
				fake.Tracezilla.Remove(gone)
			}
			rep = run(writeback)
			assert.Equal(t, int64(400), rep.Read)
			if gone == "" {
				assert.Equal(t, int64(400), rep.Loaded, "%+v", rep.FailedBy)
			} else {
				assert.Equal(t, int64(399), rep.Loaded)
				assert.Equal(t, int64(1), rep.FailedBy.Load)
				failures, err := os.ReadFile(filepath.Join(dir, ".msgmigrate", "writeback.failures.jsonl"))
				require.NoError(t, err)
				assert.Contains(t, string(failures), `"code":"NOT_FOUND"`)
				assert.Contains(t, string(failures), "No query results for model [Message] "+gone)
			}

			// Every migrated message carries its new id, and was written once.
			rs, err := ledger.Readers(filepath.Join(dir, "migrate.db"))
			require.NoError(t, err)
			l := rs[0]
			n := 0
			require.NoError(t, l.Loaded(func(e ledger.Entry) error {
				n++
				switch kind {
				case "gorgias":
					id, _ := strconv.ParseInt(e.Origin.ID, 10, 64)
					m, ok := fake.Gorgias.Message(id)
					require.True(t, ok)
					require.NotNil(t, m.ExternalID)
					assert.Equal(t, e.TargetID, *m.ExternalID)
					assert.Len(t, fake.Gorgias.Updates(id), 1)
				case "tracezilla":
					id := e.Origin.ID
					if id == gone {
						return nil
					}
					_, note, times := fake.Tracezilla.Sent(id)
					assert.Equal(t, "Migrated to myKaarma as message "+e.TargetID, note)
					assert.Equal(t, 1, times)
				}
				return nil
			}))
			l.Close()
			assert.Equal(t, 400, n)

			rep = run(writeback)
			assert.Equal(t, int64(0), rep.Loaded, "a rerun sends nothing new")
		})
	}
}
