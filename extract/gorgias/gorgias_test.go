package gorgias

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	apig "github.com/msgmigrate/msgmigrate/api/gorgias"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/extracttest"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/sandbox"
	"github.com/msgmigrate/msgmigrate/transport"
)

// fake is the fake with a fast bucket unless cfg says otherwise: the
// source's account_window in openSource matches BucketSize/LeakPerSecond.
func fake(t *testing.T, cfg sandbox.GorgiasConfig) *sandbox.Running {
	t.Helper()
	cfg.Email, cfg.APIKey = "ops@shop.example", "k3y"
	if cfg.BucketSize == 0 {
		cfg.BucketSize, cfg.LeakPerSecond = 400, 4000
	}
	s := sandbox.Start(sandbox.Config{Gorgias: cfg})
	t.Cleanup(s.Close)
	return s
}

func section(t testing.TB, text string) config.Section {
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(text), &node))
	return config.Section{File: "job.yaml", Node: node.Content[0]}
}

func openSource(t *testing.T, s *sandbox.Running, extra string) *Source {
	t.Helper()
	if !strings.Contains(extra, "account_window") {
		extra += "account_window: 100ms\n" // the fake's default bucket: 400 calls leak in 100 ms
	}
	src := fmt.Sprintf("kind: gorgias\nurl: %s\nusername: ops@shop.example\napi_key: k3y\nrate: 1000/s\n"+
		"retry: {max_attempts: 8, base_delay: 1ms, max_delay: 5ms, max_retry_after: 20ms}\n%s", s.VendorURL("gorgias"), extra)
	x, err := open(context.Background(), section(t, src), extract.Env{})
	require.NoError(t, err)
	return x.(*Source)
}

// want is what the source must yield: the fake's messages that are not
// deleted (or all of them), as JSON objects whose datetimes are times.
func want(t *testing.T, s *sandbox.Running, deletedToo bool) []map[string]any {
	var out []map[string]any
	for _, m := range s.Gorgias.Messages() {
		if m.DeletedDatetime != nil && !deletedToo {
			continue
		}
		b, err := json.Marshal(m)
		require.NoError(t, err)
		f, err := jsonl.Decode(b)
		require.NoError(t, err)
		for _, k := range apig.Datetimes {
			if v, ok := f[k].(string); ok {
				f[k], err = apig.ParseTime(v)
				require.NoError(t, err)
			}
		}
		out = append(out, f)
	}
	return out
}

func deleted(s *sandbox.Running) int {
	n := 0
	for _, m := range s.Gorgias.Messages() {
		if m.DeletedDatetime != nil {
			n++
		}
	}
	return n
}

// readAll reads every message: none may fail; skips are counted by reason.
func readAll(t *testing.T, src extract.Source) ([]map[string]any, map[string]int) {
	t.Helper()
	var got []map[string]any
	skips := map[string]int{}
	for {
		rec, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return got, skips
		}
		var sk *msg.Skip
		if errors.As(err, &sk) {
			assert.Contains(t, sk.Error(), sk.Origin.String(), "a skip names its message")
			skips[sk.Reason]++
			continue
		}
		require.NoError(t, err)
		got = append(got, rec.Fields)
	}
}

// skipless hides the skipped records from the conformance suite, which
// knows records and read failures only; the skips have their own test.
type skipless struct{ extract.Source }

func (s skipless) Next(ctx context.Context) (*msg.Record, error) {
	for {
		rec, err := s.Source.Next(ctx)
		var sk *msg.Skip
		if !errors.As(err, &sk) {
			return rec, err
		}
	}
}

func TestConformance(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 250})
	extracttest.Run(t, extracttest.Fixture{
		Open:    func(t *testing.T) extract.Source { return skipless{openSource(t, s, "limit: 100\n")} },
		Records: want(t, s, false),
	})
}

// Every message once — deleted ones skipped and counted — through the
// account's leaky bucket (429 with Retry-after), server errors, dropped
// connections and answers cut short.
func TestExtractsEveryMessageOnceUnderLimitsAndFaults(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 800, BucketSize: 4, LeakPerSecond: 400,
		Faults: sandbox.Faults{ServerError: 0.1, Drop: 0.05, Garble: 0.05, Throttle: 0.05, Seed: 5}})
	src := openSource(t, s, "limit: 50\naccount_window: 10ms\n")
	got, skips := readAll(t, src)
	assert.Equal(t, want(t, s, false), got)
	assert.Equal(t, map[string]int{"deleted": deleted(s)}, skips)
	assert.Positive(t, s.Gorgias.Stats.Throttled.Load(), "429s")
	assert.Positive(t, s.Gorgias.Stats.Faulted.Load())
}

func TestIncludeDeleted(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 120})
	got, skips := readAll(t, openSource(t, s, "include_deleted: true\n"))
	assert.Equal(t, want(t, s, true), got)
	assert.Empty(t, skips)
	n := 0
	for _, f := range got {
		if f["deleted_datetime"] != nil {
			n++
		}
	}
	assert.Equal(t, deleted(s), n)
	assert.Positive(t, n)
}

// The record is the vendor's: an internal note on a public channel keeps
// public: false and its channel, a channel newer than the client comes
// through as it is, and every datetime layout Gorgias writes is read as
// the same instant (UTC when it carries no offset).
func TestRecordsKeepWhatTheMappingDecidesOn(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 40})
	got, _ := readAll(t, openSource(t, s, ""))
	byID := map[int64]map[string]any{}
	for _, f := range got {
		byID[f["id"].(int64)] = f
	}
	for _, m := range s.Gorgias.Messages() {
		f, ok := byID[m.ID]
		if m.DeletedDatetime != nil {
			assert.False(t, ok)
			continue
		}
		require.True(t, ok)
		assert.Equal(t, m.Public, f["public"])
		assert.Equal(t, m.Channel, f["channel"])
		created, err := time.Parse(time.RFC3339, "2024-01-01T08:00:00Z")
		require.NoError(t, err)
		assert.Equal(t, created.Add(time.Duration(m.ID-1001)*time.Minute), f["created_datetime"], "%d: %s", m.ID, m.CreatedDatetime)
	}
	assert.Equal(t, "email", byID[1007]["channel"])
	assert.Equal(t, false, byID[1007]["public"], "a note on the email channel")
	assert.Equal(t, sandbox.NewChannel, byID[1017]["channel"])
}

func TestConfigErrors(t *testing.T) {
	cases := map[string]string{
		"kind: gorgias\nurl: http://x\nusername: a\napi_key: b\nlimit: 250\n":           "Gorgias pages hold 1 to 100 messages",
		"kind: gorgias\nurl: http://x\nusername: a\n":                                   "source.username and source.api_key are required",
		"kind: gorgias\nurl: http://x\nusername: a\napi_key: b\naccess_token: t\n":      "either access_token (OAuth2) or username and api_key",
		"kind: gorgias\nurl: http://x\nusername: a\napi_key: b\nincude_deleted: true\n": "incude_deleted",
		"kind: gorgias\nurl: http://x\nusername: a\napi_key: b\nsince: yesterday\n":     "want RFC 3339",
		"kind: gorgias\nurl: http://u:p@x\nusername: a\napi_key: b\n":                   "credentials",
		"kind: gorgias\nurl: http://x\naccess_token: t\naccount_window: soon\n":         "line 4: \"soon\" is not a duration",
	}
	for text, msg := range cases {
		_, err := open(context.Background(), section(t, text), extract.Env{})
		require.Error(t, err, text)
		assert.Contains(t, err.Error(), msg, text)
	}
}

func TestWrongKeyIsFatal(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 10})
	src, err := open(context.Background(), section(t, "kind: gorgias\nurl: "+s.VendorURL("gorgias")+
		"\nusername: ops@shop.example\napi_key: wrong-k3y\nretry: {base_delay: 1ms, max_delay: 2ms}\n"), extract.Env{})
	require.NoError(t, err)
	_, err = src.Next(context.Background())
	var fe *transport.FatalError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, 401, fe.Last.Status)
	assert.NotContains(t, err.Error(), "wrong-k3y")
}

// An OAuth2 app authenticates with its token.
func TestAccessToken(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 30, AccessToken: "oauth-t0k"})
	src, err := open(context.Background(), section(t, "kind: gorgias\nurl: "+s.VendorURL("gorgias")+"\naccess_token: oauth-t0k\n"), extract.Env{})
	require.NoError(t, err)
	got, _ := readAll(t, src)
	assert.Len(t, got, 30-deleted(s))
}

// A cursor that expires mid-listing never loses or repeats a message,
// however the vendor answers it.
func TestExpiredCursorRestartsWithoutRepeats(t *testing.T) {
	for _, status := range apig.CursorRefused {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			s := fake(t, sandbox.GorgiasConfig{Messages: 300, ExpiredCursor: status})
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
				var sk *msg.Skip
				if errors.As(err, &sk) {
					continue
				}
				require.NoError(t, err)
				got = append(got, rec.Fields)
			}
			assert.Equal(t, want(t, s, false), got)
			assert.Equal(t, 1, src.listing.Restarts)
		})
	}
}

// Incremental: newest first, down to since.
func TestSinceReadsNewestFirstAndStops(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 300})
	msgs := s.Gorgias.Messages()
	cut, err := apig.ParseTime(msgs[252].CreatedDatetime)
	require.NoError(t, err)
	src := openSource(t, s, "limit: 20\n")
	src.Since(cut)
	got, skips := readAll(t, src)
	var ids []any
	for i := len(msgs) - 1; i >= 252; i-- {
		if msgs[i].DeletedDatetime == nil {
			ids = append(ids, msgs[i].ID)
		}
	}
	var gotIDs []any
	for _, f := range got {
		gotIDs = append(gotIDs, f["id"])
	}
	assert.Equal(t, ids, gotIDs)
	assert.Equal(t, 48, len(got)+skips["deleted"])
	assert.Equal(t, cut.Add(47*time.Minute), src.Watermark())
}

// Other apps spend from the account's budget: the source reads the
// call-limit header on every answer and holds every request back while the
// bucket is nearly full, and still reads every message once.
func TestTheAccountBudgetIsShared(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 600, BucketSize: 40, LeakPerSecond: 400, OtherApps: 300, OtherAppsUsed: 38})
	// The real window: the first answer says 39/40, 4 calls into the
	// reserve at half a second each.
	src := openSource(t, s, "limit: 10\naccount_window: 20s\n")
	_, err := src.Next(context.Background())
	require.NoError(t, err)
	assert.Greater(t, src.client.T.Pacer.Paused(), time.Second, "every request held back")
	assert.EqualValues(t, 39, src.client.Budget.Stats.Used.Load())
	assert.EqualValues(t, 40, src.client.Budget.Stats.Limit.Load())

	src = openSource(t, s, "limit: 10\n")
	got, _ := readAll(t, src)
	assert.Equal(t, want(t, s, false), got)
	assert.Positive(t, src.client.Budget.Stats.Pauses.Load())
}

func TestColumns(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 40})
	src := openSource(t, s, "")
	got, _ := readAll(t, src)
	for _, f := range got {
		for k := range f {
			assert.Contains(t, src.Columns(), k, "every field of a record is a known column")
		}
	}
}
