package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client makes requests to one service through its Pacer.
type Client struct {
	HTTP  *http.Client
	Pacer *Pacer
	// Authorize adds the credentials to a request (nil: none). It is called
	// for every request, so a renewed session token is picked up.
	Authorize func(*http.Request)
	// DecodeError reads the vendor's error body: its code, message and
	// request id, all "" when the body is not in the vendor's format (a
	// proxy's page, say; the body itself is quoted then, cut short).
	DecodeError func(body []byte) (code, message, requestID string)
	// MaxBody bounds an answer; 0 = DefaultMaxBody.
	MaxBody int64
}

// DefaultMaxBody bounds one answer read into memory.
const DefaultMaxBody = 64 << 20

// Response is an answered request, its body read whole.
type Response struct {
	Method string
	URL    string // without credentials
	Status int
	Header http.Header
	Body   []byte
}

// OK reports a 2xx status.
func (r *Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// NewHTTPClient is the HTTP client every connector uses: keep-alive
// connections for every worker, a request timeout, and no redirects — a
// redirect would carry the credentials to wherever it points.
func NewHTTPClient(concurrency int, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	concurrency = max(concurrency, 1)
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          concurrency * 2,
		MaxIdleConnsPerHost:   concurrency * 2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Do sends one request, once the pacer allows it, and reads the answer. An
// answer of any status is a *Response; no answer (or an unreadable one) is
// an *Error of class Retry or Fatal.
func (c *Client) Do(req *http.Request) (*Response, error) {
	if err := c.Pacer.Wait(req.Context()); err != nil {
		return nil, err
	}
	if c.Authorize != nil {
		c.Authorize(req)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	where := redacted(req.URL)
	obs := c.Pacer.obs
	c.Pacer.Stats.Requests.Add(1)
	c.Pacer.Stats.InFlight.Add(1)
	if obs != nil {
		obs.InFlight(1)
	}
	start := time.Now()
	resp, err := c.HTTP.Do(req)
	done := func(status int) {
		c.Pacer.Stats.InFlight.Add(-1)
		if obs != nil {
			obs.InFlight(-1)
			obs.Request(status, time.Since(start))
		}
	}
	if err != nil {
		done(0)
		// A url.Error repeats the method and URL: keep its cause only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, FromTransport(req.Method, where, err)
	}
	defer resp.Body.Close()
	limit := c.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	done(resp.StatusCode)
	if err != nil {
		return nil, &Error{Method: req.Method, URL: where, Class: Retry, Err: fmt.Errorf("reading the HTTP %d answer: %w", resp.StatusCode, err)}
	}
	if int64(len(body)) > limit {
		return nil, &Error{Method: req.Method, URL: where, Status: resp.StatusCode, Class: Permanent, Code: "ANSWER_TOO_LARGE",
			Message: fmt.Sprintf("the answer is over %d bytes", limit)}
	}
	return &Response{Method: req.Method, URL: where, Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// StatusError is the *Error for an answer whose status is not a success
// (nil for a 2xx), with the default class of its status and the vendor's
// words.
func (c *Client) StatusError(r *Response) *Error {
	if r.OK() {
		return nil
	}
	var code, msg, rid string
	if c.DecodeError != nil {
		code, msg, rid = c.DecodeError(r.Body)
	}
	if msg == "" {
		msg = BodyText(r.Body)
	}
	return FromStatus(r.Method, r.URL, r.Status, r.Header, code, msg, rid, time.Now())
}

// Unreadable is the error for a 2xx answer whose body cannot be read: worth
// another attempt.
func Unreadable(r *Response, err error) *Error {
	return &Error{Method: r.Method, URL: r.URL, Status: r.Status, Class: Retry, Code: "UNREADABLE_ANSWER",
		Message: "unreadable answer: " + err.Error(), Err: err}
}

// GetJSON reads url into v under the pacer: retries and all. A status that
// is not a success comes back as the *Error of its class.
func (c *Client) GetJSON(ctx context.Context, url string, v any) error {
	return c.JSON(ctx, http.MethodGet, url, nil, v)
}

// JSON makes a request with a JSON body (nil: none) under the pacer and
// decodes a 2xx answer into v (nil: ignore it).
func (c *Client) JSON(ctx context.Context, method, url string, body []byte, v any) error {
	return c.Pacer.Call(ctx, func() error {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, url, rd)
		if err != nil {
			return &Error{Method: method, URL: url, Class: Permanent, Code: "BAD_REQUEST", Err: err}
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		if e := c.StatusError(resp); e != nil {
			return e
		}
		if v == nil {
			return nil
		}
		if err := json.Unmarshal(resp.Body, v); err != nil {
			return Unreadable(resp, err)
		}
		return nil
	})
}

// CloseIdleConnections releases the client's idle connections.
func (c *Client) CloseIdleConnections() { c.HTTP.CloseIdleConnections() }

func redacted(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Redacted()
}

// CheckURL parses a connector's url: key: http or https, and no credentials
// in it (they would show up in logs and errors). what names the key in
// messages ("sink.url").
func CheckURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s %q: want an http or https URL", what, u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: put credentials in the connector's keys (from the environment), not in the URL", what)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s %q: no host", what, u.Redacted())
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// NewClient builds a client and its pacer from a connector's configuration.
// share is the fraction of the job's rate this process takes (1 unless the
// job runs as several processes at once).
func NewClient(service string, c Config, defaultRate float64, defaultBurst, concurrency int, share float64, log *slog.Logger) *Client {
	r, burst := float64(c.Rate), c.Burst
	if r == 0 {
		r = defaultRate
	}
	if burst == 0 {
		burst = max(defaultBurst, 1)
	}
	if share > 0 && share < 1 {
		r *= share
		burst = max(1, int(float64(burst)*share))
	}
	return &Client{
		HTTP:  NewHTTPClient(concurrency, c.RequestTimeout()),
		Pacer: NewPacer(service, r, burst, c.Retry.Policy(), log),
	}
}

// MessageOnly adapts a vendor's reader of error messages to DecodeError.
func MessageOnly(read func(body []byte) string) func([]byte) (string, string, string) {
	return func(body []byte) (string, string, string) { return "", read(body), "" }
}
