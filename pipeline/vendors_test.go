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

// vendorCase is a vendor source migrated to myKaarma with a short job.
type vendorCase struct {
	kind    string
	source  string // the job's source section
	lookups string // the job's lookups section
	files   map[string]string
	n       func(*sandbox.Server) int
	grow    func(*sandbox.Server, int) // adds newer messages
}

var vendorCases = []vendorCase{
	{
		kind: "gorgias",
		source: `  kind: gorgias
  url: sandbox
  username: ops@shop.example
  api_key: k
  rate: 1000/s
  retry: {base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}`,
		lookups: `  customers:   {file: ../../testdata/gorgias/customers.csv, key: email, value: customer_uuid}
  departments: {file: ../../testdata/gorgias/departments.csv, key: channel, value: department_uuid}
  users:       {file: ../../testdata/gorgias/users.csv, key: email, value: user_uuid}`,
		n: func(s *sandbox.Server) int { return s.Gorgias.Count() },
		grow: func(s *sandbox.Server, k int) {
			msgs := s.Gorgias.Messages()
			last, _ := time.Parse(time.RFC3339Nano, msgs[len(msgs)-1].CreatedDatetime)
			s.Gorgias.Generate(k, last.Add(time.Minute))
		},
	},
	{
		kind: "superoffice",
		source: `  kind: superoffice
  url: sandbox
  ticket: tkt
  app_token: app
  top: 150
  retry: {base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}`,
		lookups: `  customers:   {file: ../../testdata/superoffice/customers.csv, key: key, value: customer_uuid}
  departments: {file: ../../testdata/superoffice/departments.csv, key: key, value: department_uuid}
  users:       {file: ../../testdata/superoffice/users.csv, key: associate, value: user_uuid}`,
		n: func(s *sandbox.Server) int { return len(s.SuperOffice.Rows()) },
		grow: func(s *sandbox.Server, k int) {
			rows := s.SuperOffice.Rows()
			last, _ := time.Parse(time.RFC3339Nano, rows[len(rows)-1].CreatedAt)
			s.SuperOffice.Generate(k, last.Add(time.Minute))
		},
	},
}

// Each vendor migrated with a short job: every message once, through the
// vendor's limits and faults on both sides; a second run sends nothing;
// after new messages appear, a third run sends only those. (tracezilla's,
// in every reading of its paging, is in tracezilla_test.go.)
func TestVendorMigrationsAreIncremental(t *testing.T) {
	for _, vc := range vendorCases {
		t.Run(vc.kind, func(t *testing.T) {
			fake := sandbox.Start(sandbox.Config{
				Gorgias: sandbox.GorgiasConfig{Email: "ops@shop.example", APIKey: "k", Messages: 3000, BucketSize: 2, LeakPerSecond: 20,
					Faults: sandbox.Faults{ServerError: 0.05, Seed: 2}},
				SuperOffice: sandbox.SuperOfficeConfig{Ticket: "tkt", AppToken: "app", Messages: 3000,
					Faults: sandbox.Faults{ServerError: 0.05, Throttle: 0.05, Drop: 0.02, Seed: 6}},
				MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p",
					Faults: sandbox.Faults{Throttle: 0.05, ServerError: 0.05, Seed: 4}},
			})
			defer fake.Close()
			dir := filepath.Join(t.TempDir(), "a", "b")
			require.NoError(t, os.MkdirAll(dir, 0o755))
			// Lookup paths in the job are relative to it: point them at the repo's.
			wd, err := os.Getwd()
			require.NoError(t, err)
			repo := filepath.Dir(wd)
			jobPath := filepath.Join(dir, vc.kind+".yaml")
			text := "source:\n" + vc.source + "\nmapping: builtin:" + vc.kind + "-to-mykaarma\nlookups:\n" + vc.lookups + `
sink:
  kind: mykaarma
  url: sandbox
  username: u
  password: p
  retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}
`
			text = replaceAll(text, "../../testdata", filepath.Join(repo, "testdata"))
			require.NoError(t, os.WriteFile(jobPath, []byte(text), 0o644))
			run := func() *pipeline.Report {
				j, err := job.Load(jobPath, nil, func(string) (string, bool) { return "", false })
				require.NoError(t, err)
				rep, err := pipeline.Run(context.Background(), context.Background(), j,
					pipeline.Options{URLs: fake, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
				require.NoError(t, err)
				return rep
			}

			rep := run()
			n := int64(vc.n(fake.Server))
			assert.Equal(t, n, rep.Read)
			assert.Equal(t, n, rep.Loaded, "failed: %+v", rep.FailedBy)
			assert.Equal(t, n, fake.MyKaarma.Unique())

			accepted := fake.MyKaarma.Stats.Accepted.Load()
			rep = run()
			assert.Equal(t, int64(0), rep.Loaded, "nothing new")
			assert.Equal(t, rep.Read, rep.SkippedBy.AlreadyLoaded)
			assert.Less(t, rep.Read, int64(100), "only the lookback window is read again")
			assert.Equal(t, accepted, fake.MyKaarma.Stats.Accepted.Load(), "nothing sent")

			vc.grow(fake.Server, 25)
			rep = run()
			assert.Equal(t, int64(25), rep.Loaded, "only the new messages")
			assert.Equal(t, n+25, fake.MyKaarma.Unique())
		})
	}
}

// EziManager has no list endpoint: the ids file says what to read. A second
// run reads them again and sends nothing; ids added later are all it sends.
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

// Extraction overlaps loading: the first batch reaches the target long
// before the last page is fetched.
func TestExtractionOverlapsLoading(t *testing.T) {
	fake := sandbox.Start(sandbox.Config{
		Gorgias:  sandbox.GorgiasConfig{Email: "e", APIKey: "k", Messages: 3000, BucketSize: 1000, LeakPerSecond: 1000, Faults: sandbox.Faults{Latency: 10 * time.Millisecond}},
		MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p"},
	})
	defer fake.Close()
	wd, err := os.Getwd()
	require.NoError(t, err)
	repo := filepath.Dir(wd)
	jobPath := filepath.Join(t.TempDir(), "g.yaml")
	require.NoError(t, os.WriteFile(jobPath, []byte(replaceAll(`source: {kind: gorgias, url: sandbox, username: e, api_key: k, rate: 1000/s, limit: 50}
mapping: builtin:gorgias-to-mykaarma
lookups:
  customers:   {file: REPO/testdata/gorgias/customers.csv, key: email, value: customer_uuid}
  departments: {file: REPO/testdata/gorgias/departments.csv, key: channel, value: department_uuid}
  users:       {file: REPO/testdata/gorgias/users.csv, key: email, value: user_uuid}
sink: {kind: mykaarma, url: sandbox, username: u, password: p, batch: {max_items: 20, linger: 20ms}}
`, "REPO", repo)), 0o644))
	j, err := job.Load(jobPath, nil, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	rep, err := pipeline.Run(context.Background(), context.Background(), j, pipeline.Options{URLs: fake, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	require.Equal(t, int64(3000), rep.Loaded)
	first, last := time.Unix(0, fake.MyKaarma.Stats.FirstAt.Load()), time.Unix(0, fake.Gorgias.Stats.LastAt.Load())
	assert.True(t, first.Before(last), "first send %v, last page %v", first, last)
	assert.Greater(t, last.Sub(first), 200*time.Millisecond, "long before: most pages come after the first send")
}
