package transport_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/msgmigrate/msgmigrate/transport"
)

// fast is a policy whose waits are short, so tests run quickly; what they
// assert never depends on how long a wait was.
var fast = transport.Policy{MaxAttempts: 4, MaxThrottled: 5, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond,
	MaxRetryAfter: 10 * time.Millisecond, FailFast: 3, CircuitAfter: 4, Outage: 200 * time.Millisecond}

func client(t *testing.T, h http.HandlerFunc, p transport.Policy) (*transport.Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &transport.Client{HTTP: transport.NewHTTPClient(8, 5*time.Second), Pacer: transport.NewPacer("sink test", 0, 1, p, nil)}, srv
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		" 1.5 ":                         1500 * time.Millisecond,
		"-1":                            0,
		"soon":                          0,
		"Mon, 30 Nov 2026 12:00:10 GMT": 10 * time.Second,
		"Mon, 30 Nov 2026 11:59:00 GMT": 0, // in the past
	}
	for in, want := range cases {
		assert.Equal(t, want, transport.ParseRetryAfter(in, now), "%q", in)
	}
}

func TestFromStatusClasses(t *testing.T) {
	cases := []struct {
		status int
		class  transport.Class
		kind   string
	}{
		{429, transport.Throttled, ""}, {500, transport.Retry, ""}, {503, transport.Retry, ""}, {408, transport.Retry, ""},
		{413, transport.TooLarge, ""}, {401, transport.Fatal, transport.KindAuth}, {403, transport.Fatal, transport.KindAuth},
		{400, transport.Permanent, ""}, {404, transport.Permanent, ""}, {422, transport.Permanent, ""},
	}
	for _, c := range cases {
		e := transport.FromStatus("PUT", "http://x/y", c.status, http.Header{"Retry-After": {"2"}}, "", "m", "", time.Now())
		assert.Equal(t, c.class, e.Class, "%d", c.status)
		assert.Equal(t, c.kind, e.Kind, "%d", c.status)
		assert.Equal(t, 2*time.Second, e.RetryAfter)
	}
}

func TestNoAnswerIsClassifiedByItsCause(t *testing.T) {
	// A port nobody listens on: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	c := &transport.Client{HTTP: transport.NewHTTPClient(1, 30*time.Second), Pacer: transport.NewPacer("sink test", 0, 1, fast, nil)}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/x", nil)
	_, err = c.Do(req)
	var e *transport.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, transport.Fatal, e.Class)
	assert.Equal(t, transport.KindRefused, e.Kind)

	// A certificate nobody vouches for: TLS.
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	req, _ = http.NewRequest(http.MethodGet, tlsSrv.URL, nil)
	_, err = c.Do(req)
	require.ErrorAs(t, err, &e)
	assert.Equal(t, transport.KindTLS, e.Kind, "%v", err)

	// A name that does not resolve.
	e = transport.FromTransport("GET", "http://nowhere.invalid", &net.DNSError{Err: "no such host", Name: "nowhere.invalid", IsNotFound: true})
	assert.Equal(t, transport.KindDNS, e.Kind)
	// A timeout is worth another attempt.
	e = transport.FromTransport("GET", "http://x", context.DeadlineExceeded)
	assert.Equal(t, transport.Retry, e.Class)
}

func TestRetriesUntilSuccessThenGivesUp(t *testing.T) {
	var n atomic.Int64
	fail := int64(2)
	c, srv := client(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= fail {
			http.Error(w, "busy", http.StatusBadGateway)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}, fast)
	var v struct{ OK bool }
	require.NoError(t, c.GetJSON(context.Background(), srv.URL, &v))
	assert.True(t, v.OK)
	assert.EqualValues(t, 3, n.Load())
	assert.EqualValues(t, 2, c.Pacer.Stats.Retries.Load())

	n.Store(0)
	fail = 1000
	p := fast
	p.CircuitAfter = 1000 // this test is about attempts, not outages
	c.Pacer = transport.NewPacer("sink test", 0, 1, p, nil)
	err := c.GetJSON(context.Background(), srv.URL, &v)
	var ex *transport.ExhaustedError
	require.ErrorAs(t, err, &ex)
	assert.Equal(t, 4, ex.Attempts)
	assert.EqualValues(t, 4, n.Load(), "exactly max_attempts requests")
	var e *transport.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 502, e.Status)
}

func TestPermanentIsNotRetried(t *testing.T) {
	var n atomic.Int64
	c, srv := client(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, `{"code":"BAD"}`, http.StatusBadRequest)
	}, fast)
	c.DecodeError = func([]byte) (string, string, string) { return "BAD", "no good", "req-1" }
	err := c.GetJSON(context.Background(), srv.URL, nil)
	var e *transport.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, transport.Permanent, e.Class)
	assert.Equal(t, "BAD", e.Code)
	assert.Contains(t, e.Error(), "no good")
	assert.Contains(t, e.Error(), "req-1", "the vendor's request id is kept: support asks for it")
	assert.EqualValues(t, 1, n.Load())
}

func TestA429PausesEveryWorkerAndUsesNoAttempt(t *testing.T) {
	var n atomic.Int64
	c, srv := client(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 5 { // more 429s than attempts
			w.Header().Set("Retry-After", "0.001")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write([]byte(`{}`))
	}, fast)
	require.NoError(t, c.GetJSON(context.Background(), srv.URL, nil), "429s use no attempt")
	assert.EqualValues(t, 5, c.Pacer.Stats.Throttled.Load())

	// The pause is shared: while it lasts, no worker's request may start.
	c.Pacer.Pause(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, c.Pacer.Wait(ctx), context.DeadlineExceeded)
	assert.Greater(t, c.Pacer.Paused(), 59*time.Minute)
}

func TestTooMany429sInARowGiveUp(t *testing.T) {
	c, srv := client(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
	}, fast)
	err := c.GetJSON(context.Background(), srv.URL, nil)
	var ex *transport.ExhaustedError
	require.ErrorAs(t, err, &ex)
	assert.Equal(t, 6, ex.Throttled)
}

// A wrong password must not be sent over and over (a lockout risk): the
// third 401 in a row stops every worker, after about one request each.
func TestFailFastOnCredentials(t *testing.T) {
	var n atomic.Int64
	c, srv := client(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, "no", http.StatusUnauthorized)
	}, fast)
	var g errgroup.Group
	errs := make([]error, 8)
	for i := range errs {
		g.Go(func() error {
			errs[i] = c.GetJSON(context.Background(), srv.URL, nil)
			return nil
		})
	}
	g.Wait()
	for _, err := range errs {
		var fe *transport.FatalError
		require.ErrorAs(t, err, &fe)
		assert.Contains(t, fe.Error(), "sink test refused the credentials 3 times in a row")
		assert.Contains(t, fe.Error(), "HTTP 401")
	}
	assert.LessOrEqual(t, n.Load(), int64(8+2), "about one request per worker, not a budget's worth")
}

func TestRefusedConnectionIsFatalBeforeAnyAnswerAndAnOutageAfter(t *testing.T) {
	var up atomic.Bool
	up.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) }))
	addr := srv.Listener.Addr().String()
	srv.Close() // nothing listens now

	c := &transport.Client{HTTP: transport.NewHTTPClient(1, time.Second), Pacer: transport.NewPacer("source test", 0, 1, fast, nil)}
	err := c.GetJSON(context.Background(), "http://"+addr+"/", nil)
	var fe *transport.FatalError
	require.ErrorAs(t, err, &fe, "never answered: misconfigured")
	assert.Contains(t, fe.Error(), "refused the connection")

	// Once the service has answered, a refused connection is an outage: the
	// circuit opens and the run stops resumably after the bound.
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) }))
	c = &transport.Client{HTTP: transport.NewHTTPClient(1, time.Second), Pacer: transport.NewPacer("source test", 0, 1, fast, nil)}
	require.NoError(t, c.GetJSON(context.Background(), ok.URL, nil))
	dead := ok.URL
	ok.Close()
	err = c.GetJSON(context.Background(), dead, nil)
	var oe *transport.OutageError
	require.ErrorAs(t, err, &oe, "%v", err)
	assert.Contains(t, oe.Error(), "source test failed every request for")
}

// An endpoint that answers 503 forever: the circuit opens, every worker
// waits while one probes, and after the outage bound every call stops with
// an OutageError — not each batch running its own backoff to the end.
func TestAnOutageEndsInABoundedTime(t *testing.T) {
	var n atomic.Int64
	c, srv := client(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}, fast)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.GetJSON(context.Background(), srv.URL, nil)
		}()
	}
	wg.Wait()
	probes := 0
	for _, err := range errs {
		var oe *transport.OutageError
		require.ErrorAs(t, err, &oe, "%v", err)
		var e *transport.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 503, e.Status, "the last failure is named")
		probes = oe.Probes
	}
	assert.EqualValues(t, 1, c.Pacer.Stats.Opened.Load())
	// While the circuit is open only the probes are sent: the failures that
	// opened it, those already in flight then (one per worker at most), and
	// the probes — not every worker's own backoff.
	assert.LessOrEqual(t, n.Load(), int64(fast.CircuitAfter+8+probes))
}

// A short outage: the circuit opens, a probe succeeds, every worker
// resumes, and no call has used up its attempts meanwhile.
func TestAShortOutageUsesNoAttempts(t *testing.T) {
	var n atomic.Int64
	c, srv := client(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 12 { // more failures than any call's attempts
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.Write([]byte(`{}`))
	}, fast)
	var g errgroup.Group
	for range 4 {
		g.Go(func() error { return c.GetJSON(context.Background(), srv.URL, nil) })
	}
	require.NoError(t, g.Wait())
	assert.GreaterOrEqual(t, c.Pacer.Stats.Opened.Load(), int64(1))
	assert.False(t, c.Pacer.CircuitOpen())
}

func TestStoppedWhileWaiting(t *testing.T) {
	c, srv := client(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }, transport.Policy{
		MaxAttempts: 3, MaxThrottled: 3, BaseDelay: time.Hour, MaxDelay: time.Hour, FailFast: 3, CircuitAfter: 100, Outage: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.GetJSON(ctx, srv.URL, nil) }()
	for c.Pacer.Stats.Retries.Load() == 0 { // the first attempt failed; the call now waits an hour
		time.Sleep(time.Millisecond)
	}
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	c, srv := client(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL, http.StatusFound)
	}, fast)
	c.Authorize = func(r *http.Request) { r.SetBasicAuth("u", "secret") }
	err := c.GetJSON(context.Background(), srv.URL, nil)
	var e *transport.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 302, e.Status)
	assert.Zero(t, elsewhere.Load(), "the credentials never travel to a redirect's target")
}

func TestCheckURL(t *testing.T) {
	_, err := transport.CheckURL("sink.url", "https://user:pw@example.com/x")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "pw")
	_, err = transport.CheckURL("sink.url", "ftp://example.com")
	assert.Error(t, err)
	u, err := transport.CheckURL("sink.url", "https://example.com/communications/")
	require.NoError(t, err)
	assert.Equal(t, "https://example.com/communications", u.String())
	assert.True(t, errors.Is(nil, nil))
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	p := transport.Policy{MaxAttempts: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, MaxRetryAfter: 5 * time.Second}
	for n := 1; n < 10; n++ {
		d := p.Backoff(n, 0)
		want := min(p.BaseDelay<<(n-1), p.MaxDelay)
		assert.GreaterOrEqual(t, d, want/2, "attempt %d", n)
		assert.LessOrEqual(t, d, want, "attempt %d", n)
	}
	assert.Equal(t, 3*time.Second, p.Backoff(1, 3*time.Second), "Retry-After wins")
	assert.Equal(t, 5*time.Second, p.Backoff(1, time.Hour), "but is capped")
}

func TestBodyTextIsTrimmedAndCutOnACharacter(t *testing.T) {
	long := strings.Repeat("a", 299) + "é" + strings.Repeat("b", 50) // é straddles byte 300
	cases := map[string]struct{ body, want string }{
		"short":       {"  <html>bad gateway</html>\n", "<html>bad gateway</html>"},
		"exactly 300": {strings.Repeat("x", 300), strings.Repeat("x", 300)},
		"long":        {strings.Repeat("x", 1000), strings.Repeat("x", 300) + "…"},
		"multibyte":   {long, strings.Repeat("a", 299) + "…"},
		"empty":       {"", ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := transport.BodyText([]byte(c.body))
			assert.Equal(t, c.want, got)
			assert.True(t, utf8.ValidString(got))
		})
	}
}

// Every retry is logged at WARN with its reason: the status and the
// vendor's words, never silently.
func TestEveryRetryIsLoggedWithItsReason(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("down for maintenance"))
			return
		}
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	c := &transport.Client{HTTP: transport.NewHTTPClient(2, 5*time.Second), Pacer: transport.NewPacer("sink test", 0, 1, fast, log)}
	require.NoError(t, c.GetJSON(context.Background(), srv.URL, nil))
	assert.Contains(t, logs.String(), `level=WARN msg=retrying service="sink test" attempt=2`)
	assert.Contains(t, logs.String(), "HTTP 503")
	assert.Equal(t, 1, strings.Count(logs.String(), "msg=retrying"), "one line a retry")
}

// A request whose credentials were renewed goes again at once and uses no
// attempt, however many expiries it meets; renewals in a row are bounded.
func TestARenewedRequestUsesNoAttempt(t *testing.T) {
	p := transport.NewPacer("sink test", 0, 1, transport.Policy{MaxAttempts: 3, MaxThrottled: 3, BaseDelay: time.Hour, MaxDelay: time.Hour,
		FailFast: 3, CircuitAfter: 100, Outage: time.Hour}, nil)
	renewed := &transport.Error{Status: http.StatusUnauthorized, Class: transport.Renewed, Message: "expired: renewed"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a backoff would end here
	defer cancel()
	calls := 0
	err := p.Call(ctx, func() error {
		calls++
		if calls <= 3 { // as many expiries as attempts; one backoff would take an hour
			return renewed
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 4, calls)
	assert.Zero(t, p.Stats.Retries.Load(), "no attempt used")

	calls = 0
	err = p.Call(context.Background(), func() error { calls++; return renewed })
	var ex *transport.ExhaustedError
	require.ErrorAs(t, err, &ex)
	assert.Equal(t, 4, calls, "renewals in a row end like attempts")
}
