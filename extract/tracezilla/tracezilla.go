// Package tracezilla is the "tracezilla" source: a team's messages, read
// through api/tracezilla's listing, which follows either reading of the
// paging keys on the configured origin only and checks the listing is
// complete (a read that got less than the API said exists is an error:
// the run has not completed and its watermark stays).
//
// A full run reads by created_at, oldest first: page numbers over updated_at
// shift while messages change (pending → sent). An incremental run reads by
// updated_at, newest first, down to the watermark minus the lookback, and
// accepts the overlap (the API has no "updated since" filter). Either way a
// message a shifted page shows again is handed out once. secret_key and
// secret_expires never leave the source.
package tracezilla

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	api "github.com/msgmigrate/msgmigrate/api/tracezilla"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/extract/vendor"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
)

func init() { extract.Register("tracezilla", open) }

// Config is the tracezilla source's part of a job file.
type Config struct {
	Kind     string          `yaml:"kind"`
	URL      string          `yaml:"url"` // https://app.tracezilla.com/api/v1/{team}
	Token    string          `yaml:"token"`
	PerPage  int             `yaml:"per_page"` // default 100
	Status   string          `yaml:"status"`   // pending | failed | sent: status[eq]
	Since    string          `yaml:"since"`
	Lookback config.Duration `yaml:"lookback"`
	// rate (no published limit: default unlimited), burst, timeout, retry.
	transport.Config `yaml:",inline"`
}

// Source pages through a team's messages.
type Source struct {
	vendor.Window
	client  *api.Client
	perPage int
	status  string
	log     *slog.Logger

	list *api.Lister
	buf  []json.RawMessage
	desc bool
	done bool
	read int64
}

func open(_ context.Context, sec config.Section, env extract.Env) (extract.Source, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	u, err := vendor.BaseURL(env, c.URL, sec.File, "tracezilla", "https://app.tracezilla.com/api/v1/{team}")
	if err != nil {
		return nil, err
	}
	if c.Token == "" {
		return nil, fmt.Errorf("%s: source.token is required for tracezilla (token: ${TRACEZILLA_TOKEN})", sec.File)
	}
	if c.PerPage == 0 {
		c.PerPage = 100
	}
	if c.PerPage < 1 {
		return nil, fmt.Errorf("%s: source.per_page %d: want a positive number", sec.File, c.PerPage)
	}
	switch c.Status {
	case "", api.StatusPending, api.StatusFailed, api.StatusSent:
	default:
		return nil, fmt.Errorf("%s: source.status %q: want pending, failed or sent", sec.File, c.Status)
	}
	w, err := vendor.NewWindow(sec.File, c.Since, c.Lookback)
	if err != nil {
		return nil, err
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := api.NewClient(u, c.Token, vendor.NewClient(env, "tracezilla", c.Config, 0, 1))
	return &Source{Window: w, client: client, perPage: c.PerPage, status: c.Status, log: log}, nil
}

// Next returns the next message.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.list == nil {
		s.desc = !s.From().IsZero()
		q := api.ListQuery{PerPage: s.perPage, SortBy: "created_at", Status: s.status}
		if s.desc {
			q.SortBy, q.Desc = "updated_at", true
		}
		s.list = s.client.List(q)
	}
	for len(s.buf) == 0 {
		if s.done {
			return nil, io.EOF
		}
		items, err := s.list.Next(ctx)
		if errors.Is(err, io.EOF) {
			s.done = true
			if n := s.list.Repeats(); n > 0 {
				s.log.Info("tracezilla: messages a shifted page showed again were read once", "repeats", n)
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		s.buf = items
	}
	raw := s.buf[0]
	s.buf = s.buf[1:]
	rec, t, err := decode(s.list.Page(), raw)
	if err != nil {
		s.read++
		return nil, err
	}
	if _, ok := rec.Fields["status"]; !ok && s.status != "" {
		// The API filtered by status[eq]: a record that does not say its
		// status has the one asked for.
		rec.Fields["status"] = s.status
	}
	if s.desc && t.Before(s.From()) {
		// Newest first: the rest is older still.
		s.list.Stop()
		s.buf, s.done = nil, true
		return nil, io.EOF
	}
	s.Saw(t)
	s.read++
	return rec, nil
}

// decode turns a message into a record named "tracezilla message ID",
// without its secrets, with its updated_at. What cannot be read fails that
// record alone.
func decode(page int, raw json.RawMessage) (*msg.Record, time.Time, error) {
	origin := msg.Origin{Source: "tracezilla", ID: fmt.Sprintf("on page %d", page)}
	named := func(id string) msg.Origin { return msg.Origin{Source: "tracezilla", ID: id} }
	fields, err := jsonl.Decode(raw)
	if err != nil {
		// No Raw: text that is not JSON may still hold the secret_key.
		return nil, time.Time{}, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: err}
	}
	for _, f := range api.SecretFields {
		delete(fields, f)
	}
	switch v := fields["id"].(type) {
	case string:
		if v != "" {
			origin = named(v)
		}
	case int64:
		origin = named(fmt.Sprint(v))
	}
	if origin.ID == "" || fields["id"] == nil {
		return nil, time.Time{}, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: errors.New("a message without an id")}
	}
	ts, _ := fields["updated_at"].(string)
	t, err := api.ParseTime(ts)
	if err != nil {
		return nil, time.Time{}, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: fmt.Errorf("updated_at %q is not a time", ts)}
	}
	return &msg.Record{Origin: origin, Fields: fields}, t, nil
}

// Watermark is the newest updated_at read, but never past the server's
// clock when the reading began: a message that changed during the run may
// have been read before it changed, and the next run must read it again.
func (s *Source) Watermark() time.Time {
	w := s.Window.Watermark()
	if s.list != nil {
		if st := s.list.Started(); !st.IsZero() && w.After(st) {
			return st
		}
	}
	return w
}

// Columns are a message's top-level fields, secrets left out.
func (s *Source) Columns() []string { return api.Columns }

// Progress is the messages handed out, of what the first page's meta said
// a full run will read (0 when unknown).
func (s *Source) Progress() (done, total int64) {
	if s.list == nil || s.desc {
		return s.read, 0
	}
	return s.read, int64(s.list.Total())
}

// Close releases idle connections.
func (s *Source) Close() error {
	s.client.HTTP.CloseIdleConnections()
	return nil
}
