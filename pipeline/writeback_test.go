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
		"ezimanager": "{kind: ezimanager, url: sandbox, email: ops@store.example, password: pw, retry: {base_delay: 1ms, max_delay: 5ms}}",
	}
	// Gorgias's, SuperOffice's and tracezilla's write-backs have their own
	// tests (gorgias_test.go, superoffice_test.go, tracezilla_test.go).
	for _, kind := range []string{"ezimanager"} {
		t.Run(kind, func(t *testing.T) {
			fake := sandbox.Start(sandbox.Config{
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
				"ezimanager": "{kind: ezimanager, url: sandbox, email: ops@store.example, password: pw, ids: ids.txt, retry: {base_delay: 1ms, max_delay: 5ms}}",
			}[kind]
			lookups := map[string]string{
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

			rep = run(writeback)
			assert.Equal(t, int64(400), rep.Read)
			assert.Equal(t, int64(400), rep.Loaded, "%+v", rep.FailedBy)

			// Every migrated message carries its new id, and was written once.
			rs, err := ledger.Readers(filepath.Join(dir, "migrate.db"))
			require.NoError(t, err)
			l := rs[0]
			n := 0
			require.NoError(t, l.Loaded(func(e ledger.Entry) error {
				n++
				switch kind {
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
