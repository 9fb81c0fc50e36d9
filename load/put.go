package load

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/msgmigrate/msgmigrate/msg"
)

// maxPutBody bounds how much of an answer is read: a record, or an error.
const maxPutBody = 16 << 20

// Put is the machinery of the sinks that update one record per request:
// PUT {base}{Path(route)} with the item's payload. The vendor packages fill
// in what differs.
type Put struct {
	Base   string
	Client *http.Client
	Opts   Options
	// Path is the request path (and query) for an item.
	Path func(it *msg.Item) string
	// Authorize adds credentials to a request.
	Authorize func(*http.Request)
	// Body builds the request body; nil sends the payload as it is.
	Body func(ctx context.Context, it *msg.Item) ([]byte, error)
	// TargetID reads the updated record's id from a 2xx body ("" if none).
	TargetID func(body []byte) string
	// ErrorText reads the message in the vendor's error body ("" when the
	// body is not in the vendor's format).
	ErrorText func(body []byte) string
	// OnUnauthorized, when set, makes a 401 worth another attempt (a
	// session that expired) after it runs on the refused request.
	OnUnauthorized func(refused *http.Request)
}

// Options returns the delivery options: one item a request.
func (p *Put) Options() Options { return p.Opts }

// Close releases idle connections.
func (p *Put) Close() error {
	p.Client.CloseIdleConnections()
	return nil
}

// Send updates the batch's single item.
func (p *Put) Send(ctx context.Context, b *Batch) ([]ItemResult, error) {
	if len(b.Items) != 1 {
		return nil, &PermanentError{Code: "BATCH", Err: fmt.Errorf("this sink takes one item a request, got %d", len(b.Items))}
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
		return nil, &PermanentError{Code: "BAD_REQUEST", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, rb, err := p.roundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		id := ""
		if p.TargetID != nil {
			id = p.TargetID(rb)
		}
		return []ItemResult{{Status: Loaded, TargetID: id}}, nil
	}
	message := p.ErrorMessage(rb)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		if p.OnUnauthorized != nil {
			p.OnUnauthorized(req)
			return nil, &RetryableError{Err: fmt.Errorf("HTTP 401: %s (the session is renewed)", message)}
		}
	case http.StatusNotFound:
		// The record is not there: that record's failure, not the run's.
		return []ItemResult{{Status: Failed, Code: "NOT_FOUND", Message: "HTTP 404: " + message}}, nil
	case http.StatusBadRequest, http.StatusConflict, http.StatusNotAcceptable, http.StatusUnprocessableEntity:
		return []ItemResult{{Status: Failed, Code: fmt.Sprintf("HTTP %d", resp.StatusCode), Message: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, message)}}, nil
	}
	return nil, Classify(resp.StatusCode, "", message, resp.Header.Get("Retry-After"), time.Now())
}

// Get reads the record at path as it is now, for the sinks that merge the
// mapped fields into it; what names it in errors ("ticket message 42").
// A 404 fails the record; a 401 renews the session as Send does.
func (p *Put) Get(ctx context.Context, path, what string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Base+path, nil)
	if err != nil {
		return nil, &PermanentError{Code: "BAD_REQUEST", Err: err}
	}
	resp, body, err := p.roundTrip(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return body, nil
	case resp.StatusCode == http.StatusNotFound:
		return nil, &PermanentError{Code: "NOT_FOUND", Err: fmt.Errorf("%s: HTTP 404", what)}
	case resp.StatusCode == http.StatusUnauthorized && p.OnUnauthorized != nil:
		p.OnUnauthorized(req)
		return nil, &RetryableError{Err: fmt.Errorf("reading %s: the session expired", what)}
	}
	return nil, Classify(resp.StatusCode, "", "reading "+what+": "+p.ErrorMessage(body), resp.Header.Get("Retry-After"), time.Now())
}

// roundTrip sends req with the credentials and reads the answer whole; a
// transport failure is worth another attempt.
func (p *Put) roundTrip(req *http.Request) (*http.Response, []byte, error) {
	req.Header.Set("Accept", "application/json")
	if p.Authorize != nil {
		p.Authorize(req)
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return nil, nil, &RetryableError{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPutBody))
	if err != nil {
		return nil, nil, &RetryableError{Err: err}
	}
	return resp, body, nil
}

// ErrorMessage is the vendor's message in an error body, else the body
// itself (cut short).
func (p *Put) ErrorMessage(body []byte) string { return ErrorMessage(p.ErrorText, body) }

// NewPut fills in the common parts: URL checks, client, one item a request.
func NewPut(env Env, c HTTPConfig) (*Put, error) {
	raw, err := env.URL(c.URL)
	if err != nil {
		return nil, err
	}
	u, err := CheckURL(raw)
	if err != nil {
		return nil, err
	}
	o := c.Options(0)
	o.MaxItems, o.MaxBytes = 1, 0
	return &Put{Base: u.String(), Client: NewClient(o, time.Duration(c.Timeout)), Opts: o}, nil
}
