package ezimanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/extracttest"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

func fake(t *testing.T, cfg sandbox.EziManagerConfig) *sandbox.Running {
	t.Helper()
	cfg.Email, cfg.Password = "ops@store.example", "pa55"
	s := sandbox.Start(sandbox.Config{EziManager: cfg})
	t.Cleanup(s.Close)
	return s
}

func openSource(t *testing.T, s *sandbox.Running, dir, extra string) extract.Source {
	t.Helper()
	var node yaml.Node
	src := fmt.Sprintf("kind: ezimanager\nurl: %s\nemail: ops@store.example\npassword: pa55\nretry: {base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms}\n%s", s.VendorURL("ezimanager"), extra)
	require.NoError(t, yaml.Unmarshal([]byte(src), &node))
	x, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0], Dir: dir}, extract.Env{})
	require.NoError(t, err)
	return x
}

func writeIDs(t *testing.T, dir string, ids []string) {
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ids.txt"), []byte("# ids\n"+strings.Join(ids, "\n")+"\n"), 0o644))
}

func want(t *testing.T, s *sandbox.Running, ids []string) []map[string]any {
	var out []map[string]any
	for _, id := range ids {
		m, ok := s.EziManager.Message(id)
		require.True(t, ok)
		b, _ := json.Marshal(m)
		f, err := jsonl.Decode(b)
		require.NoError(t, err)
		out = append(out, f)
	}
	return out
}

func TestConformance(t *testing.T) {
	s := fake(t, sandbox.EziManagerConfig{Messages: 60})
	dir := t.TempDir()
	ids := s.EziManager.IDs()
	writeIDs(t, dir, append(append([]string{}, ids[:30]...), "not-a-guid", "00000000-0000-0000-0000-000000000001"))
	extracttest.Run(t, extracttest.Fixture{
		Open:    func(t *testing.T) extract.Source { return openSource(t, s, dir, "ids: ids.txt\nconcurrency: 6\n") },
		Records: want(t, s, ids[:30]),
		Bad:     []string{"ids.txt:32", "ezimanager message 00000000-0000-0000-0000-000000000001"},
	})
}

// Fetched several at a time, handed out in the file's order, through faults
// and a session that expires.
func TestOrderFaultsAndExpiringSessions(t *testing.T) {
	s := fake(t, sandbox.EziManagerConfig{Messages: 400, TokenUses: 70, Faults: sandbox.Faults{ServerError: 0.1, Drop: 0.05, Throttle: 0.05, Seed: 3}})
	dir := t.TempDir()
	ids := s.EziManager.IDs()
	writeIDs(t, dir, ids)
	src := openSource(t, s, dir, "ids: ids.txt\nconcurrency: 8\n")
	defer src.Close()
	var got []map[string]any
	for {
		rec, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		got = append(got, rec.Fields)
	}
	assert.Equal(t, want(t, s, ids), got)
	assert.Greater(t, s.EziManager.Stats.Tokens.Load(), int64(1), "logged in again when the session expired")
}

func TestIDsFromACSVColumn(t *testing.T) {
	s := fake(t, sandbox.EziManagerConfig{Messages: 5})
	dir := t.TempDir()
	ids := s.EziManager.IDs()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ids.csv"), []byte("store,guid\n1,"+ids[0]+"\n2,{"+strings.ToUpper(ids[1])+"}\n3,\n"), 0o644))
	src := openSource(t, s, dir, "ids: ids.csv\nids_column: guid\n")
	got, bad := extracttest.ReadFields(t, src)
	assert.Len(t, got, 2)
	assert.Equal(t, []string{`ids.csv:4: column "guid" is empty or missing`}, bad)
}

func TestWrongPasswordIsFatal(t *testing.T) {
	s := fake(t, sandbox.EziManagerConfig{Messages: 1})
	dir := t.TempDir()
	writeIDs(t, dir, s.EziManager.IDs())
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("kind: ezimanager\nurl: "+s.VendorURL("ezimanager")+"\nemail: ops@store.example\npassword: wr0ng-pw\nids: ids.txt\n"), &node))
	src, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0], Dir: dir}, extract.Env{})
	require.NoError(t, err)
	_, err = src.Next(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP 401")
	assert.NotContains(t, err.Error(), "wr0ng-pw")
}
