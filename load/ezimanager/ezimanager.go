// Package ezimanager is the "ezimanager" sink, a thin adapter over
// api/ezimanager: PUT api/message/{id} with the camelCase Message (seed 003).
//
// The PUT saves the whole message, so one attempt (Send) reads the message
// as it is now, lays the mapped fields over it — every other member goes
// back exactly as it was read, the document included; documentObject is
// never sent (the vendor could rebuild the document from it) — writes it,
// and reads it back. A mapped field the message does not hold afterwards
// fails the record as NOT_APPLIED: the pages mark External, Stores,
// StoreName, Operators, Users and Machines "Relation. This field may not
// always be loaded or used for updates", so a PUT that changes one may
// answer 200 and change nothing. A member the write was not meant to touch
// that changed fails it as OTHER_FIELDS_CHANGED, naming it. A message that
// already holds the mapped values is not written again (a rerun, or an
// attempt after an answer that was lost).
//
// What cannot be pinned down: EziManager documents no version or ETag, so a
// change someone makes between the read and the write is overwritten by it;
// the window is one request long.
package ezimanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	api "github.com/msgmigrate/msgmigrate/api/ezimanager"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/transport"
)

func init() { load.Register("ezimanager", open) }

// Config is the ezimanager sink's part of a job file.
type Config struct {
	load.HTTPConfig `yaml:",inline"` // url: the site, e.g. https://au2.ezimanager.cloud/
	Email           string           `yaml:"email"`
	TokenHeader     string           `yaml:"token_header"` // default "Authorization: Bearer"
}

// OtherFieldsChanged is the code of a write after which a member it was not
// meant to touch no longer holds what it held.
const OtherFieldsChanged = "OTHER_FIELDS_CHANGED"

// Sink writes mapped fields into EziManager messages.
type Sink struct {
	client *api.Client
	opts   load.Options
}

var (
	_ load.Sink         = (*Sink)(nil)
	_ load.Paced        = (*Sink)(nil)
	_ load.Prober       = (*Sink)(nil)
	_ load.UpdatesByKey = (*Sink)(nil)
)

func open(_ context.Context, sec config.Section, env load.Env) (load.Sink, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Email == "" || c.Password == "" {
		return nil, fmt.Errorf("%s: sink.email and sink.password are required for ezimanager", sec.File)
	}
	if c.Username != "" {
		return nil, fmt.Errorf("%s: sink.username: ezimanager logs in with sink.email", sec.File)
	}
	sess, err := api.NewSession(c.TokenHeader, c.Email, c.Password)
	if err != nil {
		return nil, fmt.Errorf("%s: sink.%w", sec.File, err)
	}
	raw, err := env.URL(c.URL)
	if err != nil {
		return nil, err
	}
	if raw == "" {
		return nil, fmt.Errorf("%s: sink.url is required for ezimanager (the site, e.g. https://au2.ezimanager.cloud/)", sec.File)
	}
	base, err := transport.CheckURL("sink.url", raw)
	if err != nil {
		return nil, err
	}
	o := c.Options(0)
	o.MaxItems, o.MaxBytes = 1, 0
	log := env.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Sink{client: api.NewClient(c.Client(env, o), base, sess, log), opts: o}, nil
}

// Options are one item a request.
func (s *Sink) Options() load.Options { return s.opts }

// Pacer is the pacer every attempt goes through.
func (s *Sink) Pacer() *transport.Pacer { return s.client.HTTP.Pacer }

// UpdatesByKey: the route names the message a write replaces.
func (s *Sink) UpdatesByKey() bool { return true }

// Close releases idle connections.
func (s *Sink) Close() error {
	s.client.HTTP.CloseIdleConnections()
	return nil
}

// probeID names no message: reading it shows the site, the login and the
// token header work, and writes nothing.
const probeID = "00000000-0000-0000-0000-000000000000"

// Probe logs in and reads a message that does not exist.
func (s *Sink) Probe(ctx context.Context) (string, error) {
	_, _, err := s.client.Message(ctx, probeID)
	var e *transport.Error
	switch {
	case err == nil:
		return "logged in; GET api/message/" + probeID + " answered: reachable, session accepted", nil
	case errors.As(err, &e) && e.Code == api.NotFound:
		return "logged in; GET api/message/" + probeID + " answered " + e.VendorCode() + ": reachable, session accepted", nil
	case errors.As(err, &e) && e.Class == transport.Fatal:
		return "", &transport.FatalError{Service: s.client.HTTP.Pacer.Service(), Count: 1, Last: e}
	}
	return "", err
}

func failed(code, message string) []load.ItemResult {
	return []load.ItemResult{{Status: load.Failed, Code: code, Message: message}}
}

// Send makes one attempt at the batch's single item: read, merge, write,
// read back.
func (s *Sink) Send(ctx context.Context, b *load.Batch) ([]load.ItemResult, error) {
	if len(b.Items) != 1 {
		return nil, &transport.Error{Class: transport.Permanent, Code: "BATCH", Message: fmt.Sprintf("this sink takes one item a request, got %d", len(b.Items))}
	}
	it := b.Items[0]
	id := it.Route[0]
	if u, err := uuid.Parse(strings.Trim(strings.TrimSpace(id), "{}")); err == nil {
		id = u.String() // as the vendor writes it: lower case, no braces
	}
	var mapped map[string]json.RawMessage
	if err := json.Unmarshal(it.Payload, &mapped); err != nil || len(mapped) == 0 {
		return failed("PAYLOAD", "the mapped payload is not a JSON object with fields to set"), nil
	}

	before, _, err := s.client.Message(ctx, id)
	if res, err := outcome(err); res != nil || err != nil {
		return res, err
	}
	if len(differences(mapped, before)) == 0 {
		return []load.ItemResult{{Status: load.Loaded, TargetID: id}}, nil // already so: nothing to write
	}
	body, err := merge(before, mapped)
	if err != nil {
		return nil, &transport.Error{Class: transport.Permanent, Code: "PAYLOAD", Err: err}
	}
	saved, pr, err := s.client.Put(ctx, id, body)
	if res, err := outcome(err); res != nil || err != nil {
		return res, err
	}
	if saved != "" && !strings.EqualFold(saved, id) && !strings.EqualFold(strings.Trim(saved, "{}"), id) {
		return failed("UNEXPECTED_ID", fmt.Sprintf("message %s: the vendor answered %d saying it saved message %s: check both by hand", id, pr.Status, saved)), nil
	}

	after, _, err := s.client.Message(ctx, id)
	if res, err := outcome(err); res != nil || err != nil {
		return res, err // a read back that did not get through: the next attempt reads it and finds the change there
	}
	if diff := differences(mapped, after); len(diff) > 0 {
		return failed(load.NotApplied, fmt.Sprintf("message %s: the vendor answered %d but does not hold %s", id, pr.Status, strings.Join(diff, "; "))), nil
	}
	if diff := differences(without(before, mapped), after); len(diff) > 0 {
		return failed(OtherFieldsChanged, fmt.Sprintf("message %s: written, but members it was not meant to change changed (by this write, or by someone meanwhile): %s",
			id, strings.Join(diff, "; "))), nil
	}
	return []load.ItemResult{{Status: load.Loaded, TargetID: id}}, nil
}

// outcome sorts a request's error: a message that is not there, or that
// the vendor refuses, fails the record; anything else is the attempt's
// failure (its class says what the loader does).
func outcome(err error) ([]load.ItemResult, error) {
	if err == nil {
		return nil, nil
	}
	var e *transport.Error
	if errors.As(err, &e) && e.Class == transport.Permanent {
		return failed(e.VendorCode(), e.Error()), nil
	}
	return nil, err
}

// merge lays the mapped members over the message as read, replacing a
// member whatever the case it was read in (the vendor binds members without
// regard to case), and leaves documentObject out.
func merge(current, mapped map[string]json.RawMessage) ([]byte, error) {
	out := make(map[string]json.RawMessage, len(current)+len(mapped))
	for k, v := range current {
		if strings.EqualFold(k, "documentObject") {
			continue
		}
		out[k] = v
	}
	for k, v := range mapped {
		for have := range out {
			if strings.EqualFold(have, k) {
				delete(out, have)
			}
		}
		out[k] = v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // a document's markup goes back byte for byte
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// without is the members of m that mapped does not set (and not
// documentObject, which is never sent).
func without(m, mapped map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		if strings.EqualFold(k, "documentObject") || lookup(mapped, k) != nil {
			continue
		}
		out[k] = v
	}
	return out
}

func lookup(m map[string]json.RawMessage, key string) json.RawMessage {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

// timeSlack is how far a date may come back from what was written: a SQL
// Server datetime keeps 1/300 s.
const timeSlack = 4 * time.Millisecond

// differences lists, by member, the members of want that have does not
// hold: dates as instants, everything else as JSON values.
func differences(want, have map[string]json.RawMessage) []string {
	var out []string
	for k, w := range want {
		h := lookup(have, k)
		if same(k, w, h) {
			continue
		}
		shown := "none"
		if h != nil && string(h) != "null" {
			shown = show(h)
		}
		line := fmt.Sprintf("%s: wants %s, the message has %s", k, show(w), shown)
		for r := range api.Relations {
			if strings.EqualFold(r, k) {
				line += ` (a relation: "may not always be loaded or used for updates")`
			}
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

// show is a JSON value as a user reads it: markup not escaped.
func show(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return string(raw)
	}
	return strings.TrimSpace(buf.String())
}

func same(key string, a, b json.RawMessage) bool {
	var va, vb any
	if len(a) > 0 {
		_ = json.Unmarshal(a, &va)
	}
	if len(b) > 0 {
		_ = json.Unmarshal(b, &vb)
	}
	if api.IsTime(key) {
		sa, _ := va.(string)
		sb, _ := vb.(string)
		ta, okA, errA := api.ParseTime(sa)
		tb, okB, errB := api.ParseTime(sb)
		if errA == nil && errB == nil {
			if !okA || !okB {
				return okA == okB // both unset (null, absent or year 1)
			}
			d := ta.Sub(tb)
			return d <= timeSlack && d >= -timeSlack
		}
	}
	if va == nil && vb == nil {
		return true
	}
	return reflect.DeepEqual(va, vb)
}
