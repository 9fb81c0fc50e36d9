package tracezilla

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	api "github.com/msgmigrate/msgmigrate/api/tracezilla"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/extracttest"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

func fake(t *testing.T, cfg sandbox.TracezillaConfig) *sandbox.Running {
	t.Helper()
	cfg.Token = "tok-123"
	s := sandbox.Start(sandbox.Config{Tracezilla: cfg})
	t.Cleanup(s.Close)
	return s
}

func openSource(t *testing.T, url, extra string) *Source {
	t.Helper()
	var node yaml.Node
	src := fmt.Sprintf("kind: tracezilla\nurl: %s\ntoken: tok-123\nretry: {base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms}\n%s", url, extra)
	require.NoError(t, yaml.Unmarshal([]byte(src), &node))
	x, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, extract.Env{})
	require.NoError(t, err)
	return x.(*Source)
}

// want is the fake's messages as records: by updated_at, secrets removed.
func want(t *testing.T, msgs []api.Message) []map[string]any {
	var out []map[string]any
	for _, m := range msgs {
		b, err := json.Marshal(m)
		require.NoError(t, err)
		f, err := jsonl.Decode(b)
		require.NoError(t, err)
		delete(f, "secret_key")
		delete(f, "secret_expires")
		out = append(out, f)
	}
	return out
}

// readAll reads every message: none may fail, and none carries its secret.
func readAll(t *testing.T, src extract.Source) []map[string]any {
	t.Helper()
	got, errs := extracttest.ReadFields(t, src)
	require.Empty(t, errs)
	for _, f := range got {
		_, secret := f["secret_key"]
		require.False(t, secret, "a message's secret never leaves the source")
	}
	return got
}

func TestConformance(t *testing.T) {
	s := fake(t, sandbox.TracezillaConfig{Messages: 230})
	extracttest.Run(t, extracttest.Fixture{
		Open:    func(t *testing.T) extract.Source { return openSource(t, s.VendorURL("tracezilla"), "per_page: 50\n") },
		Records: want(t, s.Tracezilla.Messages()),
	})
}

func TestEveryMessageOnceUnderFaults(t *testing.T) {
	s := fake(t, sandbox.TracezillaConfig{Messages: 1500, Faults: sandbox.Faults{ServerError: 0.1, Drop: 0.05, Throttle: 0.05, Seed: 9}})
	got := readAll(t, openSource(t, s.VendorURL("tracezilla"), "per_page: 40\n"))
	assert.Equal(t, want(t, s.Tracezilla.Messages()), got)
	assert.Positive(t, s.Tracezilla.Stats.Faulted.Load())
}

// A next_page link to another origin is refused: the token goes nowhere else.
func TestTokenStaysOnTheConfiguredOrigin(t *testing.T) {
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
		w.Write([]byte(`{"data":[],"links":{"next_page":null}}`))
	}))
	defer other.Close()
	s := fake(t, sandbox.TracezillaConfig{Messages: 30, NextPageOrigin: other.URL})
	src := openSource(t, s.VendorURL("tracezilla"), "per_page: 10\n")
	var err error
	for err == nil {
		_, err = src.Next(context.Background())
	}
	assert.ErrorContains(t, err, "refusing to follow it with the credentials")
	assert.False(t, leaked.Load())
}

func TestWrongTokenIsFatal(t *testing.T) {
	s := fake(t, sandbox.TracezillaConfig{Messages: 3})
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("kind: tracezilla\nurl: "+s.VendorURL("tracezilla")+"\ntoken: nope-secret\n"), &node))
	x, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, extract.Env{})
	require.NoError(t, err)
	_, err = x.Next(context.Background())
	assert.ErrorContains(t, err, "HTTP 401: Unauthenticated.")
	assert.NotContains(t, err.Error(), "nope-secret")
}

func TestSinceReadsNewestFirstAndStops(t *testing.T) {
	s := fake(t, sandbox.TracezillaConfig{Messages: 200})
	msgs := s.Tracezilla.Messages()
	cut, err := time.Parse(time.RFC3339, msgs[150].UpdatedAt)
	require.NoError(t, err)
	src := openSource(t, s.VendorURL("tracezilla"), "per_page: 30\n")
	src.Since(cut)
	got := readAll(t, src)
	require.Len(t, got, 50)
	assert.Equal(t, msgs[199].ID, got[0]["id"])
	assert.Equal(t, msgs[150].ID, got[49]["id"])
}
