package gorgias

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/extracttest"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

func fake(t *testing.T, cfg sandbox.GorgiasConfig) *sandbox.Running {
	t.Helper()
	cfg.Email, cfg.APIKey = "ops@shop.example", "k3y"
	s := sandbox.Start(sandbox.Config{Gorgias: cfg})
	t.Cleanup(s.Close)
	return s
}

func openSource(t *testing.T, s *sandbox.Running, extra string) *Source {
	t.Helper()
	var node yaml.Node
	src := fmt.Sprintf("kind: gorgias\nurl: %s\nusername: ops@shop.example\napi_key: k3y\nrate: 1000/s\nretry: {max_attempts: 8, base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}\n%s", s.VendorURL("gorgias"), extra)
	require.NoError(t, yaml.Unmarshal([]byte(src), &node))
	x, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, extract.Env{})
	require.NoError(t, err)
	return x.(*Source)
}

func want(t *testing.T, s *sandbox.Running) []map[string]any {
	var out []map[string]any
	for _, m := range s.Gorgias.Messages() {
		b, err := json.Marshal(m)
		require.NoError(t, err)
		f, err := jsonl.Decode(b)
		require.NoError(t, err)
		out = append(out, f)
	}
	return out
}

// readAll reads every message: none may fail.
func readAll(t *testing.T, src extract.Source) []map[string]any {
	t.Helper()
	got, errs := extracttest.ReadFields(t, src)
	require.Empty(t, errs)
	return got
}

func TestConformance(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 250})
	extracttest.Run(t, extracttest.Fixture{
		Open:    func(t *testing.T) extract.Source { return openSource(t, s, "limit: 100\n") },
		Records: want(t, s),
	})
}

// Every message once, through the account's leaky bucket (429 with
// Retry-after), server errors and dropped connections.
func TestExtractsEveryMessageOnceUnderLimitsAndFaults(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 2000, BucketSize: 2, LeakPerSecond: 20,
		Faults: sandbox.Faults{ServerError: 0.1, Drop: 0.05, Seed: 5}})
	src := openSource(t, s, "limit: 50\n")
	got := readAll(t, src)
	assert.Equal(t, want(t, s), got)
	assert.Positive(t, s.Gorgias.Stats.Throttled.Load(), "the bucket overflowed")
	assert.Positive(t, s.Gorgias.Stats.Faulted.Load())
}

func TestLimitOutOfRange(t *testing.T) {
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("kind: gorgias\nurl: http://x\nusername: a\napi_key: b\nlimit: 250\n"), &node))
	_, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, extract.Env{})
	assert.ErrorContains(t, err, "Gorgias pages hold 1 to 100 messages")
}

func TestWrongKeyIsFatal(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 10})
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("kind: gorgias\nurl: "+s.VendorURL("gorgias")+"\nusername: ops@shop.example\napi_key: wrong-k3y\n"), &node))
	src, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, extract.Env{})
	require.NoError(t, err)
	_, err = src.Next(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP 401")
	assert.NotContains(t, err.Error(), "wrong-k3y")
}

// A cursor that expires mid-listing never loses or repeats a message.
func TestExpiredCursorRestartsWithoutRepeats(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 300})
	src := openSource(t, s, "limit: 40\n")
	var got []map[string]any
	for i := 0; ; i++ {
		if i == 95 {
			s.Gorgias.ExpireCursors()
		}
		rec, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		got = append(got, rec.Fields)
	}
	assert.Equal(t, want(t, s), got)
}

// Incremental: newest first, down to since.
func TestSinceReadsNewestFirstAndStops(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 300})
	msgs := s.Gorgias.Messages()
	cut, err := time.Parse(time.RFC3339Nano, msgs[250].CreatedDatetime)
	require.NoError(t, err)
	src := openSource(t, s, "limit: 20\n")
	src.Since(cut)
	got := readAll(t, src)
	require.Len(t, got, 50)
	assert.Equal(t, msgs[299].ID, got[0]["id"])
	assert.Equal(t, msgs[250].ID, got[49]["id"])
	assert.Equal(t, cut.Add(49*time.Minute), src.Watermark())
}

func openSourceB(b *testing.B, s *sandbox.Running) *Source {
	var node yaml.Node
	require.NoError(b, yaml.Unmarshal([]byte("kind: gorgias\nurl: "+s.VendorURL("gorgias")+"\nusername: ops@shop.example\napi_key: k3y\n"), &node))
	x, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, extract.Env{})
	require.NoError(b, err)
	return x.(*Source)
}
