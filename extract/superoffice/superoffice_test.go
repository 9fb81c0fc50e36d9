package superoffice

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

	api "github.com/msgmigrate/msgmigrate/api/superoffice"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/extracttest"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

func fake(t *testing.T, cfg sandbox.SuperOfficeConfig) *sandbox.Running {
	t.Helper()
	cfg.Token, cfg.Ticket, cfg.AppToken = "bearer-tok", "tkt", "app"
	s := sandbox.Start(sandbox.Config{SuperOffice: cfg})
	t.Cleanup(s.Close)
	return s
}

func openSource(t *testing.T, section string) *Source {
	t.Helper()
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("kind: superoffice\nretry: {base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms}\n"+section), &node))
	x, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, extract.Env{})
	require.NoError(t, err)
	return x.(*Source)
}

func want(t *testing.T, rows []api.Row) []map[string]any {
	var out []map[string]any
	for _, r := range rows {
		b, err := json.Marshal(r)
		require.NoError(t, err)
		f, err := jsonl.Decode(b)
		require.NoError(t, err)
		out = append(out, f)
	}
	return out
}

func readAll(t *testing.T, src extract.Source) ([]map[string]any, error) {
	var out []map[string]any
	for {
		rec, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec.Fields)
	}
}

func TestConformanceWithBearer(t *testing.T) {
	s := fake(t, sandbox.SuperOfficeConfig{Messages: 420})
	extracttest.Run(t, extracttest.Fixture{
		Open: func(t *testing.T) extract.Source {
			return openSource(t, "url: "+s.VendorURL("superoffice")+"\ntoken: bearer-tok\ntop: 100\n")
		},
		Records: want(t, s.SuperOffice.Rows()),
	})
}

// The tenant's host comes from the state endpoint; SOTicket with the
// application token authenticates; faults are retried.
func TestStateDiscoveryTicketAuthAndFaults(t *testing.T) {
	s := fake(t, sandbox.SuperOfficeConfig{Messages: 800, Faults: sandbox.Faults{ServerError: 0.1, Drop: 0.05, Throttle: 0.05, Seed: 8}})
	src := openSource(t, fmt.Sprintf("state_url: %s/superoffice/api/state/Cust12345\nticket: tkt\napp_token: app\ntop: 70\n", s.URL()))
	got, err := readAll(t, src)
	require.NoError(t, err)
	assert.Equal(t, want(t, s.SuperOffice.Rows()), got)
	assert.Positive(t, s.SuperOffice.Stats.Faulted.Load())
}

func TestSinceAsksTheServerToFilter(t *testing.T) {
	s := fake(t, sandbox.SuperOfficeConfig{Messages: 300})
	rows := s.SuperOffice.Rows()
	cut, err := time.Parse(time.RFC3339Nano, rows[199].CreatedAt)
	require.NoError(t, err)
	src := openSource(t, "url: "+s.VendorURL("superoffice")+"\ntoken: bearer-tok\ntop: 40\n")
	src.Since(cut)
	got, err := readAll(t, src)
	require.NoError(t, err)
	assert.Equal(t, want(t, rows[200:]), got)
	assert.LessOrEqual(t, s.SuperOffice.Stats.Requests.Load(), int64(3), "only the newer pages were asked for")
}

func TestCredentialErrors(t *testing.T) {
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("kind: superoffice\nurl: http://x\nticket: only-ticket\n"), &node))
	_, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, extract.Env{})
	assert.ErrorContains(t, err, "source.ticket with source.app_token")

	s := fake(t, sandbox.SuperOfficeConfig{Messages: 5})
	src := openSource(t, "url: "+s.VendorURL("superoffice")+"\ntoken: wr0ng-t0k3n\n")
	_, err = readAll(t, src)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP 401")
	assert.NotContains(t, err.Error(), "wr0ng-t0k3n")
}
