package pipeline_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// Each vendor's migration — every message once, through its limits and
// faults on both sides, a second run sending nothing, a third only what is
// new — runs under every reading of its contract in its own file:
// gorgias_test.go, superoffice_test.go, tracezilla_test.go, and below.

func TestEziManagerMigrationSendsOnlyNewIDs(t *testing.T) {
	fake := sandbox.Start(sandbox.Config{
		EziManager: sandbox.EziManagerConfig{Email: "ops@store.example", Password: "pw", Messages: 2000, TokenUses: 400,
			Faults: sandbox.Faults{ServerError: 0.05, Throttle: 0.05, Seed: 7}},
		MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p", Faults: sandbox.Faults{ServerError: 0.05, Seed: 8}},
	})
	defer fake.Close()
	wd, err := os.Getwd()
	require.NoError(t, err)
	repo := filepath.Dir(wd)
	dir := t.TempDir()
	ids := fake.EziManager.IDs()
	writeIDs := func(ids []string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "ids.txt"), []byte(joinLines(ids)), 0o644))
	}
	writeIDs(ids)
	jobPath := filepath.Join(dir, "ezi.yaml")
	require.NoError(t, os.WriteFile(jobPath, []byte(replaceAll(`source:
  kind: ezimanager
  url: sandbox
  email: ops@store.example
  password: pw
  ids: ids.txt
  concurrency: 8
  retry: {base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms}
mapping: builtin:ezimanager-to-mykaarma
lookups:
  customers:   {file: REPO/testdata/ezimanager/customers.csv, key: key, value: customer_uuid}
  departments: {file: REPO/testdata/ezimanager/departments.csv, key: key, value: department_uuid}
sink: {kind: mykaarma, url: sandbox, username: u, password: p, retry: {base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms}}
`, "REPO", repo)), 0o644))
	run := func() *pipeline.Report {
		j, err := job.Load(jobPath, nil, func(string) (string, bool) { return "", false })
		require.NoError(t, err)
		rep, err := pipeline.Run(context.Background(), context.Background(), j,
			pipeline.Options{URLs: fake, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		require.NoError(t, err)
		return rep
	}
	rep := run()
	assert.Equal(t, int64(2000), rep.Loaded)
	accepted := fake.MyKaarma.Stats.Accepted.Load()
	rep = run()
	assert.Equal(t, int64(2000), rep.SkippedBy.AlreadyLoaded)
	assert.Equal(t, accepted, fake.MyKaarma.Stats.Accepted.Load(), "nothing sent")
	fresh := fake.EziManager.Generate(20, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, m := range fresh {
		ids = append(ids, m.IdentifierGUID)
	}
	writeIDs(ids)
	rep = run()
	assert.Equal(t, int64(20), rep.Loaded)
	assert.Equal(t, int64(2020), fake.MyKaarma.Unique())
}
