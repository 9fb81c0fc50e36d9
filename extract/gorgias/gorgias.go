// Package gorgias is the "gorgias" source: a Gorgias account's messages, a
// thin adapter over api/gorgias's listing. A full run reads oldest first;
// an incremental one (since:, or the watermark of the last complete run
// minus the lookback) reads newest first and stops at the watermark, since
// messages have no "updated since" filter.
//
// Records are the vendor's JSON objects, with their datetimes read into
// times (leniently: Gorgias writes them with and without fractions and
// offsets; one without an offset is UTC). A deleted message is skipped and
// counted (reason "deleted") unless the job says include_deleted: true.
package gorgias

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	api "github.com/msgmigrate/msgmigrate/api/gorgias"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/extract/vendor"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
)

func init() { extract.Register("gorgias", open) }

// Config is the gorgias source's part of a job file.
type Config struct {
	Kind        string          `yaml:"kind"`
	URL         string          `yaml:"url"`      // https://{subdomain}.gorgias.com/api
	Username    string          `yaml:"username"` // the account email
	APIKey      string          `yaml:"api_key"`
	AccessToken string          `yaml:"access_token"` // an OAuth2 app's token, instead of username + api_key
	Limit       int             `yaml:"limit"`        // messages a page, 1..100
	Since       string          `yaml:"since"`        // RFC 3339; overrides the watermark
	Lookback    config.Duration `yaml:"lookback"`
	TicketID    int64           `yaml:"ticket_id"`
	// IncludeDeleted reads deleted messages too (skipped by default).
	IncludeDeleted bool `yaml:"include_deleted"`
	// AccountWindow is how long the account's bucket takes to leak its
	// limit (20 s; 10 s on Enterprise); ReserveCalls how many calls of it
	// are left to the account's other apps (default a tenth).
	AccountWindow config.Duration `yaml:"account_window"`
	ReserveCalls  *int            `yaml:"reserve_calls"`
	// rate (default 95% of the account's 40 per 20 s; 80 for OAuth2),
	// burst, timeout, retry.
	transport.Config `yaml:",inline"`
}

// Source reads the messages.
type Source struct {
	vendor.Window
	client         *api.Client
	listing        *api.Listing
	q              api.ListQuery
	includeDeleted bool
	log            *slog.Logger
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
	auth := api.Auth{Email: c.Username, APIKey: c.APIKey, AccessToken: c.AccessToken}
	if err := auth.Check(sec.File, "source"); err != nil {
		return nil, err
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
	rate, burst := auth.DefaultRate()
	reserve := -1
	if c.ReserveCalls != nil {
		reserve = *c.ReserveCalls
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := api.NewClient(u.String(), vendor.NewClient(env, "gorgias", c.Config, rate, burst),
		api.Options{Auth: auth, Window: time.Duration(c.AccountWindow), Reserve: reserve, Log: log})
	return &Source{Window: w, client: client, q: api.ListQuery{Limit: c.Limit, TicketID: c.TicketID},
		includeDeleted: c.IncludeDeleted, log: log}, nil
}

// Columns are a message's documented top-level fields.
func (s *Source) Columns() []string { return api.Fields }

// Next returns the next message; a deleted one as a *msg.Skip.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	if s.listing == nil {
		s.q.Desc = !s.From().IsZero()
		s.listing = s.client.Messages(s.q, s.log)
	}
	it, err := s.listing.Next(ctx)
	var ie *api.ItemError
	switch {
	case errors.As(err, &ie):
		id := fmt.Sprintf("on page %d", ie.Page)
		if ie.ID != 0 {
			id = strconv.FormatInt(ie.ID, 10)
		}
		raw := []byte(ie.Raw)
		if len(raw) > 4<<10 {
			raw = raw[:4<<10]
		}
		return nil, &msg.Error{Origin: msg.Origin{Source: "gorgias", ID: id}, Stage: msg.StageRead, Err: ie, Raw: raw}
	case err != nil:
		return nil, err
	}
	origin := msg.Origin{Source: "gorgias", ID: strconv.FormatInt(it.ID, 10)}
	if s.q.Desc && it.Created.Before(s.From()) {
		s.listing.Stop() // newest first: the rest is older still
		return nil, io.EOF
	}
	fields, err := jsonl.Decode(it.Raw)
	if err != nil {
		return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: err}
	}
	for _, f := range api.Datetimes {
		// A datetime that does not read stays text: a mapping that uses it
		// fails that record, naming it.
		if v, ok := fields[f].(string); ok {
			if t, err := api.ParseTime(v); err == nil {
				fields[f] = t
			}
		}
	}
	fields["created_datetime"] = it.Created
	s.Saw(it.Created)
	if fields["deleted_datetime"] != nil && !s.includeDeleted {
		return nil, &msg.Skip{Origin: origin, Reason: "deleted"}
	}
	return &msg.Record{Origin: origin, Fields: fields}, nil
}

// Close releases idle connections.
func (s *Source) Close() error {
	s.client.T.CloseIdleConnections()
	return nil
}
