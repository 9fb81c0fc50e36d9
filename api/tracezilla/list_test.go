package tracezilla_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/msgmigrate/msgmigrate/api/tracezilla"
	"github.com/msgmigrate/msgmigrate/sandbox"
	"github.com/msgmigrate/msgmigrate/transport"
)

// fast retries quickly; what the tests assert never depends on a wait.
var fast = transport.Policy{MaxAttempts: 8, MaxThrottled: 50, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond,
	MaxRetryAfter: 5 * time.Millisecond, FailFast: 3, CircuitAfter: 50, Outage: 10 * time.Second}

func client(t *testing.T, base string) *api.Client {
	t.Helper()
	u, err := transport.CheckURL("source.url", base)
	require.NoError(t, err)
	tc := &transport.Client{HTTP: transport.NewHTTPClient(4, 5*time.Second), Pacer: transport.NewPacer("source tracezilla", 0, 1, fast, nil)}
	return api.NewClient(u, "tok-123", tc)
}

func fake(t *testing.T, cfg sandbox.TracezillaConfig) *sandbox.Running {
	t.Helper()
	cfg.Token = "tok-123"
	s := sandbox.Start(sandbox.Config{Tracezilla: cfg})
	t.Cleanup(s.Close)
	return s
}

// readIDs reads a listing to its end: the ids in the order handed out,
// and the error that ended it (nil at a complete end).
func readIDs(t *testing.T, l *api.Lister) ([]string, error) {
	t.Helper()
	var ids []string
	for {
		items, err := l.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return ids, nil
		}
		if err != nil {
			return ids, err
		}
		for _, raw := range items {
			var m api.Message
			require.NoError(t, json.Unmarshal(raw, &m))
			ids = append(ids, m.ID)
		}
	}
}

func byCreated(msgs []api.Message) []string {
	slices.SortStableFunc(msgs, func(a, b api.Message) int {
		if c := strings.Compare(a.CreatedAt, b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	return ids
}

var readings = []string{sandbox.TracezillaPagingNext, sandbox.TracezillaPagingNextPage, sandbox.TracezillaPagingBoth}

// Every reading of the paging keys is read to the end, every message once,
// under faults, whether the links carry the query or only ?page=N.
func TestListerReadsEveryReading(t *testing.T) {
	for _, paging := range readings {
		for _, bare := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/links without query %v", paging, bare), func(t *testing.T) {
				s := fake(t, sandbox.TracezillaConfig{Messages: 230, Paging: paging, LinksWithoutQuery: bare,
					Faults: sandbox.Faults{ServerError: 0.1, Throttle: 0.1, Drop: 0.05, Seed: 5}})
				l := client(t, s.VendorURL("tracezilla")).List(api.ListQuery{PerPage: 10, SortBy: "created_at"})
				ids, err := readIDs(t, l)
				require.NoError(t, err)
				assert.Equal(t, byCreated(s.Tracezilla.Messages()), ids, "every message once, oldest first")
				assert.Positive(t, s.Tracezilla.Stats.Faulted.Load()+s.Tracezilla.Stats.Throttled.Load())
			})
		}
	}
}

// The status filter goes to the API as status[eq], on every page, even
// when the links leave it out.
func TestListerKeepsTheFilterOnEveryPage(t *testing.T) {
	s := fake(t, sandbox.TracezillaConfig{Messages: 120, LinksWithoutQuery: true})
	l := client(t, s.VendorURL("tracezilla")).List(api.ListQuery{PerPage: 10, SortBy: "created_at", Status: api.StatusSent})
	ids, err := readIDs(t, l)
	require.NoError(t, err)
	var sent []api.Message
	for _, m := range s.Tracezilla.Messages() {
		if m.Status == api.StatusSent {
			sent = append(sent, m)
		}
	}
	require.NotEmpty(t, sent)
	assert.Equal(t, byCreated(sent), ids)
}

// A listing that reads less than the API said exists, or whose paging
// contradicts itself, ends in a *PagingError — never in a quiet end. Where
// a reading gives nothing to check against (links.next_page has no meta),
// the case says so.
func TestListerRefusesAnIncompleteListing(t *testing.T) {
	cases := []struct {
		name string
		cfg  sandbox.TracezillaConfig
		want string // "" : the reading cannot tell
		page int
	}{
		{"meta.total counts messages no page serves", sandbox.TracezillaConfig{PhantomMessages: 21}, "stopped at page 5 of 6", 5},
		{"meta.total over what is read, last page consistent", sandbox.TracezillaConfig{PhantomMessages: 3}, "read 230 messages of the 233 meta.total said exist", 5},
		{"a page is lost (meta)", sandbox.TracezillaConfig{LostPage: 3}, "skips from page 2 to page 4", 2},
		{"a page is lost (next_page)", sandbox.TracezillaConfig{LostPage: 3, Paging: sandbox.TracezillaPagingNextPage}, "skips from page 2 to page 4", 2},
		{"the links stop early (meta)", sandbox.TracezillaConfig{StopAt: 2}, "stopped at page 2 of 5", 2},
		{"the links stop early (both)", sandbox.TracezillaConfig{StopAt: 2, Paging: sandbox.TracezillaPagingBoth}, "stopped at page 2 of 5", 2},
		{"a next link repeats its page", sandbox.TracezillaConfig{RepeatPage: 2}, "repeats page 2", 2},
		{"a next link repeats its page (next_page)", sandbox.TracezillaConfig{RepeatPage: 2, Paging: sandbox.TracezillaPagingNextPage}, "repeats page 2", 2},
		// links.next_page alone: no meta, so nothing says more exist.
		{"next_page: the links stop early", sandbox.TracezillaConfig{StopAt: 2, Paging: sandbox.TracezillaPagingNextPage}, "", 0},
		{"next_page: phantom messages", sandbox.TracezillaConfig{PhantomMessages: 7, Paging: sandbox.TracezillaPagingNextPage}, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Messages = 230
			s := fake(t, c.cfg)
			l := client(t, s.VendorURL("tracezilla")).List(api.ListQuery{PerPage: 50, SortBy: "created_at"})
			ids, err := readIDs(t, l)
			if c.want == "" {
				require.NoError(t, err, "this reading has nothing to check the end against")
				assert.Less(t, len(ids), 230+c.cfg.PhantomMessages)
				return
			}
			var pe *api.PagingError
			require.ErrorAs(t, err, &pe)
			assert.Contains(t, pe.Error(), c.want)
			assert.Equal(t, c.page, pe.Page)
			_, again := l.Next(context.Background())
			assert.ErrorAs(t, again, &pe, "the error is sticky: a listing never ends quietly after it")
		})
	}
}

// pages serves canned list answers by their page parameter; {{base}} in
// an answer is the server's URL.
func pages(t *testing.T, answers map[string]string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.Header.Get("Authorization") != "Bearer tok-123" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		a, ok := answers[r.URL.Query().Get("page")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, strings.ReplaceAll(a, "{{base}}", srv.URL+"/api/v1/team/messages"))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

const msg1 = `{"id":"be3233c4-c0a2-4f47-a62a-303492c20ba6","updated_at":"2024-01-01T00:00:00Z"}`
const msg2 = `{"id":"c0a2b323-c0a2-4f47-a62a-303492c20ba6","updated_at":"2024-01-01T00:00:00Z"}`

func meta(page, last, total int) string {
	return fmt.Sprintf(`"meta":{"current_page":%d,"from":1,"last_page":%d,"path":"p","per_page":1,"to":1,"total":%d}`, page, last, total)
}

// Shapes of answers the fake does not make, each an error that names what
// is wrong.
func TestListerRefusesContradictoryPaging(t *testing.T) {
	cases := []struct {
		name    string
		answers map[string]string
		want    string
	}{
		{"no next key at all", map[string]string{"1": `{"data":[` + msg1 + `],"links":{"first":"x"}}`},
			"neither links.next nor links.next_page"},
		{"no links at all", map[string]string{"1": `{"data":[` + msg1 + `]}`},
			"neither links.next nor links.next_page"},
		{"the two keys disagree", map[string]string{"1": `{"data":[` + msg1 + `],"links":{"next":"{{base}}?page=2","next_page":null}}`},
			"links.next and links.next_page disagree"},
		{"a link that is not a string", map[string]string{"1": `{"data":[` + msg1 + `],"links":{"next":2}}`},
			"links.next is not a link or null"},
		{"a link that changes the sort", map[string]string{"1": `{"data":[` + msg1 + `],"links":{"next":"{{base}}?page=2&sortBy=updated_at"}}`},
			`changes sortBy from "created_at" to "updated_at"`},
		{"a link to another listing", map[string]string{"1": `{"data":[` + msg1 + `],"links":{"next":"/api/v1/other-team/messages?page=2"}}`},
			"not the listing"},
		{"a link without a page number that repeats", map[string]string{"1": `{"data":[` + msg1 + `],"links":{"next":"{{base}}?cursor=a"}}`,
			"": `{"data":[` + msg2 + `],"links":{"next":"{{base}}?cursor=a"}}`},
			"repeats one already read"},
		{"meta says another page", map[string]string{"1": `{"data":[` + msg1 + `],"links":{"next":"{{base}}?page=2"},` + meta(1, 2, 2) + `}`,
			"2": `{"data":[` + msg2 + `],"links":{"next":null},` + meta(3, 2, 2) + `}`},
			"asked for page 2, the answer says it is page 3"},
		{"the listing shrinks", map[string]string{"1": `{"data":[` + msg1 + `],"links":{"next":"{{base}}?page=2"},` + meta(1, 3, 3) + `}`,
			"2": `{"data":[` + msg2 + `],"links":{"next":null},` + meta(2, 2, 2) + `}`},
			"shrank from 3 to 2 messages"},
		{"meta disappears", map[string]string{"1": `{"data":[` + msg1 + `],"links":{"next":"{{base}}?page=2"},` + meta(1, 2, 2) + `}`,
			"2": `{"data":[` + msg2 + `],"links":{"next":null}}`},
			"page 1 had meta"},
		{"the last page links on", map[string]string{"1": `{"data":[` + msg1 + `],"links":{"next":"{{base}}?page=2"},` + meta(1, 1, 1) + `}`},
			"meta says page 1 is the last"},
		{"an empty page links on", map[string]string{"1": `{"data":[],"links":{"next":"{{base}}?page=2"}}`},
			"an empty page links to another"},
		{"a page of messages already read", map[string]string{"1": `{"data":[` + msg1 + `],"links":{"next":"{{base}}?page=2"}}`,
			"2": `{"data":[` + msg1 + `],"links":{"next":"{{base}}?page=3"}}`},
			"every message on it was read before"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, _ := pages(t, c.answers)
			l := client(t, srv.URL+"/api/v1/team").List(api.ListQuery{PerPage: 1, SortBy: "created_at"})
			_, err := readIDs(t, l)
			var pe *api.PagingError
			require.ErrorAs(t, err, &pe, "%v", err)
			assert.Contains(t, pe.Error(), c.want)
		})
	}
}

// A next link to another host is never followed: the token goes nowhere
// else.
func TestTheTokenStaysOnTheConfiguredOrigin(t *testing.T) {
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization") != "")
		io.WriteString(w, `{"data":[],"links":{"next":null}}`)
	}))
	defer other.Close()
	for _, paging := range readings {
		t.Run(paging, func(t *testing.T) {
			s := fake(t, sandbox.TracezillaConfig{Messages: 30, Paging: paging, NextPageOrigin: other.URL})
			_, err := readIDs(t, client(t, s.VendorURL("tracezilla")).List(api.ListQuery{PerPage: 10, SortBy: "created_at"}))
			var pe *api.PagingError
			require.ErrorAs(t, err, &pe)
			u, _ := url.Parse(other.URL)
			assert.Contains(t, pe.Error(), "points to "+u.Host)
			assert.Contains(t, pe.Error(), "refusing to follow it with the token")
			assert.False(t, leaked.Load())
		})
	}
}

// A page that answers the same messages again (its neighbour shifted) hands
// each out once.
func TestListerHandsOutAMessageOnce(t *testing.T) {
	srv, _ := pages(t, map[string]string{
		"1": `{"data":[` + msg1 + `],"links":{"next":"{{base}}?page=2"},` + meta(1, 2, 2) + `}`,
		"2": `{"data":[` + msg1 + `,` + msg2 + `],"links":{"next":null},` + meta(2, 2, 2) + `}`,
	})
	l := client(t, srv.URL+"/api/v1/team").List(api.ListQuery{PerPage: 1, SortBy: "created_at"})
	ids, err := readIDs(t, l)
	require.NoError(t, err)
	assert.Equal(t, []string{"be3233c4-c0a2-4f47-a62a-303492c20ba6", "c0a2b323-c0a2-4f47-a62a-303492c20ba6"}, ids)
	assert.Equal(t, 1, l.Repeats())
}

// A wrong team is a wrong URL: fatal, not a page that failed.
func TestAWrongTeamIsFatal(t *testing.T) {
	s := fake(t, sandbox.TracezillaConfig{Messages: 3})
	_, err := readIDs(t, client(t, s.URL()+sandbox.TracezillaBase+"/no-such-team").List(api.ListQuery{PerPage: 10, SortBy: "created_at"}))
	var fe *transport.FatalError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, transport.KindEndpoint, fe.Last.Kind)
}

// The server's clock at the first page bounds what a run may call read.
func TestListerKnowsTheServersClock(t *testing.T) {
	s := fake(t, sandbox.TracezillaConfig{Messages: 3})
	l := client(t, s.VendorURL("tracezilla")).List(api.ListQuery{PerPage: 10, SortBy: "created_at"})
	before := time.Now().Add(-time.Second)
	_, err := readIDs(t, l)
	require.NoError(t, err)
	assert.WithinRange(t, l.Started(), before.Truncate(time.Second), time.Now().Add(time.Second))
}
