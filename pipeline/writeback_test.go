package pipeline_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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
		"tracezilla": "{kind: tracezilla, url: sandbox, token: t0k, retry: {base_delay: 1ms, max_delay: 5ms}}",
		"ezimanager": "{kind: ezimanager, url: sandbox, email: ops@store.example, password: pw, retry: {base_delay: 1ms, max_delay: 5ms}}",
	}
	// Gorgias's and SuperOffice's write-backs have their own tests
	// (gorgias_test.go, superoffice_test.go): every reading of their update.
	for _, kind := range []string{"tracezilla", "ezimanager"} {
		t.Run(kind, func(t *testing.T) {
			fake := sandbox.Start(sandbox.Config{
				Tracezilla: sandbox.TracezillaConfig{Token: "t0k", Messages: 400, Faults: sandbox.Faults{ServerError: 0.05, Seed: 1}},
				EziManager: sandbox.EziManagerConfig{Email: "ops@store.example", Password: "pw", Messages: 400, Faults: sandbox.Faults{ServerError: 0.05, Seed: 3}},
				MyKaarma:   sandbox.MyKaarmaConfig{Username: "u", Password: "p"},
			})
			defer fake.Close()
			dir := t.TempDir()
			var ids []byte
			for _, id := range fake.EziManager.IDs() {
				ids = append(ids, id+"\n"...)
			}
			require.NoError(t, os.WriteFile(filepath.Join(dir, "ids.txt"), ids, 0o644))
			migration := filepath.Join(dir, "migrate.yaml")
			src := map[string]string{
				"tracezilla": "{kind: tracezilla, url: sandbox, token: t0k, retry: {base_delay: 1ms, max_delay: 5ms}}",
				"ezimanager": "{kind: ezimanager, url: sandbox, email: ops@store.example, password: pw, ids: ids.txt, retry: {base_delay: 1ms, max_delay: 5ms}}",
			}[kind]
			lookups := map[string]string{
				"tracezilla": "customers: {file: REPO/testdata/tracezilla/customers.csv, key: key, value: customer_uuid}\n  departments: {file: REPO/testdata/tracezilla/departments.csv, key: model, value: department_uuid}\n  users: {file: REPO/testdata/tracezilla/users.csv, key: user_id, value: user_uuid}",
				"ezimanager": "customers: {file: REPO/testdata/ezimanager/customers.csv, key: key, value: customer_uuid}\n  departments: {file: REPO/testdata/ezimanager/departments.csv, key: key, value: department_uuid}",
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
				case "tracezilla":
					id := e.Origin.ID
					if id == gone {
						return nil
					}
					_, note, times := fake.Tracezilla.Sent(id)
					assert.Equal(t, "Migrated to myKaarma as message "+e.TargetID, note)
					assert.Equal(t, 1, times)
				case "ezimanager":
					id := e.Origin.ID
					assert.Equal(t, 1, fake.EziManager.Saves(id))
					m, _ := fake.EziManager.Message(id)
					assert.True(t, m.External)
					assert.NotEmpty(t, m.Document, "merged: the rest of the message is kept")
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
