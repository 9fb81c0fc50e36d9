package tracezilla

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/msgmigrate/msgmigrate/transport"
)

// Client talks to one team's API: base is https://app.tracezilla.com/api/v1/{team}.
type Client struct {
	HTTP *transport.Client
	Base *url.URL
}

// NewClient sets up t for tracezilla: the bearer token on requests to the
// base's origin only (a link elsewhere never carries it), and the vendor's
// error body decoded into the transport's errors.
func NewClient(base *url.URL, token string, t *transport.Client) *Client {
	t.Authorize = func(r *http.Request) {
		if sameOrigin(r.URL, base) {
			r.Header.Set("Authorization", "Bearer "+token)
		}
	}
	t.DecodeError = transport.MessageOnly(ErrorText)
	return &Client{HTTP: t, Base: base}
}

// NotFound is the code of a message tracezilla does not have.
const NotFound = "NOT_FOUND"

// GetMessage reads one message as it is now — one attempt, for a caller
// that retries through the pacer (a sink's Send) — and its raw JSON. A
// message tracezilla does not have is a Permanent *transport.Error with
// code NOT_FOUND; an answer that cannot be read is worth another attempt.
func (c *Client) GetMessage(ctx context.Context, id string) (*Message, json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base.String()+MessagePath(id), nil)
	if err != nil {
		return nil, nil, &transport.Error{Class: transport.Permanent, Code: "BAD_REQUEST", Err: err}
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, nil, err
	}
	if e := c.HTTP.StatusError(resp); e != nil {
		if resp.Status == http.StatusNotFound {
			e.Class, e.Code = transport.Permanent, NotFound
			e.Message = "reading message " + id + ": " + e.Message
		}
		return nil, nil, e
	}
	m, raw, err := DecodeMessage(resp.Body)
	if err != nil {
		return nil, nil, transport.Unreadable(resp, err)
	}
	return m, raw, nil
}

// DecodeMessage reads a single-message answer. [I] Whether tracezilla wraps
// a single resource in {"data": …} (as its lists are) is not documented:
// both are read. raw is the message object itself.
func DecodeMessage(body []byte) (*Message, json.RawMessage, error) {
	var wrapped struct {
		Data json.RawMessage `json:"data"`
	}
	raw := json.RawMessage(body)
	if err := json.Unmarshal(body, &wrapped); err != nil {
		return nil, nil, err
	}
	if len(wrapped.Data) > 0 && wrapped.Data[0] == '{' {
		raw = wrapped.Data
	}
	var m Message
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, err
	}
	if m.ID == "" {
		return nil, nil, fmt.Errorf("the answer is not a message (no id)")
	}
	return &m, raw, nil
}

// listPath is the list endpoint's path.
func (c *Client) listPath() string { return c.Base.Path + "/messages" }

// page reads one page of the listing under the pacer (retries and all). A
// 404 of the listing means the URL (its team) is wrong: every page would
// get it, so it is Fatal.
func (c *Client) page(ctx context.Context, u string) (*Page, string, error) {
	var p *Page
	var date string
	err := c.HTTP.Pacer.Call(ctx, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return &transport.Error{Class: transport.Permanent, Code: "BAD_REQUEST", Err: err}
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return err
		}
		if e := c.HTTP.StatusError(resp); e != nil {
			if resp.Status == http.StatusNotFound {
				e.Class, e.Kind = transport.Fatal, transport.KindEndpoint
			}
			return e
		}
		var got Page
		if err := json.Unmarshal(resp.Body, &got); err != nil {
			return transport.Unreadable(resp, err)
		}
		if got.Data == nil {
			return transport.Unreadable(resp, fmt.Errorf("no data list in the answer"))
		}
		p, date = &got, resp.Header.Get("Date")
		return nil
	})
	return p, date, err
}

// sameOrigin reports whether two URLs share scheme and host: the token
// goes to the configured origin only.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}
