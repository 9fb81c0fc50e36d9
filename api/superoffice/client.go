package superoffice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/msgmigrate/msgmigrate/transport"
)

// Client talks to one tenant's API: every request carries the credentials
// (to the tenant's host only), Accept-Language: en and the SO-TimeZone the
// job asks for; a Bearer token that expired is renewed once and the request
// tried again.
type Client struct {
	HTTP *transport.Client
	Auth *Auth
	Base *url.URL // …/{CustNNNNN}/api/v1
	// TimeZone is the SO-TimeZone header ("" sends none): a zone's code or
	// id, with ", includeTZOffset" to have offsets written.
	TimeZone string
	// Zone is how a date without an offset is read: the zone TimeZone
	// names, or the tenant's base zone when it names none.
	Zone *time.Location
}

// TimeZoneHeader is the SO-TimeZone value for code ("" when no code).
func TimeZoneHeader(code string, offset bool) string {
	if code == "" {
		return ""
	}
	if offset {
		return code + ", includeTZOffset"
	}
	return code
}

// NewClient wires auth into hc: credentials go to base's origin only.
func NewClient(hc *transport.Client, auth *Auth, base *url.URL, tz string, zone *time.Location) *Client {
	c := &Client{HTTP: hc, Auth: auth, Base: base, TimeZone: tz, Zone: zone}
	hc.DecodeError = DecodeError
	hc.Authorize = func(r *http.Request) {
		if strings.EqualFold(r.URL.Scheme, base.Scheme) && strings.EqualFold(r.URL.Host, base.Host) {
			auth.Authorize(r)
		}
	}
	return c
}

// NewRequest is a request to the tenant with the headers every request
// carries.
func (c *Client) NewRequest(ctx context.Context, method, rawURL string, body []byte) (*http.Request, error) {
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	var req *http.Request
	var err error
	if rd != nil {
		req, err = http.NewRequestWithContext(ctx, method, rawURL, rd)
	} else {
		req, err = http.NewRequestWithContext(ctx, method, rawURL, nil)
	}
	if err != nil {
		return nil, &transport.Error{Method: method, Class: transport.Permanent, Code: "BAD_REQUEST", Err: err}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Accept-Language", Language)
	if c.TimeZone != "" {
		req.Header.Set("SO-TimeZone", c.TimeZone)
	}
	return req, nil
}

// Do sends one request and reads the answer, any status. A 401 to a Bearer
// token that can be renewed renews it (once for every request that met the
// same token) and comes back as a *transport.Error of class Renewed (sent
// again at once, no attempt used); with nothing to renew, a 401 is the
// default Fatal.
func (c *Client) Do(req *http.Request) (*transport.Response, error) {
	if err := c.Auth.Fresh(req.Context()); err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusUnauthorized && c.Auth.Renewable() {
		if err := c.Auth.Renew(req.Context(), Presented(req)); err != nil {
			return nil, err
		}
		e := c.HTTP.StatusError(resp)
		e.Class, e.Kind = transport.Renewed, ""
		e.Message += " (the access token expired: renewed)"
		return nil, e
	}
	return resp, nil
}

// GetJSON reads rawURL into v under the pacer (retries, 429 pauses, the
// circuit); a status that is not a success is the *transport.Error of its
// class.
func (c *Client) GetJSON(ctx context.Context, rawURL string, v any) error {
	return c.HTTP.Pacer.Call(ctx, func() error {
		resp, err := c.Get(ctx, rawURL)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(resp.Body, v); err != nil {
			return transport.Unreadable(resp, err)
		}
		return nil
	})
}

// Get makes one GET: a 2xx answer, or the error.
func (c *Client) Get(ctx context.Context, rawURL string) (*transport.Response, error) {
	req, err := c.NewRequest(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if e := c.HTTP.StatusError(resp); e != nil {
		return nil, e
	}
	return resp, nil
}

// EntityURL is the TicketMessageEntity's URL.
func (c *Client) EntityURL(id string) string {
	return c.Base.String() + "/TicketMessage/" + url.PathEscape(id)
}

// Entity makes one GET of a message's entity. A 404 is class Permanent with
// code NOT_FOUND: the message is not there (deleted, or never was).
func (c *Client) Entity(ctx context.Context, id string) (*transport.Response, error) {
	resp, err := c.Get(ctx, c.EntityURL(id))
	if err != nil {
		var e *transport.Error
		if errors.As(err, &e) && e.Status == http.StatusNotFound {
			e.Class, e.Code = transport.Permanent, "NOT_FOUND"
			e.Message = fmt.Sprintf("ticket message %s: %s", id, e.Message)
		}
		return nil, err
	}
	return resp, nil
}
