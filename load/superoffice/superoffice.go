// Package superoffice is the "superoffice" sink: it changes the fields a
// mapping sets on a ticket message, and nothing else — a thin adapter over
// api/superoffice.
//
// One attempt (Send) reads the message's entity, sends the mapped fields as
// a JSON merge patch (PATCH /TicketMessage/{id}) with If-Unmodified-Since
// set to when it was read, and reads the entity back to check that every
// field it sent is there. Why PATCH: PUT saves the whole entity (seed 004),
// so a PUT built from a read clears or reverts whatever someone changed
// between the read and the write; a merge patch names only the mapped
// fields, and If-Unmodified-Since makes the vendor refuse it (412) when the
// message changed since the read (PatchTicketMessageEntity.md). A 412 is
// worth another attempt: the loader runs Send again, which reads the message
// as it is now (bounded by retry.max_attempts). Nothing notifies anyone: PATCH
// has no notify, and /Send is never called.
//
// A field the vendor accepts but does not keep — above all a custom field
// (x_…) the tenant has not defined — fails the record as NOT_APPLIED. A
// message whose fields already hold the mapped values is not written again.
package superoffice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	api "github.com/msgmigrate/msgmigrate/api/superoffice"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/transport"
)

func init() { load.Register("superoffice", open) }

// Config is the superoffice sink's part of a job file.
type Config struct {
	load.HTTPConfig `yaml:",inline"` // url: https://{env}.superoffice.com/{CustNNNNN}/api/v1
	api.Credentials `yaml:",inline"`
	// Verify is how a write is checked: read (default: the entity is read
	// back) or echo (the PATCH answer's entity is trusted: one request
	// fewer, but an answer may show a value the vendor did not keep).
	Verify string `yaml:"verify"`
}

// Sink writes mapped fields into ticket messages.
type Sink struct {
	client *api.Client
	login  *transport.Client
	opts   load.Options
	echo   bool
	now    func() time.Time
}

func open(_ context.Context, sec config.Section, env load.Env) (load.Sink, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.Credentials.Check("sink."); err != nil {
		return nil, fmt.Errorf("%s: %w", sec.File, err)
	}
	switch c.Verify {
	case "", "read", "echo":
	default:
		return nil, fmt.Errorf("%s: sink.verify %q: want read or echo", sec.File, c.Verify)
	}
	raw, err := env.URL(c.URL)
	if err != nil {
		return nil, err
	}
	base, err := transport.CheckURL("sink.url", raw)
	if err != nil {
		return nil, err
	}
	cred := c.Credentials
	if cred.RefreshToken != "" {
		if cred.TokenURL == "" {
			cred.TokenURL = api.DefaultTokenURL("", base.String())
		} else if cred.TokenURL, err = env.URL(cred.TokenURL); err != nil {
			return nil, err
		}
	}
	o := c.Options(0)
	o.MaxItems, o.MaxBytes = 1, 0
	hc := c.Client(env, o)
	login := transport.NewClient("sink superoffice login", c.Config, 0, 1, 1, env.RateShare, env.Log)
	login.DecodeError = api.DecodeError
	// No SO-TimeZone: the sink writes no dates and compares none.
	client := api.NewClient(hc, api.NewAuth(cred, login), base, "", time.UTC)
	return &Sink{client: client, login: login, opts: o, echo: c.Verify == "echo", now: time.Now}, nil
}

// Options are one item a request.
func (s *Sink) Options() load.Options { return s.opts }

// UpdatesByKey: a patch changes the message its route names.
func (s *Sink) UpdatesByKey() bool { return true }

// Pacer is the pacer every attempt goes through.
func (s *Sink) Pacer() *transport.Pacer { return s.client.HTTP.Pacer }

// Close releases idle connections.
func (s *Sink) Close() error {
	s.client.HTTP.CloseIdleConnections()
	s.login.CloseIdleConnections()
	return nil
}

func failed(code, message string) []load.ItemResult {
	return []load.ItemResult{{Status: load.Failed, Code: code, Message: message}}
}

// Send makes one attempt at the batch's single item: read, patch, verify.
func (s *Sink) Send(ctx context.Context, b *load.Batch) ([]load.ItemResult, error) {
	if len(b.Items) != 1 {
		return nil, &transport.Error{Class: transport.Permanent, Code: "BATCH", Message: fmt.Sprintf("this sink takes one item a request, got %d", len(b.Items))}
	}
	it := b.Items[0]
	id := it.Route[0]
	var patch map[string]any
	if err := json.Unmarshal(it.Payload, &patch); err != nil || len(patch) == 0 {
		return failed("PAYLOAD", "the mapped payload is not a JSON object with fields to set"), nil
	}

	readAt := s.now()
	entity, resp, err := s.read(ctx, id)
	if err != nil {
		if isNotFound(err) {
			return failed("NOT_FOUND", err.Error()), nil
		}
		return nil, err
	}
	if len(differences(patch, entity, "")) == 0 {
		return []load.ItemResult{{Status: load.Loaded, TargetID: id}}, nil // already so: nothing to write
	}
	// The read's own time, by the vendor's clock (the Date header), so that
	// a clock here that runs ahead cannot hide a change; whole seconds, as
	// HTTP dates are.
	since := readAt
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		since = d
	}
	req, err := s.client.NewRequest(ctx, http.MethodPatch, s.client.EntityURL(id), it.Payload)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/merge-patch+json")
	req.Header.Set("If-Unmodified-Since", since.UTC().Format(http.TimeFormat))
	pr, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	switch {
	case pr.OK():
	case pr.Status == http.StatusPreconditionFailed:
		e := s.client.HTTP.StatusError(pr)
		e.Class, e.Code = transport.Retry, "CONFLICT"
		e.Message = fmt.Sprintf("ticket message %s changed after it was read; it is read again: %s", id, e.Message)
		return nil, e
	case pr.Status == http.StatusNotFound:
		return failed("NOT_FOUND", s.client.HTTP.StatusError(pr).Error()), nil
	case pr.Status == http.StatusBadRequest || pr.Status == http.StatusConflict || pr.Status == http.StatusUnprocessableEntity:
		e := s.client.HTTP.StatusError(pr)
		return failed(e.VendorCode(), e.Error()), nil
	default:
		return nil, s.client.HTTP.StatusError(pr)
	}

	var after map[string]any
	if s.echo {
		if err := json.Unmarshal(pr.Body, &after); err != nil {
			return nil, transport.Unreadable(pr, err)
		}
	} else if after, _, err = s.read(ctx, id); err != nil {
		if isNotFound(err) {
			return failed("NOT_FOUND", err.Error()), nil
		}
		return nil, err // the next attempt reads it and finds the change there
	}
	if diff := differences(patch, after, ""); len(diff) > 0 {
		return failed(load.NotApplied, fmt.Sprintf("ticket message %s: the vendor answered %d but did not keep %s (a custom field the tenant has not defined is ignored)",
			id, pr.Status, strings.Join(diff, "; "))), nil
	}
	return []load.ItemResult{{Status: load.Loaded, TargetID: id}}, nil
}

// read makes one GET of the entity.
func (s *Sink) read(ctx context.Context, id string) (map[string]any, *transport.Response, error) {
	resp, err := s.client.Entity(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	var e map[string]any
	if err := json.Unmarshal(resp.Body, &e); err != nil || e == nil {
		if err == nil {
			err = errors.New("null")
		}
		return nil, nil, transport.Unreadable(resp, err)
	}
	return e, resp, nil
}

func isNotFound(err error) bool {
	var e *transport.Error
	return errors.As(err, &e) && e.Code == "NOT_FOUND"
}

// enums are compared without case: the entity writes them as names.
var enums = map[string]bool{"Slevel": true, "Type": true, "MessageCategory": true}

// differences lists, by path, the fields of sent whose value have does not
// hold: objects member by member (a merge patch leaves other members be).
func differences(sent, have map[string]any, prefix string) []string {
	var out []string
	for k, v := range sent {
		path := prefix + k
		got, present := have[k]
		if sub, ok := v.(map[string]any); ok {
			hm, _ := got.(map[string]any)
			if hm == nil {
				hm = map[string]any{}
			}
			out = append(out, differences(sub, hm, path+".")...)
			continue
		}
		if same(k, v, got) {
			continue
		}
		shown := "none"
		if present && got != nil {
			b, _ := json.Marshal(got)
			shown = string(b)
		}
		want, _ := json.Marshal(v)
		out = append(out, fmt.Sprintf("%s: sent %s, the message has %s", path, want, shown))
	}
	sort.Strings(out)
	return out
}

func same(key string, a, b any) bool {
	if as, ok := a.(string); ok && enums[key] {
		bs, _ := b.(string)
		return strings.EqualFold(as, bs)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
