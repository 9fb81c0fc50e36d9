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

	api "github.com/msgmigrate/msgmigrate/api/gorgias"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/vendor"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
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
	transport.Config `yaml:",inline"`
}

// Source pages through the messages.
type Source struct {
	vendor.Window
	base     *url.URL
	limit    int
	ticket   int64
	client   *transport.Client
	pager    vendor.Pager
	desc     bool
	started  bool
	cursor   string
	last     position  // the last message handed out
	skipTo   *position // after a restart: skip up to here
	restarts int       // listings restarted since the last message handed out
	log      *slog.Logger
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
	u, err := vendor.BaseURL(env, c.URL, sec.File, "gorgias", "https://{subdomain}.gorgias.com/api")
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
	w, err := vendor.NewWindow(sec.File, c.Since, c.Lookback)
	if err != nil {
		return nil, err
	}
	// The account's budget is 40 requests / 20 s for API keys. By default
	// the client keeps 5% below it, so that its clock and the vendor's never
	// disagree into a 429.
	client := vendor.NewClient(env, "gorgias", c.Config, 1.9, 38)
	user, key := c.Username, c.APIKey
	client.Authorize = func(r *http.Request) { r.SetBasicAuth(user, key) }
	client.DecodeError = transport.MessageOnly(api.ErrorText)
	s := &Source{Window: w, base: u, limit: c.Limit, ticket: c.TicketID, client: client, log: logOr(env.Log)}
	s.pager.Fetch = s.fetch
	return s, nil
}

// Next returns the next message.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	if !s.started {
		s.started = true
		s.desc = !s.From().IsZero()
	}
	for {
		raw, err := s.pager.Next(ctx)
		if err != nil {
			return nil, err
		}
		rec, t, err := vendor.Decode("gorgias", s.pager.Page, raw, "id", "created_datetime")
		if err != nil {
			return nil, err
		}
		pos := position{created: rec.Fields["created_datetime"].(string)}
		pos.id, _ = rec.Fields["id"].(int64)
		if s.skipTo != nil {
			// After a cursor expired the listing restarted: skip what was
			// already handed out.
			if !s.after(pos, *s.skipTo) {
				continue
			}
			s.skipTo = nil
		}
		if s.desc && t.Before(s.From()) {
			s.pager.Stop() // newest first: the rest is older still
			return nil, io.EOF
		}
		s.Saw(t)
		s.last, s.restarts = pos, 0
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

// fetch reads the next page.
func (s *Source) fetch(ctx context.Context) ([]json.RawMessage, bool, error) {
	for {
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
		var page api.Page
		err := s.client.GetJSON(ctx, s.base.String()+"/messages?"+q.Encode(), &page)
		var e *transport.Error
		switch {
		case err == nil:
			last := page.Meta.NextCursor == nil || *page.Meta.NextCursor == ""
			if !last {
				s.cursor = *page.Meta.NextCursor
			}
			return page.Data, last, nil
		case errors.As(err, &e) && e.Status == http.StatusBadRequest && s.cursor != "":
			// A 400 to a request with a cursor: the cursor expired (the
			// request is otherwise the one that worked for the last page).
			// Cursors are short-lived: start the listing again and skip
			// what was already handed out.
			s.restarts++
			if s.restarts > maxRestarts {
				return nil, false, fmt.Errorf("gorgias: cursors keep expiring before the next page is read (%d restarts): the load is too slow for the cursor's life; lower source.limit or raise the sink's rate", s.restarts-1)
			}
			s.log.Warn("gorgias: the cursor expired; listing again from the start", "after_message", s.last.id)
			s.cursor = ""
			last := s.last
			s.skipTo = &last
			continue
		}
		return nil, false, fmt.Errorf("gorgias: page %d: %w", s.pager.Page+1, err)
	}
}

// Close releases idle connections.
func (s *Source) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

func logOr(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
