// Package gorgias is the "gorgias" source: a Gorgias account's messages,
// paged through GET /api/messages with its opaque cursors, within the
// account's rate limit. A full run reads oldest first; an incremental one
// (since:, or the watermark of the last complete run minus the lookback)
// reads newest first and stops at the watermark, since messages have no
// "updated since" filter.
package gorgias

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	api "github.com/msgmigrate/msgmigrate/api/gorgias"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/extract/vendor"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
)

func init() { extract.Register("gorgias", open) }

// maxRestarts bounds how often a listing restarts without progress.
const maxRestarts = 3

// Config is the gorgias source's part of a job file.
type Config struct {
	Kind     string          `yaml:"kind"`
	URL      string          `yaml:"url"`      // https://{subdomain}.gorgias.com/api
	Username string          `yaml:"username"` // the account email
	APIKey   string          `yaml:"api_key"`
	Limit    int             `yaml:"limit"` // messages a page, 1..100
	Since    string          `yaml:"since"` // RFC 3339; overrides the watermark
	Lookback config.Duration `yaml:"lookback"`
	TicketID int64           `yaml:"ticket_id"`
	// rate (default 95% of the account's 40 per 20 s), burst (default 38),
	// timeout, retry.
	vendor.HTTPConfig `yaml:",inline"`
}

// Source pages through the messages.
type Source struct {
	base     *url.URL
	limit    int
	ticket   int64
	client   *vendor.Client
	lookback time.Duration
	since    time.Time // zero: everything
	explicit bool      // since came from the job, not a watermark

	desc     bool
	started  bool
	cursor   string
	buf      []json.RawMessage
	done     bool
	page     int
	last     position // the last message handed out
	skipTo   *position
	mark     time.Time
	restarts int // listings restarted since the last message handed out
}

type position struct {
	created string
	id      int64
}

func open(_ context.Context, sec config.Section, env extract.Env) (extract.Source, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	raw, err := env.URL(c.URL)
	if err != nil {
		return nil, err
	}
	if raw == "" {
		return nil, fmt.Errorf("%s: source.url is required for kind gorgias (https://{subdomain}.gorgias.com/api)", sec.File)
	}
	u, err := load.CheckURL(raw)
	if err != nil {
		return nil, err
	}
	if c.Username == "" || c.APIKey == "" {
		return nil, fmt.Errorf("%s: source.username and source.api_key are required for gorgias (api_key: ${GORGIAS_API_KEY})", sec.File)
	}
	if c.Limit == 0 {
		c.Limit = 100
	}
	if c.Limit < 1 || c.Limit > 100 {
		return nil, fmt.Errorf("%s: source.limit %d: Gorgias pages hold 1 to 100 messages", sec.File, c.Limit)
	}
	// The account's budget is 40 requests / 20 s for API keys. By default
	// the client keeps 5% below it, so that its clock and the vendor's never
	// disagree into a 429.
	client := vendor.NewClient("gorgias", c.HTTPConfig, 1.9, 38)
	user, key := c.Username, c.APIKey
	client.Authorize = func(r *http.Request) { r.SetBasicAuth(user, key) }
	client.ErrorText = func(body []byte) string {
		var e api.Error
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return e.Error
		}
		return strings.TrimSpace(string(body))
	}
	s := &Source{base: u, limit: c.Limit, ticket: c.TicketID, client: client, lookback: time.Hour}
	if c.Lookback > 0 {
		s.lookback = time.Duration(c.Lookback)
	}
	if c.Since != "" {
		t, err := time.Parse(time.RFC3339Nano, c.Since)
		if err != nil {
			return nil, fmt.Errorf("%s: source.since %q: want RFC 3339, e.g. 2024-01-01T00:00:00Z", sec.File, c.Since)
		}
		s.since, s.explicit = t, true
	}
	return s, nil
}

// Since starts from t unless the job named its own since.
func (s *Source) Since(t time.Time) {
	if !s.explicit && !t.IsZero() {
		s.since = t
	}
}

// Watermark is the newest created_datetime handed out.
func (s *Source) Watermark() time.Time { return s.mark }

// Lookback is how far before the watermark the next run starts.
func (s *Source) Lookback() time.Duration { return s.lookback }

// Next returns the next message.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	if !s.started {
		s.started = true
		s.desc = !s.since.IsZero()
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(s.buf) == 0 {
			if s.done {
				return nil, io.EOF
			}
			if err := s.fetch(ctx); err != nil {
				return nil, err
			}
			continue
		}
		raw := s.buf[0]
		s.buf = s.buf[1:]
		rec, pos, err := s.decode(raw)
		if err != nil {
			return nil, err
		}
		if s.skipTo != nil {
			// After a cursor expired the listing restarted: skip what was
			// already handed out.
			if !s.after(pos, *s.skipTo) {
				continue
			}
			s.skipTo = nil
		}
		if created, err := time.Parse(time.RFC3339Nano, pos.created); err == nil {
			if s.desc && created.Before(s.since) {
				s.done, s.buf = true, nil // newest first: the rest is older still
				return nil, io.EOF
			}
			if created.After(s.mark) {
				s.mark = created
			}
		}
		s.last = pos
		s.restarts = 0
		return rec, nil
	}
}

// after reports whether p comes after q in the listing's order.
func (s *Source) after(p, q position) bool {
	if p.created != q.created {
		return (p.created > q.created) != s.desc
	}
	return (p.id > q.id) != s.desc
}

func (s *Source) decode(raw json.RawMessage) (*msg.Record, position, error) {
	fields, err := jsonl.Decode(raw)
	var pos position
	if err != nil {
		return nil, pos, &msg.Error{Origin: msg.Origin{Source: "gorgias", ID: fmt.Sprintf("on page %d", s.page)}, Stage: msg.StageRead, Err: err}
	}
	id, _ := fields["id"].(int64)
	created, _ := fields["created_datetime"].(string)
	pos = position{created: created, id: id}
	origin := msg.Origin{Source: "gorgias", ID: strconv.FormatInt(id, 10)}
	if id == 0 {
		return nil, pos, &msg.Error{Origin: msg.Origin{Source: "gorgias", ID: fmt.Sprintf("on page %d", s.page)}, Stage: msg.StageRead, Err: errors.New("a message without an id")}
	}
	if _, err := time.Parse(time.RFC3339Nano, created); err != nil {
		return nil, pos, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: fmt.Errorf("created_datetime %q is not a time", created)}
	}
	return &msg.Record{Origin: origin, Fields: fields}, pos, nil
}

// fetch reads the next page, retrying what is worth retrying.
func (s *Source) fetch(ctx context.Context) error {
	q := url.Values{}
	q.Set("limit", strconv.Itoa(s.limit))
	q.Set("order_by", "created_datetime:asc")
	if s.desc {
		q.Set("order_by", "created_datetime:desc")
	}
	if s.cursor != "" {
		q.Set("cursor", s.cursor)
	}
	if s.ticket != 0 {
		q.Set("ticket_id", strconv.FormatInt(s.ticket, 10))
	}
	endpoint := s.base.String() + "/messages?" + q.Encode()
	var page api.Page
	err := s.client.GetJSON(ctx, endpoint, &page)
	var perm *load.PermanentError
	switch {
	case err == nil:
		s.page++
		s.buf = page.Data
		if page.Meta.NextCursor == nil || *page.Meta.NextCursor == "" {
			s.done = true
		} else {
			s.cursor = *page.Meta.NextCursor
		}
		return nil
	case errors.As(err, &perm) && strings.Contains(perm.Error(), "cursor") && s.cursor != "":
		// Cursors are short-lived: start the listing again and skip what
		// was already handed out.
		s.restarts++
		if s.restarts > maxRestarts {
			return fmt.Errorf("gorgias: cursors keep expiring before the next page is read (%d restarts): the load is too slow for the cursor's life; lower source.limit or raise the sink's rate", s.restarts-1)
		}
		slog.Warn("gorgias: the cursor expired; listing again from the start", "after_message", s.last.id)
		s.cursor = ""
		last := s.last
		s.skipTo = &last
		return nil
	}
	return fmt.Errorf("gorgias: page %d: %w", s.page+1, err)
}

// Close releases idle connections.
func (s *Source) Close() error {
	s.client.HTTP.CloseIdleConnections()
	return nil
}
