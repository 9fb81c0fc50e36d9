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
		kind: "tracezilla",
		source: `  kind: tracezilla
  url: sandbox
  token: t0k
  per_page: 100
  retry: {base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}`,
		lookups: `  customers:   {file: ../../testdata/tracezilla/customers.csv, key: key, value: customer_uuid}
  departments: {file: ../../testdata/tracezilla/departments.csv, key: model, value: department_uuid}
  users:       {file: ../../testdata/tracezilla/users.csv, key: user_id, value: user_uuid}`,
		n: func(s *sandbox.Server) int { return len(s.Tracezilla.Messages()) },
		grow: func(s *sandbox.Server, k int) {
			msgs := s.Tracezilla.Messages()
			last, _ := time.Parse(time.RFC3339, msgs[len(msgs)-1].CreatedAt)
			s.Tracezilla.Generate(k, last.Add(time.Minute))
		},
	},
}

// Each vendor migrated with a short job: every message once, through the
// vendor's limits and faults on both sides; a second run sends nothing;
// after new messages appear, a third run sends only those. (SuperOffice and
// EziManager, under each of their readings: pipeline/superoffice_test.go,
// pipeline/ezimanager_test.go.)
func TestVendorMigrationsAreIncremental(t *testing.T) {
	for _, vc := range vendorCases {
		t.Run(vc.kind, func(t *testing.T) {
			fake := sandbox.Start(sandbox.Config{
				Gorgias: sandbox.GorgiasConfig{Email: "ops@shop.example", APIKey: "k", Messages: 3000, BucketSize: 2, LeakPerSecond: 20,
					Faults: sandbox.Faults{ServerError: 0.05, Seed: 2}},
				Tracezilla: sandbox.TracezillaConfig{Token: "t0k", Messages: 3000,
					Faults: sandbox.Faults{ServerError: 0.05, Throttle: 0.05, Seed: 3}},
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

// A trial run with --limit does not move the watermark: the next run still
// reads everything it did not.
func TestLimitedTrialKeepsTheWatermark(t *testing.T) {
	fake := sandbox.Start(sandbox.Config{
		Tracezilla: sandbox.TracezillaConfig{Token: "t0k", Messages: 300},
		MyKaarma:   sandbox.MyKaarmaConfig{Username: "u", Password: "p"},
	})
	defer fake.Close()
	wd, err := os.Getwd()
	require.NoError(t, err)
	repo := filepath.Dir(wd)
	jobPath := filepath.Join(t.TempDir(), "tz.yaml")
	require.NoError(t, os.WriteFile(jobPath, []byte(replaceAll(`source: {kind: tracezilla, url: sandbox, token: t0k}
mapping: builtin:tracezilla-to-mykaarma
lookups:
  customers:   {file: REPO/testdata/tracezilla/customers.csv, key: key, value: customer_uuid}
  departments: {file: REPO/testdata/tracezilla/departments.csv, key: model, value: department_uuid}
  users:       {file: REPO/testdata/tracezilla/users.csv, key: user_id, value: user_uuid}
sink: {kind: mykaarma, url: sandbox, username: u, password: p}
`, "REPO", repo)), 0o644))
	run := func(limit int) *pipeline.Report {
		j, err := job.Load(jobPath, nil, func(string) (string, bool) { return "", false })
		require.NoError(t, err)
		rep, err := pipeline.Run(context.Background(), context.Background(), j,
			pipeline.Options{URLs: fake, Limit: limit, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		require.NoError(t, err)
		return rep
	}
	assert.Equal(t, int64(300), run(0).Loaded)
	// 100 new messages over 100 minutes; a trial reads the newest 10.
	msgs := fake.Tracezilla.Messages()
	last, err := time.Parse(time.RFC3339, msgs[len(msgs)-1].CreatedAt)
	require.NoError(t, err)
	fake.Tracezilla.Generate(100, last.Add(time.Minute))
	assert.Equal(t, int64(10), run(10).Loaded)
	assert.Equal(t, int64(90), run(0).Loaded, "the rest, not just what is newer than the trial")
	assert.Equal(t, int64(400), fake.MyKaarma.Unique())
}
