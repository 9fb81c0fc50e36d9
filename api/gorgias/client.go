package gorgias

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/msgmigrate/msgmigrate/transport"
)

// Auth is how requests authenticate: HTTP Basic with the account email and
// an API key, or an OAuth2 access token (Bearer).
type Auth struct {
	Email, APIKey string
	AccessToken   string
}

// Check says what is missing; what names the job section ("source").
func (a Auth) Check(file, what string) error {
	switch {
	case a.AccessToken != "" && (a.Email != "" || a.APIKey != ""):
		return fmt.Errorf("%s: %s: give either access_token (OAuth2) or username and api_key, not both", file, what)
	case a.AccessToken != "":
		return nil
	case a.Email == "" || a.APIKey == "":
		return fmt.Errorf("%s: %s.username and %s.api_key are required for gorgias (api_key: ${GORGIAS_API_KEY}), or %s.access_token for an OAuth2 app", file, what, what, what)
	}
	return nil
}

// Budget is the account's: 40 requests / 20 s for API keys, 80 for OAuth2
// apps (the limitations page). The client's own default rate keeps 5 %
// below it, so that its clock and the vendor's never disagree into a 429.
func (a Auth) DefaultRate() (perSecond float64, burst int) {
	if a.AccessToken != "" {
		return 3.8, 76
	}
	return 1.9, 38
}

func (a Auth) authorize(r *http.Request) {
	if a.AccessToken != "" {
		r.Header.Set("Authorization", "Bearer "+a.AccessToken)
		return
	}
	r.SetBasicAuth(a.Email, a.APIKey)
}

// Client talks to one account's API at Base (https://{sub}.gorgias.com/api).
type Client struct {
	T      *transport.Client
	Base   string
	Budget *Budget
}

// Options configure NewClient.
type Options struct {
	Auth    Auth
	Window  time.Duration // the bucket's window; 0 = DefaultWindow
	Reserve int           // calls left to other apps; <0 = a tenth of the limit
	Log     *slog.Logger
}

// NewClient wraps t (its pacer and HTTP client) for base: credentials on
// every request, Gorgias's error bodies decoded, and the account's budget
// read from every answer.
func NewClient(base string, t *transport.Client, o Options) *Client {
	auth := o.Auth
	t.Authorize = auth.authorize
	t.DecodeError = DecodeError
	b := NewBudget(t.Pacer, o.Window, o.Reserve, o.Log)
	t.HTTP.Transport = b.RoundTripper(t.HTTP.Transport)
	return &Client{T: t, Base: base, Budget: b}
}

// ListQuery is a GET /api/messages.
type ListQuery struct {
	Limit    int  // 1..100
	Desc     bool // newest first
	TicketID int64
	Cursor   string
}

func (q ListQuery) values() url.Values {
	v := url.Values{}
	v.Set("limit", strconv.Itoa(q.Limit))
	v.Set("order_by", "created_datetime:asc")
	if q.Desc {
		v.Set("order_by", "created_datetime:desc")
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	if q.TicketID != 0 {
		v.Set("ticket_id", strconv.FormatInt(q.TicketID, 10))
	}
	return v
}

// ListOnce makes one request for a page. A client error to a request with
// a cursor comes back as a Permanent *transport.Error with code
// CodeCursorRefused; everything else keeps its status's class.
func (c *Client) ListOnce(ctx context.Context, q ListQuery) (*Page, error) {
	resp, err := c.get(ctx, "/messages?"+q.values().Encode())
	if err != nil {
		return nil, err
	}
	if e := c.T.StatusError(resp); e != nil {
		if q.Cursor != "" && slices.Contains(CursorRefused, resp.Status) {
			e.Class, e.Code = transport.Permanent, CodeCursorRefused
		}
		return nil, e
	}
	var p Page
	if err := json.Unmarshal(resp.Body, &p); err != nil {
		return nil, transport.Unreadable(resp, err)
	}
	if p.Data == nil {
		return nil, transport.Unreadable(resp, errors.New(`no "data" list`))
	}
	return &p, nil
}

// List reads a page under the pacer: retries, 429 pauses and all.
func (c *Client) List(ctx context.Context, q ListQuery) (*Page, error) {
	var p *Page
	err := c.T.Pacer.Call(ctx, func() error {
		var err error
		p, err = c.ListOnce(ctx, q)
		return err
	})
	return p, err
}

// MessagePath is one message's path below Base.
func MessagePath(ticketID, id string) string {
	return "/tickets/" + url.PathEscape(ticketID) + "/messages/" + url.PathEscape(id)
}

// GetOnce reads one message as it is now (GET /api/tickets/{ticket_id}/
// messages/{id}, one request): its JSON object. A 404 is Permanent with
// code CodeNotFound: that message's failure, not the run's.
func (c *Client) GetOnce(ctx context.Context, ticketID, id string) (map[string]json.RawMessage, error) {
	resp, err := c.get(ctx, MessagePath(ticketID, id))
	if err != nil {
		return nil, err
	}
	if e := c.T.StatusError(resp); e != nil {
		e.Message = fmt.Sprintf("reading message %s of ticket %s: %s", id, ticketID, e.Message)
		if resp.Status == http.StatusNotFound {
			e.Class, e.Code = transport.Permanent, CodeNotFound
		}
		return nil, e
	}
	m, err := DecodeObject(resp.Body)
	if err != nil || !HasID(m) {
		if err == nil {
			err = errors.New("not a message")
		}
		return nil, transport.Unreadable(resp, err)
	}
	return m, nil
}

func (c *Client) get(ctx context.Context, path string) (*transport.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return nil, &transport.Error{Method: http.MethodGet, Class: transport.Permanent, Code: "BAD_REQUEST", Err: err}
	}
	return c.T.Do(req)
}

// DecodeObject reads a JSON object, keeping each member's bytes.
func DecodeObject(b []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// HasID reports whether an object carries a message id: a message, not an
// empty acknowledgement.
func HasID(m map[string]json.RawMessage) bool {
	id, ok := m["id"]
	return ok && !isNull(id)
}

func isNull(v json.RawMessage) bool {
	return len(v) == 0 || string(v) == "null"
}
