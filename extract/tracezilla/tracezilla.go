// Package tracezilla is the "tracezilla" source: a team's messages, paged
// through GET /messages by following links.next_page — only ever on the
// configured origin, which is the only place the token is sent. Full runs
// read by updated_at, oldest first; incremental runs newest first, down to
// the watermark (the API has no "updated since" filter).
package tracezilla

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	api "github.com/msgmigrate/msgmigrate/api/tracezilla"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/extract/vendor"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
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
	vendor.HTTPConfig `yaml:",inline"`
}

// Source pages through a team's messages.
type Source struct {
	base     *url.URL
	client   *vendor.Client
	perPage  int
	status   string
	since    time.Time
	explicit bool
	lookback time.Duration

	started bool
	desc    bool
	next    string
	buf     []json.RawMessage
	done    bool
	page    int
	mark    time.Time
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
		return nil, fmt.Errorf("%s: source.url is required for kind tracezilla (https://app.tracezilla.com/api/v1/{team})", sec.File)
	}
	u, err := load.CheckURL(raw)
	if err != nil {
		return nil, err
	}
	if c.Token == "" {
		return nil, fmt.Errorf("%s: source.token is required for tracezilla (token: ${TRACEZILLA_TOKEN})", sec.File)
	}
	if c.PerPage == 0 {
		c.PerPage = 100
	}
	switch c.Status {
	case "", "pending", "failed", "sent":
	default:
		return nil, fmt.Errorf("%s: source.status %q: want pending, failed or sent", sec.File, c.Status)
	}
	client := vendor.NewClient("tracezilla", c.HTTPConfig, 0, 1)
	token := c.Token
	client.Authorize = func(r *http.Request) {
		// Only ever to the configured origin: a next_page link elsewhere is
		// refused before a request is made.
		if sameOrigin(r.URL, u) {
			r.Header.Set("Authorization", "Bearer "+token)
		}
	}
	client.ErrorText = func(body []byte) string {
		var e api.Error
		if json.Unmarshal(body, &e) == nil && e.Message != "" {
			return e.Message
		}
		return strings.TrimSpace(string(body))
	}
	s := &Source{base: u, client: client, perPage: c.PerPage, status: c.Status, lookback: time.Hour}
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

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

// Since starts from t unless the job named its own since.
func (s *Source) Since(t time.Time) {
	if !s.explicit && !t.IsZero() {
		s.since = t
	}
}

// Watermark is the newest updated_at handed out.
func (s *Source) Watermark() time.Time { return s.mark }

// Lookback is how far before the watermark the next run starts.
func (s *Source) Lookback() time.Duration { return s.lookback }

// Next returns the next message.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	if !s.started {
		s.started = true
		s.desc = !s.since.IsZero()
		q := url.Values{}
		q.Set("perPage", strconv.Itoa(s.perPage))
		q.Set("sortBy", "updated_at")
		q.Set("sortDirection", map[bool]string{false: "asc", true: "desc"}[s.desc])
		if s.status != "" {
			q.Set("status[eq]", s.status)
		}
		s.next = s.base.String() + "/messages?" + q.Encode()
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
		fields, err := jsonl.Decode(raw)
		if err != nil {
			return nil, &msg.Error{Origin: msg.Origin{Source: "tracezilla", ID: fmt.Sprintf("on page %d", s.page)}, Stage: msg.StageRead, Err: err}
		}
		for _, f := range api.SecretFields {
			delete(fields, f)
		}
		id, _ := fields["id"].(string)
		origin := msg.Origin{Source: "tracezilla", ID: id}
		if id == "" {
			origin.ID = fmt.Sprintf("on page %d", s.page)
			return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: errors.New("a message without an id")}
		}
		upd, _ := fields["updated_at"].(string)
		t, err := time.Parse(time.RFC3339Nano, upd)
		if err != nil {
			return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: fmt.Errorf("updated_at %q is not a time", upd)}
		}
		if s.desc && t.Before(s.since) {
			s.done, s.buf = true, nil
			return nil, io.EOF
		}
		if t.After(s.mark) {
			s.mark = t
		}
		return &msg.Record{Origin: origin, Fields: fields}, nil
	}
}

func (s *Source) fetch(ctx context.Context) error {
	u, err := url.Parse(s.next)
	if err != nil {
		return fmt.Errorf("tracezilla: next_page %q: %w", s.next, err)
	}
	if !sameOrigin(u, s.base) {
		return fmt.Errorf("tracezilla: next_page points to %s, not %s: refusing to follow it with the token", u.Host, s.base.Host)
	}
	var page api.Page
	if err := s.client.GetJSON(ctx, s.next, &page); err != nil {
		return fmt.Errorf("tracezilla: page %d: %w", s.page+1, err)
	}
	s.page++
	s.buf = page.Data
	if page.Links.NextPage == nil || *page.Links.NextPage == "" {
		s.done = true
	} else {
		s.next = *page.Links.NextPage
	}
	return nil
}

// Close releases idle connections.
func (s *Source) Close() error {
	s.client.HTTP.CloseIdleConnections()
	return nil
}
