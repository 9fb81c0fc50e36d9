// Package superoffice is the "superoffice" source: a tenant's ticket
// messages through the OData list GET /TicketMessage ($select, $filter,
// $orderBy, $top), following odata.nextLink on the tenant's host only. An
// incremental run asks for createdAt after the watermark minus the lookback.
package superoffice

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	api "github.com/msgmigrate/msgmigrate/api/superoffice"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/vendor"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
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
	transport.Config `yaml:",inline"`
}

// Source pages through ticket messages.
type Source struct {
	vendor.Window
	cfg     Config
	env     extract.Env
	base    *url.URL
	client  *transport.Client
	pager   vendor.Pager
	next    string
	started bool
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
	w, err := vendor.NewWindow(sec.File, c.Since, c.Lookback)
	if err != nil {
		return nil, err
	}
	client := vendor.NewClient(env, "superoffice", c.Config, 0, 1)
	client.DecodeError = transport.MessageOnly(api.ErrorText)
	s := &Source{Window: w, cfg: c, env: env, client: client}
	s.pager.Fetch = s.fetch
	return s, nil
}

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
	u, err := transport.CheckURL("source.url", raw)
	if err != nil {
		return err
	}
	s.base = u
	c := s.cfg
	s.client.Authorize = func(r *http.Request) {
		if !vendor.SameOrigin(r.URL, u) {
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
		if from := s.From(); !from.IsZero() {
			q.Set("$filter", fmt.Sprintf("createdAt after '%s'", from.UTC().Format(time.RFC3339)))
		}
		s.next = s.base.String() + "/TicketMessage?" + q.Encode()
	}
	raw, err := s.pager.Next(ctx)
	if err != nil {
		return nil, err
	}
	rec, t, err := vendor.Decode("superoffice", s.pager.Page, raw, "id", "createdAt")
	if err != nil {
		return nil, err
	}
	s.Saw(t)
	return rec, nil
}

func (s *Source) fetch(ctx context.Context) ([]json.RawMessage, bool, error) {
	if err := vendor.FollowLink("superoffice", s.next, s.base); err != nil {
		return nil, false, err
	}
	var page api.Page
	if err := s.client.GetJSON(ctx, s.next, &page); err != nil {
		return nil, false, fmt.Errorf("superoffice: page %d: %w", s.pager.Page+1, err)
	}
	if page.NextLink == "" {
		return page.Value, true, nil
	}
	s.next = page.NextLink
	return page.Value, false, nil
}

// Close releases idle connections.
func (s *Source) Close() error {
	s.client.CloseIdleConnections()
	return nil
}
