package ezimanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	api "github.com/msgmigrate/msgmigrate/api/ezimanager"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/extracttest"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/sandbox"
	"github.com/msgmigrate/msgmigrate/transport"
)

const retry = "retry: {base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms}\n"

func fake(t *testing.T, cfg sandbox.EziManagerConfig) *sandbox.Running {
	t.Helper()
	cfg.Email, cfg.Password = "ops@store.example", "pa55"
	s := sandbox.Start(sandbox.Config{EziManager: cfg})
	t.Cleanup(s.Close)
	return s
}

func openSection(t *testing.T, dir, text string) (extract.Source, error) {
	t.Helper()
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(text), &node))
	return open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0], Dir: dir}, extract.Env{})
}

func openSource(t *testing.T, s *sandbox.Running, dir, extra string) extract.Source {
	t.Helper()
	src, err := openSection(t, dir, fmt.Sprintf("kind: ezimanager\nurl: %s\nemail: ops@store.example\npassword: pa55\n%s%s", s.VendorURL("ezimanager"), retry, extra))
	require.NoError(t, err)
	t.Cleanup(func() { src.Close() })
	return src
}

func writeIDs(t *testing.T, dir string, ids []string) {
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ids.txt"), []byte("# ids\n"+strings.Join(ids, "\n")+"\n"), 0o644))
}

// want is each message as the source must hand it out: the message's
// members, its dates as instants (UTC), unset ones absent — worked out here
// from the fake's own record, not by the source's code.
func want(t *testing.T, s *sandbox.Running, ids []string, notLoaded bool) []map[string]any {
	var out []map[string]any
	for _, id := range ids {
		m, ok := s.EziManager.Message(id)
		require.True(t, ok)
		m.DocumentObject = nil
		if notLoaded {
			m.External, m.Stores, m.StoreName, m.Operators, m.Users, m.Machines = nil, nil, nil, nil, nil, nil
		}
		b, _ := json.Marshal(m)
		f, err := jsonl.Decode(b)
		require.NoError(t, err)
		for _, k := range []string{"createdUtc", "receivedUtc", "rsvpUtc"} {
			if v, ok := f[k].(string); ok {
				at, err := time.ParseInLocation("2006-01-02T15:04:05.9999999", v, time.UTC)
				require.NoError(t, err)
				f[k] = at
			}
		}
		out = append(out, f)
	}
	return out
}

func readAll(t *testing.T, src extract.Source) (recs []map[string]any, bad []*msg.Error, skipped []*msg.Skip) {
	t.Helper()
	for {
		rec, err := src.Next(context.Background())
		var me *msg.Error
		var sk *msg.Skip
		switch {
		case errors.Is(err, io.EOF):
			return
		case errors.As(err, &me):
			bad = append(bad, me)
		case errors.As(err, &sk):
			skipped = append(skipped, sk)
		default:
			require.NoError(t, err)
			recs = append(recs, rec.Fields)
		}
	}
}

func TestConformance(t *testing.T) {
	s := fake(t, sandbox.EziManagerConfig{Messages: 60})
	dir := t.TempDir()
	ids := s.EziManager.IDs()
	writeIDs(t, dir, append(append([]string{}, ids[:30]...), "not-a-guid", "00000000-0000-0000-0000-000000000001"))
	extracttest.Run(t, extracttest.Fixture{
		Open:    func(t *testing.T) extract.Source { return openSource(t, s, dir, "ids: ids.txt\nconcurrency: 6\n") },
		Records: want(t, s, ids[:30], false),
		Bad:     []string{"ids.txt:32", "ezimanager message 00000000-0000-0000-0000-000000000001"},
	})
}

// readings are the fake's readings a source must read through.
var readings = map[string]sandbox.EziManagerConfig{
	"401":                                {Expiry: sandbox.EziExpiry401},
	"403, relations not loaded":          {Expiry: sandbox.EziExpiry403, Relations: sandbox.EziRelationsNotLoaded},
	"redirect to the login page":         {Expiry: sandbox.EziExpiryRedirect, ZeroTimes: true},
	"the login page, the token wrapped":  {Expiry: sandbox.EziExpiryLoginPage, TokenObject: true},
	"403, token header X-Auth-Token:":    {Expiry: sandbox.EziExpiry403, TokenHeader: "X-Auth-Token:"},
	"401, relations ignored, zero times": {Expiry: sandbox.EziExpiry401, Relations: sandbox.EziRelationsIgnored, ZeroTimes: true},
}

// Under every reading, with sessions that expire every few dozen requests
// and faults on (429 with Retry-After, 5xx, drops, bodies cut short): every
// message is handed out once, in the file's order, as it is; each is read
// once; and each expiry costs one login.
func TestEveryReadingWithFaults(t *testing.T) {
	for name, cfg := range readings {
		t.Run(name, func(t *testing.T) {
			cfg.Messages, cfg.TokenUses = 150, 25
			cfg.Faults = sandbox.Faults{ServerError: 0.08, Drop: 0.04, Throttle: 0.05, Garble: 0.04, Seed: 3}
			s := fake(t, cfg)
			dir := t.TempDir()
			ids := s.EziManager.IDs()
			writeIDs(t, dir, ids)
			extra := "ids: ids.txt\nconcurrency: 8\n"
			if cfg.TokenHeader != "" {
				extra += "token_header: '" + cfg.TokenHeader + "'\n"
			}
			got, bad, skipped := readAll(t, openSource(t, s, dir, extra))
			assert.Empty(t, bad)
			assert.Empty(t, skipped)
			assert.Equal(t, want(t, s, ids, cfg.Relations == sandbox.EziRelationsNotLoaded), got)
			for _, id := range ids {
				require.Equal(t, 1, s.EziManager.Reads(id), "message %s read once", id)
			}
			tokens, refused := s.EziManager.Stats.Tokens.Load(), s.EziManager.Stats.Refused.Load()
			assert.Greater(t, tokens, int64(3), "sessions expired and were renewed")
			assert.LessOrEqual(t, tokens, int64(150/25+2), "one login per expiry")
			assert.Positive(t, refused)
		})
	}
}

func TestIDsFromACSVColumn(t *testing.T) {
	s := fake(t, sandbox.EziManagerConfig{Messages: 5})
	dir := t.TempDir()
	ids := s.EziManager.IDs()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ids.csv"), []byte("store,guid\n1,"+ids[0]+"\n2,{"+strings.ToUpper(ids[1])+"}\n3,\n"), 0o644))
	src := openSource(t, s, dir, "ids: ids.csv\nids_column: guid\n")
	got, bad := extracttest.ReadFields(t, src)
	assert.Equal(t, want(t, s, ids[:2], false), got)
	assert.Equal(t, []string{`ids.csv:4: column "guid" is empty or missing`}, bad)
}

// A GUID listed twice (in any spelling) is read once; its later lines are
// skipped, by line, as "listed twice".
func TestAGUIDListedTwiceIsReadOnce(t *testing.T) {
	s := fake(t, sandbox.EziManagerConfig{Messages: 3})
	dir := t.TempDir()
	ids := s.EziManager.IDs()
	writeIDs(t, dir, []string{ids[0], ids[1], "{" + strings.ToUpper(ids[0]) + "}", ids[2], ids[1]})
	got, bad, skipped := readAll(t, openSource(t, s, dir, "ids: ids.txt\n"))
	assert.Empty(t, bad)
	assert.Equal(t, want(t, s, ids, false), got)
	require.Len(t, skipped, 2)
	assert.Equal(t, "ids.txt:4: skipped: listed twice", skipped[0].Error())
	assert.Equal(t, "ids.txt:6: skipped: listed twice", skipped[1].Error())
	for _, id := range ids {
		assert.Equal(t, 1, s.EziManager.Reads(id))
	}
}

// A message that is not there, and one refused to the account, fail alone,
// naming the line that names them; the rest is read.
func TestMissingAndForbiddenMessagesFailAlone(t *testing.T) {
	ids := sandbox.NewEziManager(sandbox.EziManagerConfig{Messages: 6}).IDs()
	s := fake(t, sandbox.EziManagerConfig{Messages: 6, Expiry: sandbox.EziExpiry403, Forbidden: []string{ids[3]}})
	s.EziManager.Remove(ids[1])
	dir := t.TempDir()
	writeIDs(t, dir, ids)
	got, bad, _ := readAll(t, openSource(t, s, dir, "ids: ids.txt\nconcurrency: 1\n"))
	assert.Equal(t, want(t, s, []string{ids[0], ids[2], ids[4], ids[5]}, false), got)
	require.Len(t, bad, 2)
	assert.Equal(t, api.NotFound, bad[0].Code)
	assert.Equal(t, "ezimanager message "+ids[1], bad[0].Origin.String())
	assert.Contains(t, bad[0].Error(), "ids.txt:3 names a message that is not there")
	assert.Equal(t, api.Forbidden, bad[1].Code)
	assert.Contains(t, bad[1].Error(), "ids.txt:5 names it")
	assert.EqualValues(t, 1, s.EziManager.Stats.Tokens.Load(), "a refused message is not an expired session")
}

// A message the site cannot serve, whatever the attempt, fails alone once
// its attempts are used; the run goes on.
func TestAMessageThatCannotBeReadFailsAlone(t *testing.T) {
	const broken = "00000000-0000-0000-0000-00000000000b"
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/session/CreateToken", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `"tok"`) })
	mux.HandleFunc("GET /api/message/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == broken {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, `{"identifierGuid":%q,"createdUtc":"2024-01-01T00:00:00"}`, r.PathValue("id"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dir := t.TempDir()
	writeIDs(t, dir, []string{"00000000-0000-0000-0000-00000000000a", broken, "00000000-0000-0000-0000-00000000000c"})
	src, err := openSection(t, dir, "kind: ezimanager\nurl: "+srv.URL+"/\nemail: e\npassword: p\nids: ids.txt\nretry: {max_attempts: 3, base_delay: 1ms, max_delay: 2ms}\n")
	require.NoError(t, err)
	defer src.Close()
	got, bad, _ := readAll(t, src)
	assert.Len(t, got, 2)
	require.Len(t, bad, 1)
	assert.Equal(t, "RETRIES_EXHAUSTED", bad[0].Code)
	assert.Contains(t, bad[0].Error(), "ids.txt:3 names it")
	assert.Contains(t, bad[0].Error(), "HTTP 500")
}

// Dates are handed out as instants: without an offset they are UTC
// whatever the job's timezone, and an unset one is absent.
func TestDatesAreInstants(t *testing.T) {
	s := fake(t, sandbox.EziManagerConfig{Messages: 40, ZeroTimes: true})
	dir := t.TempDir()
	ids := s.EziManager.IDs()
	writeIDs(t, dir, ids)
	got, _, _ := readAll(t, openSource(t, s, dir, "ids: ids.txt\n"))
	require.Len(t, got, 40)
	unset := 0
	for i, f := range got {
		m, _ := s.EziManager.Message(ids[i])
		created, ok := f["createdUtc"].(time.Time)
		require.True(t, ok)
		assert.Equal(t, m.CreatedUtc, created.Format("2006-01-02T15:04:05.9999999"))
		assert.Equal(t, time.UTC, created.Location())
		if m.ReceivedUtc == nil {
			assert.NotContains(t, f, "receivedUtc", "served as 0001-01-01T00:00:00: not dismissed")
			unset++
		}
	}
	assert.Positive(t, unset)

	for in, problem := range map[string]string{`"03/04/2024"`: `createdUtc: "03/04/2024" is not a date`, `20240304`: "createdUtc: 20240304 is not a date"} {
		f, err := jsonl.Decode([]byte(`{"createdUtc":` + in + `}`))
		require.NoError(t, err)
		assert.EqualError(t, instants(f), problem)
	}
}

// A refused login stops the reading at once, sent once, naming what the
// vendor said and never the password.
func TestAWrongPasswordIsFatal(t *testing.T) {
	s := fake(t, sandbox.EziManagerConfig{Messages: 1})
	dir := t.TempDir()
	writeIDs(t, dir, s.EziManager.IDs())
	src, err := openSection(t, dir, "kind: ezimanager\nurl: "+s.VendorURL("ezimanager")+"\nemail: ops@store.example\npassword: wr0ng-pw\nids: ids.txt\n"+retry)
	require.NoError(t, err)
	defer src.Close()
	_, err = src.Next(context.Background())
	var fe *transport.FatalError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "source ezimanager refused the credentials: POST "+s.VendorURL("ezimanager")+"api/session/CreateToken: HTTP 401 LOGIN_REFUSED: "+
		"the login was refused (it is not sent again): Invalid email or password.", err.Error())
	assert.EqualValues(t, 1, s.EziManager.Stats.Logins.Load())
	assert.Zero(t, s.EziManager.Stats.Requests.Load())
}

func TestConfigurationErrors(t *testing.T) {
	dir := t.TempDir()
	writeIDs(t, dir, nil)
	cases := map[string]string{
		"url: http://x/\npassword: p\nids: ids.txt":                              "source.email and source.password are required",
		"url: http://x/\nemail: e\npassword: p":                                  "source.ids is required",
		"url: http://x/\nemail: e\npassword: p\nids: ids.txt\ntoken_header: ':'": "token_header",
		"url: http://x/\nemail: e\npassword: p\nids: nowhere.txt":                "nowhere.txt",
		"url: 'http://u:pw@x/'\nemail: e\npassword: p\nids: ids.txt":             "not in the URL",
	}
	for text, problem := range cases {
		_, err := openSection(t, dir, "kind: ezimanager\n"+text+"\n")
		require.Error(t, err, text)
		assert.Contains(t, err.Error(), problem)
	}
}
