// Package superoffice is the "superoffice" source: a tenant's ticket
// messages through the OData list GET /TicketMessage ($select, $filter,
// $orderBy, $top), following odata.nextLink on the tenant's host only. An
// incremental run asks for createdAt after the watermark minus the lookback.
package superoffice

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

	api "github.com/msgmigrate/msgmigrate/api/superoffice"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/extract/vendor"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
)

func init() { extract.Register("superoffice", open) }

// Config is the superoffice source's part of a job file.
type Config struct {
	Kind string `yaml:"kind"`
	// url is the tenant's API (https://{env}.superoffice.com/{CustNNNNN}/api/v1);
	// or state_url (https://{env}.superoffice.com/api/state/{CustNNNNN})
	// names the tenant's live host.
	URL      string          `yaml:"url"`
	StateURL string          `yaml:"state_url"`
	Token    string          `yaml:"token"`     // Bearer
	Ticket   string          `yaml:"ticket"`    // SOTicket, with app_token
	AppToken string          `yaml:"app_token"` // SO-AppToken
	Top      int             `yaml:"top"`       // rows a page; default 200
	Select   []string        `yaml:"select"`    // archive columns; default api.Columns
	Since    string          `yaml:"since"`
	Lookback config.Duration `yaml:"lookback"`
	// rate (no published limit: default unlimited), burst, timeout, retry.
	vendor.HTTPConfig `yaml:",inline"`
}

// Source pages through ticket messages.
type Source struct {
	cfg      Config
	env      extract.Env
	base     *url.URL
	client   *vendor.Client
	since    time.Time
	explicit bool
	lookback time.Duration

	next    string
	started bool
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
	switch {
	case c.Token == "" && (c.Ticket == "" || c.AppToken == ""):
		return nil, fmt.Errorf("%s: superoffice needs source.token (Bearer), or source.ticket with source.app_token", sec.File)
	case c.URL == "" && c.StateURL == "":
		return nil, fmt.Errorf("%s: superoffice needs source.url (the tenant's …/api/v1) or source.state_url", sec.File)
	}
	if c.Top == 0 {
		c.Top = 200
	}
	if len(c.Select) == 0 {
		c.Select = api.Columns
	}
	client := vendor.NewClient("superoffice", c.HTTPConfig, 0, 1)
	client.ErrorText = func(body []byte) string {
		var e api.Error
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return strings.TrimSpace(e.Error + " " + e.Message)
		}
		return strings.TrimSpace(string(body))
	}
	s := &Source{cfg: c, env: env, client: client, lookback: time.Hour}
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

// Watermark is the newest createdAt handed out.
func (s *Source) Watermark() time.Time { return s.mark }

// Lookback is how far before the watermark the next run starts.
func (s *Source) Lookback() time.Duration { return s.lookback }

// resolve finds the tenant's API base, asking the state endpoint if need be.
func (s *Source) resolve(ctx context.Context) error {
	raw := s.cfg.URL
	if raw == "" {
		stateURL, err := s.env.URL(s.cfg.StateURL)
		if err != nil {
			return err
		}
		var st api.State
		if err := s.client.GetJSON(ctx, stateURL, &st); err != nil {
			return fmt.Errorf("superoffice: tenant state: %w", err)
		}
		if !st.IsRunning || st.Endpoint == "" {
			return fmt.Errorf("superoffice: the tenant is not running (state %q)", st.State)
		}
		raw = strings.TrimSuffix(st.Endpoint, "/") + "/api/v1"
	} else {
		var err error
		if raw, err = s.env.URL(raw); err != nil {
			return err
		}
	}
	u, err := load.CheckURL(raw)
	if err != nil {
		return err
	}
	s.base = u
	c := s.cfg
	s.client.Authorize = func(r *http.Request) {
		if !sameOrigin(r.URL, u) {
			return // credentials go to the tenant's host only
		}
		if c.Token != "" {
			r.Header.Set("Authorization", "Bearer "+c.Token)
			return
		}
		r.Header.Set("Authorization", "SOTicket "+c.Ticket)
		r.Header.Set("SO-AppToken", c.AppToken)
	}
	return nil
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

// Next returns the next message row.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	if !s.started {
		s.started = true
		if err := s.resolve(ctx); err != nil {
			return nil, err
		}
		q := url.Values{}
		q.Set("$select", strings.Join(s.cfg.Select, ","))
		q.Set("$orderBy", "createdAt")
		q.Set("$top", strconv.Itoa(s.cfg.Top))
		if !s.since.IsZero() {
			q.Set("$filter", fmt.Sprintf("createdAt after '%s'", s.since.UTC().Format(time.RFC3339)))
		}
		s.next = s.base.String() + "/TicketMessage?" + q.Encode()
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
			return nil, &msg.Error{Origin: msg.Origin{Source: "superoffice", ID: fmt.Sprintf("on page %d", s.page)}, Stage: msg.StageRead, Err: err}
		}
		id, _ := fields["id"].(int64)
		origin := msg.Origin{Source: "superoffice", ID: strconv.FormatInt(id, 10)}
		if id == 0 {
			origin.ID = fmt.Sprintf("on page %d", s.page)
			return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: errors.New("a row without an id (is id in source.select?)")}
		}
		created, _ := fields["createdAt"].(string)
		t, err := time.Parse(time.RFC3339Nano, created)
		if err != nil {
			return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: fmt.Errorf("createdAt %q is not a time", created)}
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
		return fmt.Errorf("superoffice: odata.nextLink %q: %w", s.next, err)
	}
	if !sameOrigin(u, s.base) {
		return fmt.Errorf("superoffice: odata.nextLink points to %s, not %s: refusing to follow it with the credentials", u.Host, s.base.Host)
	}
	var page api.Page
	if err := s.client.GetJSON(ctx, s.next, &page); err != nil {
		return fmt.Errorf("superoffice: page %d: %w", s.page+1, err)
	}
	s.page++
	s.buf = page.Value
	if page.NextLink == "" {
		s.done = true
	} else {
		s.next = page.NextLink
	}
	return nil
}

// Close releases idle connections.
func (s *Source) Close() error {
	s.client.HTTP.CloseIdleConnections()
	return nil
}
