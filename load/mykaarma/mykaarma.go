// Package mykaarma is the "mykaarma" sink: myKaarma's historical
// communications batch endpoint. One request carries up to max_items items of
// one (department, customer) route; its 200 answer settles each item.
package mykaarma

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	api "github.com/msgmigrate/msgmigrate/api/mykaarma"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
)

func init() { load.Register("mykaarma", open) }

// Config is the mykaarma sink's part of a job file.
type Config struct {
	load.HTTPConfig `yaml:",inline"`
	CallbackURL     string `yaml:"callback_url"`
}

// Sink sends batches to the historical endpoint.
type Sink struct {
	base     *url.URL
	user     string
	password string
	callback string
	client   *http.Client
	opts     load.Options
}

const (
	envelopeHead = `{"saveMessageRequestList":[`
	maxErrorBody = 64 << 10
)

func open(_ context.Context, sec config.Section, env load.Env) (load.Sink, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.URL == "" {
		c.URL = api.DefaultBase
	}
	raw, err := env.URL(c.URL)
	if err != nil {
		return nil, err
	}
	u, err := load.CheckURL(raw)
	if err != nil {
		return nil, err
	}
	if c.Username == "" || c.Password == "" {
		return nil, fmt.Errorf("%s: sink.username and sink.password are required for mykaarma (e.g. username: ${MYKAARMA_USER})", sec.File)
	}
	s := &Sink{base: u, user: c.Username, password: c.Password, callback: c.CallbackURL}
	overhead := len(envelopeHead) + len(`]}`)
	if c.CallbackURL != "" {
		overhead += len(`,"callBackPathUrl":`) + len(c.CallbackURL) + 2
	}
	s.opts = c.Options(overhead)
	s.client = load.NewClient(s.opts, time.Duration(c.Timeout))
	return s, nil
}

// Options returns the configured delivery options.
func (s *Sink) Options() load.Options { return s.opts }

// Close releases idle connections.
func (s *Sink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// Body builds the request body from pre-encoded items.
func (s *Sink) Body(b *load.Batch) []byte {
	buf := make([]byte, 0, s.opts.Overhead+b.Bytes+len(b.Items))
	buf = append(buf, envelopeHead...)
	for i, it := range b.Items {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, it.Payload...)
	}
	buf = append(buf, ']')
	if s.callback != "" {
		cb, _ := json.Marshal(s.callback)
		buf = append(buf, `,"callBackPathUrl":`...)
		buf = append(buf, cb...)
	}
	return append(buf, '}')
}

var bufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Send makes one PUT for the batch.
func (s *Sink) Send(ctx context.Context, b *load.Batch) ([]load.ItemResult, error) {
	if len(b.Route) != 2 {
		return nil, &load.PermanentError{Code: "BAD_ROUTE", Err: fmt.Errorf("route %v: want department and customer", b.Route)}
	}
	endpoint := s.base.String() + api.Path(b.Route[0], b.Route[1])
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, endpoint, bytes.NewReader(s.Body(b)))
	if err != nil {
		return nil, &load.PermanentError{Code: "BAD_REQUEST", Err: err}
	}
	req.SetBasicAuth(s.user, s.password)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		// Transport failures (timeouts, resets) are worth another attempt.
		// The URL error names the endpoint, never the credentials.
		return nil, &load.RetryableError{Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		code, message := decodeAPIError(body)
		if resp.StatusCode == http.StatusBadRequest && isSizeError(code, message) {
			return nil, &load.TooLargeError{Err: fmt.Errorf("HTTP 400: %s", message)}
		}
		return nil, load.Classify(resp.StatusCode, code, message, resp.Header.Get("Retry-After"), time.Now())
	}
	buf := bufs.Get().(*bytes.Buffer)
	defer bufs.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, &load.RetryableError{Err: fmt.Errorf("reading the 200 response: %w", err)}
	}
	var out api.Response
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		return nil, &load.RetryableError{Err: fmt.Errorf("unreadable 200 response: %w", err)}
	}
	return Settle(b, &out), nil
}

// Settle reads each item's outcome from a 200 body. An item the answer does
// not mention is not settled and will be sent again.
func Settle(b *load.Batch, out *api.Response) []load.ItemResult {
	byKey := make(map[string]*api.ItemResponse, len(out.SaveMessageResponse))
	for i := range out.SaveMessageResponse {
		r := &out.SaveMessageResponse[i]
		byKey[r.SourceUUID] = r
	}
	ok := make(map[string]bool, len(out.SuccesfullySubmittedSourceUuids))
	for _, k := range out.SuccesfullySubmittedSourceUuids {
		ok[k] = true
	}
	failed := make(map[string]bool, len(out.FailedSourceUuids))
	for _, k := range out.FailedSourceUuids {
		failed[k] = true
	}
	results := make([]load.ItemResult, len(b.Items))
	for i, it := range b.Items {
		r := byKey[it.Key]
		switch {
		case r != nil && len(r.Errors) > 0:
			results[i] = load.ItemResult{Status: load.Failed, Code: r.Errors[0].ErrorCode, Message: errorText(r.Errors)}
		case failed[it.Key]:
			code, text := "FAILED", "the target listed the item in failedSourceUuids"
			if len(out.Errors) > 0 {
				code, text = out.Errors[0].ErrorCode, errorText(out.Errors)
			}
			results[i] = load.ItemResult{Status: load.Failed, Code: code, Message: text}
		case ok[it.Key]:
			id := ""
			if r != nil {
				id = r.MessageUUID
			}
			results[i] = load.ItemResult{Status: load.Loaded, TargetID: id}
		default:
			results[i] = load.ItemResult{Status: load.Retry}
		}
	}
	return results
}

func errorText(errs []api.Error) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		parts = append(parts, e.ErrorCode+": "+e.ErrorDescription)
	}
	return strings.Join(parts, "; ")
}

func decodeAPIError(body []byte) (code, message string) {
	var e api.APIError
	if err := json.Unmarshal(body, &e); err == nil && len(e.Errors) > 0 {
		parts := make([]string, 0, len(e.Errors))
		for _, x := range e.Errors {
			parts = append(parts, strings.TrimSpace(x.ErrorTitle+" "+x.ErrorMessage))
		}
		return e.Errors[0].ErrorCode, strings.Join(parts, "; ")
	}
	return "", load.BodyText(body)
}

// isSizeError recognises a 400 that is about the batch's size rather than its
// content: only those are split, so a bad request is not bisected needlessly.
func isSizeError(code, message string) bool {
	s := strings.ToLower(code + " " + message)
	return strings.Contains(s, "too large") || strings.Contains(s, "too many") ||
		strings.Contains(s, "size") || strings.Contains(s, "too_large") || strings.Contains(s, "too_many")
}
