// Package mykaarma is the "mykaarma" sink: myKaarma's historical
// communications batch endpoint. One request carries up to max_items items of
// one (department, customer) route; its 200 answer settles each item.
package mykaarma

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	api "github.com/msgmigrate/msgmigrate/api/mykaarma"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/transport"
)

func init() { load.Register("mykaarma", open) }

// Config is the mykaarma sink's part of a job file.
type Config struct {
	load.HTTPConfig `yaml:",inline"`
	CallbackURL     string `yaml:"callback_url"`
	// TooLargeCodes are the error codes that mean "the batch is too big":
	// such a batch is split. The vendor does not document them (VENDORS.md);
	// these add to api.TooLargeCodes.
	TooLargeCodes []string `yaml:"too_large_codes"`
}

// Sink sends batches to the historical endpoint.
type Sink struct {
	base     *url.URL
	callback string
	client   *transport.Client
	opts     load.Options
	tooLarge []string
}

const envelopeHead = `{"saveMessageRequestList":[`

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
	u, err := transport.CheckURL("sink.url", raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sec.File, err)
	}
	if c.Username == "" || c.Password == "" {
		return nil, fmt.Errorf("%s: sink.username and sink.password are required for mykaarma (e.g. username: ${MYKAARMA_USER})", sec.File)
	}
	s := &Sink{base: u, callback: c.CallbackURL, tooLarge: append(slices.Clone(api.TooLargeCodes), c.TooLargeCodes...)}
	overhead := len(envelopeHead) + len(`]}`)
	if c.CallbackURL != "" {
		overhead += len(`,"callBackPathUrl":`) + len(c.CallbackURL) + 2
	}
	s.opts = c.Options(overhead)
	s.client = c.Client(env, s.opts)
	user, password := c.Username, c.Password
	s.client.Authorize = func(r *http.Request) { r.SetBasicAuth(user, password) }
	s.client.DecodeError = api.DecodeError
	return s, nil
}

// Options returns the configured delivery options.
func (s *Sink) Options() load.Options { return s.opts }

// Pacer is the pacer every request goes through.
func (s *Sink) Pacer() *transport.Pacer { return s.client.Pacer }

// Probe sends an empty batch to an all-zero route: nothing is written, and
// the answer tells whether the URL is the endpoint's and the credentials
// are taken.
func (s *Sink) Probe(ctx context.Context) (string, error) {
	const zero = "00000000-0000-0000-0000-000000000000"
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, s.base.String()+api.Path(zero, zero), strings.NewReader(envelopeHead+"]}"))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	if resp.OK() {
		return fmt.Sprintf("%s answered %d to an empty batch: reachable, credentials accepted", s.base.Redacted(), resp.Status), nil
	}
	e := s.classify(s.client.StatusError(resp))
	if e.Class == transport.Fatal {
		return "", &transport.FatalError{Service: s.client.Pacer.Service(), Count: 1, Last: e}
	}
	return fmt.Sprintf("%s answered HTTP %d %s to an empty batch: reachable, credentials accepted", s.base.Redacted(), resp.Status, e.Code), nil
}

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

// Send makes one PUT for the batch.
func (s *Sink) Send(ctx context.Context, b *load.Batch) ([]load.ItemResult, error) {
	if len(b.Route) != 2 {
		return nil, &transport.Error{Class: transport.Permanent, Code: "BAD_ROUTE", Message: fmt.Sprintf("route %v: want department and customer", b.Route)}
	}
	endpoint := s.base.String() + api.Path(b.Route[0], b.Route[1])
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, endpoint, bytes.NewReader(s.Body(b)))
	if err != nil {
		return nil, &transport.Error{Class: transport.Permanent, Code: "BAD_REQUEST", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, s.classify(s.client.StatusError(resp))
	}
	var out api.Response
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return nil, transport.Unreadable(resp, err)
	}
	return Settle(b, &out), nil
}

// classify adjusts the transport's default classes to this endpoint.
func (s *Sink) classify(e *transport.Error) *transport.Error {
	switch {
	case slices.Contains(s.tooLarge, e.Code):
		e.Class = transport.TooLarge
	case e.Status == http.StatusNotFound && (e.Code == "HTTP 404" || e.Code == "NOT_FOUND"):
		// The endpoint exists for every (department, customer): a plain 404
		// means the URL is wrong, and every request will get it. A 404 with
		// a code of its own (an unknown department, say) fails its items.
		e.Class, e.Kind = transport.Fatal, transport.KindEndpoint
	}
	return e
}

// UnknownOutcome is the code of an item the answer neither accepted nor
// rejected: it is not resent automatically, since a resend may duplicate a
// message in a customer's thread (de-duplication by sourceUuid is not
// documented). `msgmigrate retry --code UNKNOWN_OUTCOME` resends them once
// checked.
const UnknownOutcome = "UNKNOWN_OUTCOME"

// Settle reads each item's outcome from a 200 body. Which part of the answer
// carries an item's outcome is not documented (VENDORS.md), so both are
// read: an item is loaded if it is listed as submitted or its
// saveMessageResponse entry has a messageUuid and no errors; failed if it is
// listed as failed or its entry has errors; otherwise — both at once, or
// neither — its outcome is unknown. An item the answer accepted is never
// sent again.
func Settle(b *load.Batch, out *api.Response) []load.ItemResult {
	byKey := make(map[string]*api.ItemResponse, len(out.SaveMessageResponse))
	for i := range out.SaveMessageResponse {
		r := &out.SaveMessageResponse[i]
		byKey[r.SourceUUID] = r
	}
	listedOK := make(map[string]bool, len(out.SuccesfullySubmittedSourceUuids))
	for _, k := range out.SuccesfullySubmittedSourceUuids {
		listedOK[k] = true
	}
	listedFailed := make(map[string]bool, len(out.FailedSourceUuids))
	for _, k := range out.FailedSourceUuids {
		listedFailed[k] = true
	}
	suffix := ""
	if out.APIRequestID != "" {
		suffix = " (request id " + out.APIRequestID + ")"
	}
	results := make([]load.ItemResult, len(b.Items))
	for i, it := range b.Items {
		r := byKey[it.Key]
		entryOK := r != nil && r.MessageUUID != "" && len(r.Errors) == 0
		entryFailed := r != nil && len(r.Errors) > 0
		loaded := listedOK[it.Key] || entryOK
		failed := listedFailed[it.Key] || entryFailed
		switch {
		case loaded && !failed:
			id := ""
			if r != nil {
				id = r.MessageUUID
			}
			results[i] = load.ItemResult{Status: load.Loaded, TargetID: id}
		case failed && !loaded:
			code, text := "FAILED", "the target listed the item in failedSourceUuids"
			switch {
			case entryFailed:
				code, text = r.Errors[0].ErrorCode, errorText(r.Errors)
			case len(out.Errors) > 0:
				code, text = out.Errors[0].ErrorCode, errorText(out.Errors)
			}
			results[i] = load.ItemResult{Status: load.Failed, Code: code, Message: text + suffix}
		case loaded && failed:
			results[i] = load.ItemResult{Status: load.Failed, Code: UnknownOutcome,
				Message: "the answer both accepted and rejected the item" + detail(r) + "; not resent: check the target, then retry --code " + UnknownOutcome + suffix}
		default:
			results[i] = load.ItemResult{Status: load.Failed, Code: UnknownOutcome,
				Message: "the answer neither accepted nor rejected the item; not resent (a resend may duplicate it): check the target, then retry --code " + UnknownOutcome + suffix}
		}
	}
	return results
}

func detail(r *api.ItemResponse) string {
	if r == nil || len(r.Errors) == 0 {
		return ""
	}
	return " (" + errorText(r.Errors) + ")"
}

func errorText(errs []api.Error) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		parts = append(parts, strings.TrimSpace(e.ErrorCode+": "+e.ErrorDescription))
	}
	return strings.Join(parts, "; ")
}
