package load

import (
	"bytes"
	"context"
	"fmt"
	"net/http"

	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
)

// Put is the machinery of the sinks that update one record per request:
// PUT {base}{Path(route)} with the item's payload, through the transport.
// The vendor packages fill in what differs.
type Put struct {
	Base   string
	Client *transport.Client
	Opts   Options
	// Path is the request path (and query) for an item.
	Path func(it *msg.Item) string
	// Body builds the request body; nil sends the payload as it is.
	Body func(ctx context.Context, it *msg.Item) ([]byte, error)
	// TargetID reads the updated record's id from a 2xx body ("" if none).
	TargetID func(body []byte) string
	// OnUnauthorized, when set, makes a 401 worth another attempt (a
	// session that expired) after it runs on the refused request.
	OnUnauthorized func(refused *http.Request)
	// Verify checks that an accepted update was applied — from the
	// answer's echo, or by reading the record back — since a vendor may
	// answer 200 and change nothing. A nil error and false fails the item
	// as NOT_APPLIED with why; an error is the attempt's failure (a read
	// back that did not get through is worth another attempt).
	Verify func(ctx context.Context, it *msg.Item, sent, answer []byte) (applied bool, why string, err error)
	// ProbePath is a harmless read (GET) that shows the endpoint is there
	// and takes the credentials, for check: e.g. a record that does not
	// exist, which the vendor answers 404 in its own words.
	ProbePath string
}

// Probe reads ProbePath once.
func (p *Put) Probe(ctx context.Context) (string, error) {
	if p.ProbePath == "" {
		return "not probed (this sink has no harmless read)", nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Base+p.ProbePath, nil)
	if err != nil {
		return "", err
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return "", err
	}
	e := p.Client.StatusError(resp)
	switch {
	case e == nil:
		return fmt.Sprintf("GET %s answered %d: reachable, credentials accepted", p.ProbePath, resp.Status), nil
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		return "", &transport.FatalError{Service: p.Client.Pacer.Service(), Count: 1, Last: e}
	case resp.Status == http.StatusNotFound && e.Code != "HTTP 404":
		return fmt.Sprintf("GET %s answered 404 in the vendor's words (%s): reachable, credentials accepted", p.ProbePath, e.Code), nil
	}
	return "", e
}

// NotApplied is the code of an update the vendor accepted but did not
// apply.
const NotApplied = "NOT_APPLIED"

// Options returns the delivery options: one item a request.
func (p *Put) Options() Options { return p.Opts }

// UpdatesByKey: a PUT replaces the record its route names.
func (p *Put) UpdatesByKey() bool { return true }

// Pacer is the pacer of the sink's client.
func (p *Put) Pacer() *transport.Pacer { return p.Client.Pacer }

// Close releases idle connections.
func (p *Put) Close() error {
	p.Client.CloseIdleConnections()
	return nil
}

// Send updates the batch's single item.
func (p *Put) Send(ctx context.Context, b *Batch) ([]ItemResult, error) {
	if len(b.Items) != 1 {
		return nil, &transport.Error{Class: transport.Permanent, Code: "BATCH", Message: fmt.Sprintf("this sink takes one item a request, got %d", len(b.Items))}
	}
	it := b.Items[0]
	body := it.Payload
	if p.Body != nil {
		var err error
		if body, err = p.Body(ctx, it); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.Base+p.Path(it), bytes.NewReader(body))
	if err != nil {
		return nil, &transport.Error{Class: transport.Permanent, Code: "BAD_REQUEST", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.Client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.OK() {
		if p.Verify != nil {
			applied, why, err := p.Verify(ctx, it, body, resp.Body)
			if err != nil {
				return nil, err
			}
			if !applied {
				return []ItemResult{{Status: Failed, Code: NotApplied, Message: "the vendor answered " + fmt.Sprint(resp.Status) + " but did not apply the update: " + why}}, nil
			}
		}
		id := ""
		if p.TargetID != nil {
			id = p.TargetID(resp.Body)
		}
		return []ItemResult{{Status: Loaded, TargetID: id}}, nil
	}
	e := p.Client.StatusError(resp)
	switch resp.Status {
	case http.StatusUnauthorized:
		if p.OnUnauthorized != nil {
			p.OnUnauthorized(req)
			e.Class, e.Kind, e.Message = transport.Renewed, "", e.Message+" (the session is renewed)"
		}
	case http.StatusNotFound:
		// The record is not there: that record's failure, not the run's.
		return []ItemResult{{Status: Failed, Code: "NOT_FOUND", Message: e.Error()}}, nil
	case http.StatusBadRequest, http.StatusConflict, http.StatusNotAcceptable, http.StatusUnprocessableEntity:
		return []ItemResult{{Status: Failed, Code: e.VendorCode(), Message: e.Error()}}, nil
	}
	return nil, e
}

// Get reads the record at path as it is now, for the sinks that merge the
// mapped fields into it; what names it in errors ("ticket message 42").
// A 404 fails the record; a 401 renews the session as Send does.
func (p *Put) Get(ctx context.Context, path, what string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Base+path, nil)
	if err != nil {
		return nil, &transport.Error{Class: transport.Permanent, Code: "BAD_REQUEST", Err: err}
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusOK {
		return resp.Body, nil
	}
	e := p.Client.StatusError(resp)
	e.Message = "reading " + what + ": " + e.Message
	switch {
	case resp.Status == http.StatusNotFound:
		e.Class, e.Code = transport.Permanent, "NOT_FOUND"
	case resp.Status == http.StatusUnauthorized && p.OnUnauthorized != nil:
		p.OnUnauthorized(req)
		e.Class, e.Kind = transport.Retry, ""
	}
	return nil, e
}

// NewPut fills in the common parts: URL checks, client, one item a request.
func NewPut(env Env, c HTTPConfig, decodeError func([]byte) (code, message, requestID string)) (*Put, error) {
	raw, err := env.URL(c.URL)
	if err != nil {
		return nil, err
	}
	u, err := transport.CheckURL("sink.url", raw)
	if err != nil {
		return nil, err
	}
	o := c.Options(0)
	o.MaxItems, o.MaxBytes = 1, 0
	cl := c.Client(env, o)
	cl.DecodeError = decodeError
	return &Put{Base: u.String(), Client: cl, Opts: o}, nil
}
