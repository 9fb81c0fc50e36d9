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

// A Gorgias account migrated with a short job: every message once, through
// its rate limit and faults on both sides; a second run sends nothing; after
// new messages appear, a third run sends only those.
func TestGorgiasMigrationIsIncremental(t *testing.T) {
	fake := sandbox.Start(sandbox.Config{
		Gorgias: sandbox.GorgiasConfig{Email: "ops@shop.example", APIKey: "k", Messages: 3000, BucketSize: 2, LeakPerSecond: 20,
			Faults: sandbox.Faults{ServerError: 0.05, Seed: 2}},
		MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p",
			Faults: sandbox.Faults{Throttle: 0.05, ServerError: 0.05, Seed: 4}},
	})
	defer fake.Close()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"departments.csv": "channel,department_uuid\n*,3f2b8c1e-6d4a-4f0e-9b7a-1c2d3e4f5a6b\n",
		"users.csv":       "email,user_uuid\nagent@shop.example,9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	customers, err := os.ReadFile("../testdata/gorgias/customers.csv")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "customers.csv"), customers, 0o644))
	jobPath := filepath.Join(dir, "gorgias.yaml")
	require.NoError(t, os.WriteFile(jobPath, []byte(`source:
  kind: gorgias
  url: sandbox
  username: ops@shop.example
  api_key: k
  rate: 1000/s
  retry: {base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}
mapping: builtin:gorgias-to-mykaarma
lookups:
  customers:   {file: customers.csv, key: email, value: customer_uuid}
  departments: {file: departments.csv, key: channel, value: department_uuid}
  users:       {file: users.csv, key: email, value: user_uuid}
sink:
  kind: mykaarma
  url: sandbox
  username: u
  password: p
  retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}
`), 0o644))
	run := func() *pipeline.Report {
		j, err := job.Load(jobPath, nil, func(string) (string, bool) { return "", false })
		require.NoError(t, err)
		rep, err := pipeline.Run(context.Background(), context.Background(), j,
			pipeline.Options{Sandbox: fake, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		require.NoError(t, err)
		return rep
	}

	rep := run()
	assert.Equal(t, int64(3000), rep.Read)
	assert.Equal(t, int64(3000), rep.Loaded)
	assert.Equal(t, int64(3000), fake.MyKaarma.Unique())
	assert.Positive(t, fake.Gorgias.Stats.Throttled.Load(), "the account's bucket was hit")

	accepted := fake.MyKaarma.Stats.Accepted.Load()
	rep = run()
	assert.Equal(t, int64(0), rep.Loaded, "nothing new")
	assert.Equal(t, rep.Read, rep.SkippedBy.AlreadyLoaded)
	assert.Less(t, rep.Read, int64(100), "only the lookback window is read again")
	assert.Equal(t, accepted, fake.MyKaarma.Stats.Accepted.Load(), "nothing sent")

	last := fake.Gorgias.Messages()[2999]
	created, err := time.Parse(time.RFC3339Nano, last.CreatedDatetime)
	require.NoError(t, err)
	fresh := fake.Gorgias.Generate(25, created.Add(time.Minute))
	rep = run()
	assert.Equal(t, int64(25), rep.Loaded, "only the new messages")
	assert.Equal(t, int64(3025), fake.MyKaarma.Unique())
	for _, m := range fresh {
		found := false
		for _, st := range fake.MyKaarma.All() {
			if string(st.Payload) != "" && contains(st.Payload, m.ID) {
				found = true
				break
			}
		}
		assert.True(t, found, "message %d arrived", m.ID)
	}
}

func contains(payload []byte, id int64) bool {
	return len(payload) > 0 && bytesContains(payload, []byte(`"gorgiasMessageId":"`+itoa(id)+`"`))
}
