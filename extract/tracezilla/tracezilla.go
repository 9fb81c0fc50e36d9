// Package tracezilla is the "tracezilla" source: a team's messages, paged
// through GET /messages by following links.next_page — only ever on the
// configured origin, which is the only place the token is sent. Full runs
// read by updated_at, oldest first; incremental runs newest first, down to
// the watermark (the API has no "updated since" filter).
package tracezilla

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	api "github.com/msgmigrate/msgmigrate/api/tracezilla"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
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
	base    *url.URL
	client  *transport.Client
	perPage int
	status  string
	pager   vendor.Pager
	next    string
	desc    bool
	started bool
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
	switch c.Status {
	case "", "pending", "failed", "sent":
	default:
		return nil, fmt.Errorf("%s: source.status %q: want pending, failed or sent", sec.File, c.Status)
	}
	w, err := vendor.NewWindow(sec.File, c.Since, c.Lookback)
	if err != nil {
		return nil, err
	}
	client := vendor.NewClient(env, "tracezilla", c.Config, 0, 1)
	token := c.Token
	client.Authorize = func(r *http.Request) {
		if vendor.SameOrigin(r.URL, u) {
			r.Header.Set("Authorization", "Bearer "+token)
		}
	}
	client.DecodeError = transport.MessageOnly(api.ErrorText)
	s := &Source{Window: w, base: u, client: client, perPage: c.PerPage, status: c.Status}
	s.pager.Fetch = s.fetch
	return s, nil
}

// Next returns the next message.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	if !s.started {
		s.started = true
		s.desc = !s.From().IsZero()
		q := url.Values{}
		q.Set("perPage", strconv.Itoa(s.perPage))
		q.Set("sortBy", "updated_at")
		q.Set("sortDirection", map[bool]string{false: "asc", true: "desc"}[s.desc])
		if s.status != "" {
			q.Set("status[eq]", s.status)
		}
		s.next = s.base.String() + "/messages?" + q.Encode()
	}
	raw, err := s.pager.Next(ctx)
	if err != nil {
		return nil, err
	}
	rec, t, err := vendor.Decode("tracezilla", s.pager.Page, raw, "id", "updated_at")
	if err != nil {
		return nil, err
	}
	for _, f := range api.SecretFields {
		delete(rec.Fields, f)
	}
	if s.desc && t.Before(s.From()) {
		s.pager.Stop() // newest first: the rest is older still
		return nil, io.EOF
	}
	s.Saw(t)
	return rec, nil
}

func (s *Source) fetch(ctx context.Context) ([]json.RawMessage, bool, error) {
	if err := vendor.FollowLink("tracezilla", s.next, s.base); err != nil {
		return nil, false, err
	}
	var page api.Page
	if err := s.client.GetJSON(ctx, s.next, &page); err != nil {
		return nil, false, fmt.Errorf("tracezilla: page %d: %w", s.pager.Page+1, err)
	}
	if page.Links.NextPage == nil || *page.Links.NextPage == "" {
		return page.Data, true, nil
	}
	s.next = *page.Links.NextPage
	return page.Data, false, nil
}

// Close releases idle connections.
func (s *Source) Close() error {
	s.client.CloseIdleConnections()
	return nil
}
