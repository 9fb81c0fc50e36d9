package ezimanager_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/msgmigrate/msgmigrate/api/ezimanager"
	"github.com/msgmigrate/msgmigrate/sandbox"
	"github.com/msgmigrate/msgmigrate/transport"
)

var fast = transport.Policy{MaxAttempts: 4, MaxThrottled: 5, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond,
	MaxRetryAfter: 10 * time.Millisecond, FailFast: 3, CircuitAfter: 50, Outage: time.Second}

func startFake(t *testing.T, cfg sandbox.EziManagerConfig) *sandbox.Running {
	t.Helper()
	cfg.Email, cfg.Password = "ops@store.example", "pa55-w0rd"
	if cfg.Messages == 0 {
		cfg.Messages = 10
	}
	fake := sandbox.Start(sandbox.Config{EziManager: cfg})
	t.Cleanup(fake.Close)
	return fake
}

func newClient(t *testing.T, site, tokenHeader, password string) *api.Client {
	t.Helper()
	s, err := api.NewSession(tokenHeader, "ops@store.example", password)
	require.NoError(t, err)
	u, err := url.Parse(site)
	require.NoError(t, err)
	hc := &transport.Client{HTTP: transport.NewHTTPClient(8, 5*time.Second), Pacer: transport.NewPacer("source ezimanager", 0, 1, fast, nil)}
	return api.NewClient(hc, u, s, nil)
}

func clientFor(t *testing.T, fake *sandbox.Running, tokenHeader string) *api.Client {
	return newClient(t, fake.VendorURL("ezimanager"), tokenHeader, "pa55-w0rd")
}

func transportError(t *testing.T, err error) *transport.Error {
	t.Helper()
	var e *transport.Error
	require.ErrorAs(t, err, &e)
	return e
}

// Whichever way an expired session is answered — 401, 403, a redirect to
// the login page, the login page itself — the requests that met it log in
// once between them and are each answered.
func TestEveryReadingOfAnExpiredSessionLogsInOnce(t *testing.T) {
	for name, reading := range sandbox.EziExpiryReadings {
		t.Run(name, func(t *testing.T) {
			fake := startFake(t, sandbox.EziManagerConfig{Expiry: reading})
			c := clientFor(t, fake, "")
			ids := fake.EziManager.IDs()
			ctx := context.Background()
			_, _, err := c.Message(ctx, ids[0])
			require.NoError(t, err)
			fake.EziManager.EndSession()

			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Go(func() {
					m, _, err := c.Message(ctx, ids[1+i])
					if err == nil && string(m["identifierGuid"]) != `"`+ids[1+i]+`"` {
						err = fmt.Errorf("got %s", m["identifierGuid"])
					}
					errs[i] = err
				})
			}
			wg.Wait()
			for i, err := range errs {
				assert.NoError(t, err, "message %d", 1+i)
			}
			assert.EqualValues(t, 2, fake.EziManager.Stats.Tokens.Load(), "the first login and one renewal")
			assert.EqualValues(t, 2, c.Session.Logins.Load())
			assert.Positive(t, c.Session.Refusals.Load())
			for _, id := range ids[:9] {
				assert.Equal(t, 1, fake.EziManager.Reads(id), "message %s read once", id)
			}
		})
	}
}

// The login goes through the transport: a 429 or a 5xx on CreateToken is
// tried again.
func TestTheLoginIsRetried(t *testing.T) {
	fake := startFake(t, sandbox.EziManagerConfig{Faults: sandbox.Faults{Throttle: 0.3, ServerError: 0.3, Seed: 5}})
	for range 10 {
		c := clientFor(t, fake, "")
		require.NoError(t, c.HTTP.Pacer.Call(context.Background(), func() error { return c.Login(context.Background()) }))
		assert.NotEmpty(t, c.Session.Token())
	}
	assert.Greater(t, fake.EziManager.Stats.Logins.Load(), fake.EziManager.Stats.Tokens.Load(), "some logins met a fault and were tried again")
}

// A refused login (whatever status says so) is fatal, names what the vendor
// said, never shows the password, and is not sent again.
func TestARefusedLoginIsFatalAndSentOnce(t *testing.T) {
	for _, status := range []int{400, 401, 403} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			fake := startFake(t, sandbox.EziManagerConfig{LoginRefusal: status})
			c := newClient(t, fake.VendorURL("ezimanager"), "", "wr0ng-pw")
			for range 3 {
				_, _, err := c.Message(context.Background(), fake.EziManager.IDs()[0])
				e := transportError(t, err)
				assert.Equal(t, transport.Fatal, e.Class)
				assert.Equal(t, transport.KindAuth, e.Kind)
				assert.Equal(t, api.LoginRefused, e.Code)
				assert.Equal(t, status, e.Status)
				assert.Contains(t, e.Error(), "Invalid email or password.")
				assert.NotContains(t, e.Error(), "wr0ng-pw")
			}
			assert.EqualValues(t, 1, fake.EziManager.Stats.Logins.Load(), "a refused login is sent once")
			assert.Zero(t, fake.EziManager.Stats.Requests.Load(), "no message is asked for")
		})
	}
}

// A vendor that echoes the request in its refusal does not put the
// password in an error.
func TestARefusalThatEchoesThePasswordIsRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"Message":"Login failed for ops@store.example with password s3cr3t-pw"}`)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL+"/", "", "s3cr3t-pw")
	e := transportError(t, c.Login(context.Background()))
	assert.Equal(t, api.LoginRefused, e.Code)
	assert.NotContains(t, e.Error(), "s3cr3t-pw")
	assert.Contains(t, e.Error(), "with password [password]")
}

// How the token is presented is undocumented: token_header says it. A
// header the site does not read stops after two logins — the login works,
// its tokens never do — under every reading of a refused session.
func TestTokenHeader(t *testing.T) {
	cases := map[string]struct {
		site, job string
		ok        bool
	}{
		"default":                 {"", "", true},
		"a header without prefix": {"X-Auth-Token:", "X-Auth-Token:", true},
		"another prefix":          {"Authorization: Session", "Authorization: Session", true},
		"the wrong header":        {"X-Auth-Token:", "", false},
		"the wrong prefix":        {"Authorization: Session", "Authorization: Bearer", false},
	}
	for name, tc := range cases {
		for reading, expiry := range sandbox.EziExpiryReadings {
			t.Run(name+"/"+reading, func(t *testing.T) {
				fake := startFake(t, sandbox.EziManagerConfig{TokenHeader: tc.site, Expiry: expiry})
				c := clientFor(t, fake, tc.job)
				for range 3 {
					_, _, err := c.Message(context.Background(), fake.EziManager.IDs()[0])
					if tc.ok {
						require.NoError(t, err)
						continue
					}
					e := transportError(t, err)
					assert.Equal(t, transport.Fatal, e.Class)
					assert.Equal(t, api.TokenRefused, e.Code)
					assert.Contains(t, e.Error(), "check token_header")
				}
				want := int64(1)
				if !tc.ok {
					want = 2
				}
				assert.Equal(t, want, fake.EziManager.Stats.Logins.Load())
			})
		}
	}
}

func TestBadTokenHeaderIsAConfigurationError(t *testing.T) {
	for _, h := range []string{": Bearer", "Two Words: Bearer"} {
		_, err := api.NewSession(h, "e", "p")
		assert.Error(t, err, h)
	}
}

// CreateToken's answer is read as the page shows it (a JSON string) and as
// a public connector met it (an object holding the token).
func TestTokenShapes(t *testing.T) {
	for _, object := range []bool{false, true} {
		fake := startFake(t, sandbox.EziManagerConfig{TokenObject: object})
		c := clientFor(t, fake, "")
		_, _, err := c.Message(context.Background(), fake.EziManager.IDs()[0])
		require.NoError(t, err, "object %v", object)
	}
	cases := map[string]string{`"abc"`: "abc", `{"token":"abc"}`: "abc", `{"accessToken":"abc"}`: "abc", `{"access_token":" abc "}`: "abc"}
	for in, want := range cases {
		got, ok := api.ParseToken([]byte(in))
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{`""`, `{}`, `{"token":1}`, `<html>`, `null`} {
		_, ok := api.ParseToken([]byte(in))
		assert.False(t, ok, in)
	}
}

// A 403 to one message, while the same session reads another, fails that
// message alone — no login — under every reading of an expired session.
func TestAForbiddenMessageFailsAlone(t *testing.T) {
	for reading, expiry := range sandbox.EziExpiryReadings {
		t.Run(reading, func(t *testing.T) {
			ids := sandbox.NewEziManager(sandbox.EziManagerConfig{Messages: 5}).IDs() // the same ids for the same seed
			fake := sandbox.Start(sandbox.Config{EziManager: sandbox.EziManagerConfig{Email: "ops@store.example", Password: "pa55-w0rd", Messages: 5, Expiry: expiry,
				Forbidden: []string{ids[2], ids[3]}}})
			defer fake.Close()
			c := clientFor(t, fake, "")
			ctx := context.Background()
			_, _, err := c.Message(ctx, ids[0])
			require.NoError(t, err)
			for _, id := range ids[2:4] {
				_, _, err = c.Message(ctx, id)
				e := transportError(t, err)
				assert.Equal(t, transport.Permanent, e.Class)
				assert.Equal(t, api.Forbidden, e.Code)
			}
			_, _, err = c.Message(ctx, ids[4])
			require.NoError(t, err)
			assert.EqualValues(t, 1, fake.EziManager.Stats.Logins.Load(), "a message refused to the account is not a session")
		})
	}
}

// A message that is not there fails as NOT_FOUND: a 404, or a 200 with
// null or nothing in it.
func TestAMissingMessage(t *testing.T) {
	fake := startFake(t, sandbox.EziManagerConfig{})
	c := clientFor(t, fake, "")
	_, _, err := c.Message(context.Background(), "00000000-0000-0000-0000-000000000001")
	e := transportError(t, err)
	assert.Equal(t, transport.Permanent, e.Class)
	assert.Equal(t, api.NotFound, e.Code)
	assert.Contains(t, e.Error(), "message 00000000-0000-0000-0000-000000000001: No message found")

	for name, answer := range map[string]func(http.ResponseWriter){
		"null":       func(w http.ResponseWriter) { w.Header().Set("Content-Type", "application/json"); fmt.Fprint(w, "null") },
		"no content": func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) },
	} {
		srv := siteServer(t, func(w http.ResponseWriter, r *http.Request) { answer(w) })
		_, _, err := newClient(t, srv.URL+"/", "", "p").Message(context.Background(), "00000000-0000-0000-0000-000000000001")
		e := transportError(t, err)
		assert.Equal(t, api.NotFound, e.Code, name)
		assert.Equal(t, transport.Permanent, e.Class, name)
	}
}

// siteServer logs in and answers api/message/… with h.
func siteServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/session/CreateToken", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `"tok"`)
	})
	mux.HandleFunc("/api/message/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// A URL that is not the site's: CreateToken answers 404 or a page. The run
// stops naming the URL, before any message is blamed.
func TestAWrongURLIsFatal(t *testing.T) {
	fake := startFake(t, sandbox.EziManagerConfig{})
	c := newClient(t, fake.URL()+"/", "", "pa55-w0rd") // without /ezimanager
	e := transportError(t, c.Login(context.Background()))
	assert.Equal(t, transport.Fatal, e.Class)
	assert.Equal(t, transport.KindEndpoint, e.Kind)
	assert.Contains(t, e.Error(), "url must be the site's address")

	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html>a marketing page</html>")
	}))
	defer page.Close()
	e = transportError(t, newClient(t, page.URL+"/", "", "p").Login(context.Background()))
	assert.Equal(t, transport.KindEndpoint, e.Kind)
	assert.Contains(t, e.Error(), "HTML page")
}

// A redirect within the API, or to another site, is not a login page: it
// is not followed, and every request would meet it.
func TestARedirectThatIsNotALoginPage(t *testing.T) {
	for name, loc := range map[string]string{"within the API": "/api/v2/message/x", "another site": "https://login.example.com/sso"} {
		srv := siteServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusFound)
		})
		c := newClient(t, srv.URL+"/", "", "p")
		_, _, err := c.Message(context.Background(), "00000000-0000-0000-0000-000000000001")
		e := transportError(t, err)
		assert.Equal(t, transport.Fatal, e.Class, name)
		assert.Equal(t, transport.KindEndpoint, e.Kind, name)
		assert.EqualValues(t, 0, c.Session.Refusals.Load(), name)
	}
}

// An unreadable 200 is worth another attempt.
func TestAnUnreadableMessageIsRetried(t *testing.T) {
	srv := siteServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"identifierGuid": "00000000-00`)
	})
	_, _, err := newClient(t, srv.URL+"/", "", "p").Message(context.Background(), "00000000-0000-0000-0000-000000000001")
	e := transportError(t, err)
	assert.Equal(t, transport.Retry, e.Class)
	assert.Equal(t, "UNREADABLE_ANSWER", e.Code)
}

func TestParseTime(t *testing.T) {
	cases := map[string]string{
		"2026-04-03T06:24:56.0314369":       "2026-04-03T06:24:56.0314369Z",
		"2026-04-03T06:24:56":               "2026-04-03T06:24:56Z",
		"2026-04-03T06:24:56.0314369+00:00": "2026-04-03T06:24:56.0314369Z",
		"2026-04-03T16:24:56+10:00":         "2026-04-03T06:24:56Z",
		"2026-04-03T16:24:56+1000":          "2026-04-03T06:24:56Z",
		"2026-04-03T06:24:56Z":              "2026-04-03T06:24:56Z",
	}
	for in, want := range cases {
		got, ok, err := api.ParseTime(in)
		require.NoError(t, err, in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got.Format(time.RFC3339Nano), in)
	}
	for _, unset := range []string{"", "0001-01-01T00:00:00", "0001-01-01T00:00:00+00:00"} {
		_, ok, err := api.ParseTime(unset)
		require.NoError(t, err, unset)
		assert.False(t, ok, unset)
	}
	for _, bad := range []string{"03/04/2026", "yesterday", "2026-13-01T00:00:00"} {
		_, _, err := api.ParseTime(bad)
		assert.Error(t, err, bad)
	}
}

func TestDecodeError(t *testing.T) {
	_, m, _ := api.DecodeError([]byte(`{"Message":"The request is invalid.","ModelState":{"message.sender":["too long"]}}`))
	assert.Equal(t, "The request is invalid. message.sender: too long", m)
	_, m, _ = api.DecodeError([]byte(`<html>bad gateway</html>`))
	assert.Empty(t, m)
}
