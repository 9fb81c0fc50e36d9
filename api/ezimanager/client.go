package ezimanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/msgmigrate/msgmigrate/transport"
)

// Codes of the errors this client makes (besides the transport's).
const (
	// LoginRefused: CreateToken refused the email and password (400, 401,
	// 403). The run stops; the login is not sent again.
	LoginRefused = "LOGIN_REFUSED"
	// TokenRefused: two tokens in a row, fresh from CreateToken, were not
	// accepted (token_header, or an account without API access). The run
	// stops.
	TokenRefused = "TOKEN_REFUSED"
	// SessionRefused: the API did not accept the session (a reading of an
	// expired session). Another attempt, after logging in again.
	SessionRefused = "SESSION_REFUSED"
	// Forbidden: a 403 to one message while the same session reads
	// another: this message is refused to the account. That record fails.
	Forbidden = "FORBIDDEN"
	// NotFound: the message is not there (404, or an empty answer).
	NotFound = "NOT_FOUND"
)

// Client talks to one EziManager site with one Session: every request
// carries the session's token, through the transport (rate, retries, 429
// pauses, the circuit, fail-fast), and every answer that does not accept the
// session — whichever way the vendor says it — logs in again.
type Client struct {
	HTTP    *transport.Client
	Session *Session
	base    *url.URL // ends in "/"
	log     *slog.Logger
	canary  atomic.Value // string: the path of the message read last
}

// NewClient wires hc to base (the site, e.g. https://au2.ezimanager.cloud/).
// The client sets the token on each request itself — it must know which
// token a refused request carried.
func NewClient(hc *transport.Client, base *url.URL, s *Session, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b := *base
	if !strings.HasSuffix(b.Path, "/") {
		b.Path += "/"
	}
	hc.DecodeError = func(body []byte) (string, string, string) {
		code, m, rid := DecodeError(body)
		return code, s.redact(m), rid
	}
	hc.Authorize = nil
	return &Client{HTTP: hc, Session: s, base: &b, log: log}
}

// URL is path below the site.
func (c *Client) URL(path string) string { return c.base.String() + path }

// MessagePath is a message's path below the site.
func MessagePath(id string) string { return "api/message/" + url.PathEscape(id) }

// Login makes sure there is a session: one CreateToken request when there
// is none. A refused login is a *transport.Error of class Fatal with code
// LoginRefused.
func (c *Client) Login(ctx context.Context) error {
	_, err := c.Session.ensure(ctx, c.createToken)
	return err
}

// createToken makes one CreateToken request.
func (c *Client) createToken(ctx context.Context) (string, error) {
	body, err := json.Marshal(Login{Email: c.Session.email, Password: c.Session.password})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL("api/session/CreateToken"), bytes.NewReader(body))
	if err != nil {
		return "", &transport.Error{Method: http.MethodPost, Class: transport.Permanent, Code: "BAD_REQUEST", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	c.Session.Logins.Add(1)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	if resp.OK() && !isHTML(resp.Header) {
		tok, ok := ParseToken(resp.Body)
		if !ok {
			return "", transport.Unreadable(resp, errors.New("CreateToken's answer is not a token"))
		}
		c.log.Info("ezimanager: logged in", "service", c.HTTP.Pacer.Service())
		return tok, nil
	}
	e := c.HTTP.StatusError(resp)
	if e == nil { // a 2xx HTML page: not the API
		e = transport.FromStatus(resp.Method, resp.URL, resp.Status, resp.Header, "", "", "", time.Now())
	}
	e.Message = c.Session.redact(e.Message)
	switch {
	case resp.Status == http.StatusBadRequest || resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		e.Class, e.Kind, e.Code = transport.Fatal, transport.KindAuth, LoginRefused
		e.Message = strings.TrimSpace("the login was refused (it is not sent again): " + e.Message)
	case resp.Status == http.StatusTooManyRequests || resp.Status == http.StatusRequestTimeout || resp.Status >= 500:
		e.Message = "creating a session token: " + e.Message // worth another attempt
	default: // a page, a redirect, a 404: this URL is not an EziManager site's API
		e.Class, e.Kind = transport.Fatal, transport.KindEndpoint
		e.Message = fmt.Sprintf("CreateToken answered %s: url must be the site's address (e.g. https://au2.ezimanager.cloud/)", answered(resp))
	}
	return "", e
}

// Do makes one request to the API with the session's token and reads the
// answer. When the answer says the session is not accepted — whichever
// reading: 401, 403, a redirect to a login page, or an HTML page where JSON
// was expected — it logs in again (once per stale token, however many
// requests met it) and sends the request once more; refused again, it is a
// *transport.Error of class Retry (SessionRefused) or, when tokens fresh
// from CreateToken are never accepted, Fatal (TokenRefused; a refused login
// is Fatal too: LoginRefused). A 403 may also be one message refused to the
// account: before logging in again, the message read last is read once more
// with the same token, and if that is answered, this request fails alone
// (Permanent, Forbidden). Any other answer comes back as it is, whatever
// its status.
func (c *Client) Do(ctx context.Context, method, path string, body []byte) (*transport.Response, error) {
	tok, err := c.Session.ensure(ctx, c.createToken)
	if err != nil {
		return nil, err
	}
	for pass := 0; ; pass++ {
		resp, err := c.send(ctx, method, path, body, tok)
		if err != nil {
			return nil, err
		}
		how, refused := c.refusal(resp)
		if !refused {
			if resp.Status < 500 && resp.Status != http.StatusTooManyRequests {
				c.Session.accepted(tok)
			}
			if method == http.MethodGet && resp.OK() {
				c.canary.Store(path)
			}
			return resp, nil
		}
		c.Session.Refusals.Add(1)
		e := &transport.Error{Method: resp.Method, URL: resp.URL, Status: resp.Status, Class: transport.Retry, Code: SessionRefused,
			Message: "the session was not accepted: " + how}
		if resp.Status == http.StatusForbidden {
			alive, err := c.sessionAlive(ctx, tok, path)
			if err != nil {
				return nil, err
			}
			if alive {
				e.Class, e.Code = transport.Permanent, Forbidden
				e.Message = "refused to this account (HTTP 403), while the same session reads other messages"
				return nil, e
			}
		}
		next, err := c.Session.afterRefusal(ctx, tok, e, c.createToken)
		if err != nil {
			return nil, err
		}
		if pass > 0 {
			e.Message += ", again right after a new login"
			return nil, e
		}
		c.log.Info("ezimanager: the session was not accepted; logged in again", "service", c.HTTP.Pacer.Service(), "answer", how)
		tok = next
	}
}

// sessionAlive tells a 403 to one request from a session that is no longer
// accepted: it reads the message read last, with the same token. The API
// answering it (200, or 404 in its own words) says the session is alive.
func (c *Client) sessionAlive(ctx context.Context, tok, path string) (bool, error) {
	canary, _ := c.canary.Load().(string)
	if canary == "" || canary == path || tok != c.Session.Token() {
		return false, nil
	}
	resp, err := c.send(ctx, http.MethodGet, canary, nil, tok)
	if err != nil {
		return false, err
	}
	if _, refused := c.refusal(resp); refused {
		c.Session.Refusals.Add(1)
		return false, nil
	}
	if resp.OK() || resp.Status == http.StatusNotFound {
		c.Session.accepted(tok)
		return true, nil
	}
	return false, c.HTTP.StatusError(resp)
}

func (c *Client) send(ctx context.Context, method, path string, body []byte, tok string) (*transport.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL(path), rd)
	if err != nil {
		return nil, &transport.Error{Method: method, Class: transport.Permanent, Code: "BAD_REQUEST", Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(c.Session.header, c.Session.Present(tok))
	return c.HTTP.Do(req)
}

// refusal says whether an answer is the API not accepting the session, and
// how — by status, Location and Content-Type only, never by the body's
// words: a 401; a 403; a redirect to a page of the site outside its API
// (the login page: the transport never follows it); an HTML page where JSON
// was expected (the login page, served in place).
func (c *Client) refusal(r *transport.Response) (string, bool) {
	switch {
	case r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden:
		return fmt.Sprintf("HTTP %d", r.Status), true
	case isRedirect(r.Status):
		if to, ok := c.loginPage(r); ok {
			return fmt.Sprintf("HTTP %d to %s", r.Status, to), true
		}
	case r.OK() && isHTML(r.Header):
		return fmt.Sprintf("HTTP %d with an HTML page (%s) where JSON was expected", r.Status, r.Header.Get("Content-Type")), true
	}
	return "", false
}

// loginPage reports whether a redirect points at a page of the site outside
// its API, and which (its path only: the query may carry a return URL).
func (c *Client) loginPage(r *transport.Response) (string, bool) {
	loc := r.Header.Get("Location")
	if loc == "" {
		return "", false
	}
	u, err := c.base.Parse(loc)
	if err != nil || !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) {
		return "", false
	}
	if strings.HasPrefix(strings.ToLower(u.Path), strings.ToLower(c.base.Path+"api/")) {
		return "", false // within the API: not a login page
	}
	return u.Path, true
}

func isRedirect(status int) bool {
	return status >= 300 && status < 400 && status != http.StatusNotModified
}

func isHTML(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
}

// answered describes an answer for a message: its status, and where a
// redirect points or what a page is.
func answered(r *transport.Response) string {
	switch {
	case isRedirect(r.Status):
		return fmt.Sprintf("HTTP %d to %s (not followed)", r.Status, r.Header.Get("Location"))
	case isHTML(r.Header):
		return fmt.Sprintf("HTTP %d with an HTML page", r.Status)
	}
	return fmt.Sprintf("HTTP %d", r.Status)
}

// check turns an answer about one message (what names it) into its error:
// nil for a 2xx; NotFound for a 404 (Permanent: that record fails); Fatal
// for a redirect (every request would meet it); otherwise the status's
// class, with the vendor's words.
func (c *Client) check(r *transport.Response, what string) error {
	if r.OK() {
		return nil
	}
	e := c.HTTP.StatusError(r)
	switch {
	case r.Status == http.StatusNotFound:
		e.Class, e.Code = transport.Permanent, NotFound
	case isRedirect(r.Status):
		e.Class, e.Kind = transport.Fatal, transport.KindEndpoint
		e.Message = fmt.Sprintf("the API answered %s: check url", answered(r))
		return e
	}
	e.Message = strings.TrimSuffix(what+": "+e.Message, ": ")
	return e
}

// Message makes one GET of a message, with deserialiseDocument=false (the
// document as stored, a string; documentObject is not filled in), and
// returns its JSON object. A message that is not there — a 404, or a 200
// with null or no content — is a Permanent error with code NotFound.
func (c *Client) Message(ctx context.Context, id string) (map[string]json.RawMessage, *transport.Response, error) {
	resp, err := c.Do(ctx, http.MethodGet, MessagePath(id)+"?deserialiseDocument=false", nil)
	if err != nil {
		return nil, nil, err
	}
	if err := c.check(resp, "message "+id); err != nil {
		return nil, nil, err
	}
	if resp.Status == http.StatusNoContent || len(bytes.TrimSpace(resp.Body)) == 0 || bytes.Equal(bytes.TrimSpace(resp.Body), []byte("null")) {
		return nil, nil, &transport.Error{Method: resp.Method, URL: resp.URL, Status: resp.Status, Class: transport.Permanent, Code: NotFound,
			Message: fmt.Sprintf("message %s: HTTP %d with no message", id, resp.Status)}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(resp.Body, &m); err != nil || m == nil {
		if err == nil {
			err = errors.New("not a JSON object")
		}
		return nil, nil, transport.Unreadable(resp, err)
	}
	return m, resp, nil
}

// Put makes one PUT of a whole message and returns the identifier the
// vendor says it saved ("" when the answer does not say: the read back
// decides then).
func (c *Client) Put(ctx context.Context, id string, body []byte) (string, *transport.Response, error) {
	resp, err := c.Do(ctx, http.MethodPut, MessagePath(id), body)
	if err != nil {
		return "", nil, err
	}
	if err := c.check(resp, "message "+id); err != nil {
		return "", nil, err
	}
	var saved string
	_ = json.Unmarshal(resp.Body, &saved)
	return strings.TrimSpace(saved), resp, nil
}
