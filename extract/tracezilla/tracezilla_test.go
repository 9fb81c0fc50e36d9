package tracezilla

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
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
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

var readings = []string{sandbox.TracezillaPagingNext, sandbox.TracezillaPagingNextPage, sandbox.TracezillaPagingBoth}

// faults are what a run must survive: 429 with Retry-After, 5xx, dropped
// connections, answers cut short.
var faults = sandbox.Faults{ServerError: 0.08, Throttle: 0.08, Drop: 0.04, Garble: 0.04, Seed: 9}

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
	src := fmt.Sprintf("kind: tracezilla\nurl: %s\ntoken: tok-123\nretry: {base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms, max_attempts: 10}\n%s", url, extra)
	require.NoError(t, yaml.Unmarshal([]byte(src), &node))
	x, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, extract.Env{})
	require.NoError(t, err)
	return x.(*Source)
}

// want is the fake's messages as records, oldest first, secrets removed
// (null members are absent from a record).
func want(t *testing.T, msgs []api.Message) []map[string]any {
	t.Helper()
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
		for _, k := range api.SecretFields {
			_, secret := f[k]
			require.False(t, secret, "a message's %s never leaves the source", k)
		}
	}
	return got
}

// ids are the records' ids, sorted.
func ids(recs []map[string]any) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r["id"].(string))
	}
	sort.Strings(out)
	return out
}

func TestConformance(t *testing.T) {
	for _, paging := range readings {
		t.Run(paging, func(t *testing.T) {
			s := fake(t, sandbox.TracezillaConfig{Messages: 230, Paging: paging})
			extracttest.Run(t, extracttest.Fixture{
				Open:    func(t *testing.T) extract.Source { return openSource(t, s.VendorURL("tracezilla"), "per_page: 50\n") },
				Records: want(t, s.Tracezilla.Messages()),
			})
		})
	}
}

// Every reading, with the links carrying the query or not, under faults:
// every message once, oldest first, nothing of its secrets.
func TestEveryMessageOnceUnderFaults(t *testing.T) {
	for _, paging := range readings {
		for _, bare := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/links without query %v", paging, bare), func(t *testing.T) {
				s := fake(t, sandbox.TracezillaConfig{Messages: 300, Paging: paging, LinksWithoutQuery: bare, Faults: faults})
				got := readAll(t, openSource(t, s.VendorURL("tracezilla"), "per_page: 15\n"))
				assert.Equal(t, want(t, s.Tracezilla.Messages()), got)
				assert.Positive(t, s.Tracezilla.Stats.Faulted.Load())
				assert.Positive(t, s.Tracezilla.Stats.Throttled.Load())
			})
		}
	}
}

// Messages turn from pending to sent while a full run reads them: the run
// reads by created_at, so every message is read once — none lost in a
// shifted page, none twice.
func TestMessagesChangingDuringAFullRunAreReadOnce(t *testing.T) {
	for _, paging := range readings {
		t.Run(paging, func(t *testing.T) {
			s := fake(t, sandbox.TracezillaConfig{Messages: 600, Paging: paging, Churn: 0.03, Seed: 4, Faults: faults})
			got := readAll(t, openSource(t, s.VendorURL("tracezilla"), "per_page: 20\n"))
			all := s.Tracezilla.Messages()
			var wantIDs []string
			for _, m := range all {
				wantIDs = append(wantIDs, m.ID)
			}
			sort.Strings(wantIDs)
			assert.Equal(t, wantIDs, ids(got), "every message exactly once")
			changed := 0
			for _, m := range all {
				if m.UpdatedAt > all[len(all)-1].CreatedAt { // the fake's changes come after every message was created
					changed++
				}
			}
			assert.Positive(t, changed, "messages did change during the run")
		})
	}
}

// A listing that read less than the API said exists ends the reading with
// a *api.PagingError — not a record's failure, not io.EOF: the run has not
// completed. Without meta (links.next_page), a page lost is still seen by
// its link's page number.
func TestAnIncompleteListingIsAnError(t *testing.T) {
	cases := []struct {
		name string
		cfg  sandbox.TracezillaConfig
		want string
	}{
		{"meta.total counts messages no page serves", sandbox.TracezillaConfig{PhantomMessages: 3}, "read 230 messages of the 233"},
		{"a page is lost", sandbox.TracezillaConfig{LostPage: 2, Paging: sandbox.TracezillaPagingNextPage}, "skips from page 1 to page 3"},
		{"the links stop before meta.last_page", sandbox.TracezillaConfig{StopAt: 3, Paging: sandbox.TracezillaPagingBoth}, "stopped at page 3 of 5"},
		{"a next link repeats", sandbox.TracezillaConfig{RepeatPage: 4}, "repeats page 4"},
		{"the filtered listing shrinks as messages are sent", sandbox.TracezillaConfig{Churn: 0.05, Seed: 3}, "shrank"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Messages = 230
			s := fake(t, c.cfg)
			extra := "per_page: 50\n"
			if c.cfg.Churn > 0 {
				extra = "per_page: 10\nstatus: pending\n"
			}
			src := openSource(t, s.VendorURL("tracezilla"), extra)
			var err error
			n := 0
			for err == nil {
				_, err = src.Next(context.Background())
				n++
			}
			require.False(t, errors.Is(err, io.EOF), "an incomplete listing never ends quietly")
			var me *msg.Error
			require.False(t, errors.As(err, &me), "it is not one record's failure")
			var pe *api.PagingError
			require.ErrorAs(t, err, &pe)
			assert.Contains(t, err.Error(), c.want)
			assert.Positive(t, n-1, "what was read before is handed out")
		})
	}
}

func TestWrongTokenIsFatal(t *testing.T) {
	s := fake(t, sandbox.TracezillaConfig{Messages: 3})
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("kind: tracezilla\nurl: "+s.VendorURL("tracezilla")+"\ntoken: nope-secret\nretry: {base_delay: 1ms, max_delay: 5ms}\n"), &node))
	x, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, extract.Env{})
	require.NoError(t, err)
	_, err = x.Next(context.Background())
	assert.ErrorContains(t, err, "HTTP 401: Unauthenticated.")
	assert.NotContains(t, err.Error(), "nope-secret")
}

// An incremental run reads newest first by updated_at and stops at its
// start, in every reading.
func TestSinceReadsNewestFirstAndStops(t *testing.T) {
	for _, paging := range readings {
		t.Run(paging, func(t *testing.T) {
			s := fake(t, sandbox.TracezillaConfig{Messages: 200, Paging: paging})
			msgs := s.Tracezilla.Messages()
			cut, err := time.Parse(time.RFC3339, msgs[150].UpdatedAt)
			require.NoError(t, err)
			src := openSource(t, s.VendorURL("tracezilla"), "per_page: 30\n")
			src.Since(cut)
			got := readAll(t, src)
			require.Len(t, got, 50)
			assert.Equal(t, msgs[199].ID, got[0]["id"])
			assert.Equal(t, msgs[150].ID, got[49]["id"])
			last, _ := time.Parse(time.RFC3339, msgs[199].UpdatedAt)
			assert.Equal(t, last, src.Watermark())
		})
	}
}

// Filtered by status[eq], a record that shows no status has the one the
// API filtered by: read with status: sent, every record says sent.
func TestAStatusFilterNamesTheStatus(t *testing.T) {
	s := fake(t, sandbox.TracezillaConfig{Messages: 90, NoStatus: true})
	got := readAll(t, openSource(t, s.VendorURL("tracezilla"), "status: sent\nper_page: 20\n"))
	var sent []string
	for _, m := range s.Tracezilla.Messages() {
		if m.Status == api.StatusSent {
			sent = append(sent, m.ID)
		}
	}
	sort.Strings(sent)
	assert.Equal(t, sent, ids(got))
	for _, r := range got {
		assert.Equal(t, "sent", r["status"])
	}
}

// The source knows its records' columns before reading: every field the
// API shows (null ones too), without the secrets.
func TestColumns(t *testing.T) {
	s := fake(t, sandbox.TracezillaConfig{Messages: 30})
	src := openSource(t, s.VendorURL("tracezilla"), "")
	b, err := json.Marshal(api.Message{Status: "sent", SentNote: new(string)})
	require.NoError(t, err)
	var shown map[string]any
	require.NoError(t, json.Unmarshal(b, &shown))
	var cols []string
	for k := range shown {
		if !slices.Contains(api.SecretFields, k) {
			cols = append(cols, k)
		}
	}
	assert.ElementsMatch(t, cols, src.Columns())
	for _, r := range readAll(t, src) {
		for k := range r {
			assert.Contains(t, src.Columns(), k)
		}
	}
}

// pageServer serves one page of the given messages with the given Date.
func pageServer(t *testing.T, date string, items ...string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", date)
		fmt.Fprintf(w, `{"data":[%s],"links":{"next":null},"meta":{"current_page":1,"last_page":1,"total":%d}}`, strings.Join(items, ","), len(items))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/api/v1/team"
}

// The watermark is the newest updated_at read, but never past the server's
// clock at the start: what changed during the run is read again next time.
func TestTheWatermarkStopsAtTheServersClock(t *testing.T) {
	items := []string{
		`{"id":"a1b2c3d4-0000-4000-8000-000000000001","created_at":"2024-06-01T10:00:00Z","updated_at":"2024-06-01T10:00:30Z"}`,
		`{"id":"a1b2c3d4-0000-4000-8000-000000000002","created_at":"2024-06-01T10:01:00Z","updated_at":"2024-06-03T09:00:00Z"}`,
	}
	cases := map[string]struct{ date, want string }{
		"a message changed after the run began": {"Mon, 03 Jun 2024 08:00:00 GMT", "2024-06-03T08:00:00Z"},
		"nothing changed since":                 {"Tue, 04 Jun 2024 08:00:00 GMT", "2024-06-03T09:00:00Z"},
		"no clock":                              {"", "2024-06-03T09:00:00Z"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			src := openSource(t, pageServer(t, c.date, items...), "")
			readAll(t, src)
			assert.Equal(t, c.want, src.Watermark().UTC().Format(time.RFC3339))
		})
	}
}

// A message that cannot be read fails alone, named by its id or its page;
// the others are read.
func TestABadMessageFailsAlone(t *testing.T) {
	url := pageServer(t, "",
		`{"id":"a1b2c3d4-0000-4000-8000-000000000001","updated_at":"2024-06-01T10:00:30Z","secret_key":"k"}`,
		`{"id":"a1b2c3d4-0000-4000-8000-000000000002","updated_at":"yesterday","secret_key":"s3cr3t-xyz"}`,
		`{"subject":"no id","updated_at":"2024-06-01T10:00:30Z"}`,
		`{"id":"a1b2c3d4-0000-4000-8000-000000000003","updated_at":"2024-06-01T10:00:30Z"}`,
	)
	recs, errs := extracttest.ReadAll(t, openSource(t, url, ""))
	assert.Len(t, recs, 2)
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
		assert.NotContains(t, e.Error(), "s3cr3t")
	}
	assert.Equal(t, []string{
		`tracezilla message a1b2c3d4-0000-4000-8000-000000000002: updated_at "yesterday" is not a time`,
		"tracezilla message on page 1: a message without an id",
	}, got)
	assert.True(t, slices.ContainsFunc(recs, func(r *msg.Record) bool { return r.Origin.ID == "a1b2c3d4-0000-4000-8000-000000000003" }))
}

// A full run knows how much it will read; an incremental one does not.
func TestProgress(t *testing.T) {
	s := fake(t, sandbox.TracezillaConfig{Messages: 60})
	src := openSource(t, s.VendorURL("tracezilla"), "per_page: 25\n")
	readAll(t, src)
	done, total := src.Progress()
	assert.Equal(t, int64(60), done)
	assert.Equal(t, int64(60), total)
}
