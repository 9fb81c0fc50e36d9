// Package superoffice is the "superoffice" source: a tenant's ticket
// messages, read from the TicketMessage archive and, by default, each
// message's entity — a thin adapter over api/superoffice.
//
// Reading is complete or it says so. The archive is ordered by createdAt and
// ticketMessageId (a stable order) and paged with $skip; each page after the
// first starts one row early, on a row already read: when it does not, rows
// were deleted before the position and the rows after them moved back, so
// the source steps back a page and reads again. Rows that come twice (rows
// added before the position move the rest forward) are handed out once. A
// next link that points at the page it came with is an error, not a loop.
package superoffice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bits-and-blooms/bitset"
	"golang.org/x/sync/errgroup"

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
	URL             string `yaml:"url"`
	StateURL        string `yaml:"state_url"`
	api.Credentials `yaml:",inline"`
	// TimeZone (IANA, required) is how a date without an offset is read:
	// the tenant's base time zone — which SoTimeZone should name too.
	TimeZone string `yaml:"timezone"`
	// SoTimeZone is the SO-TimeZone to ask for (a code such as NO or US-NY,
	// or an id from /api/v1/timezone); none by default.
	SoTimeZone string `yaml:"so_timezone"`
	// TZOffset asks for the offset with every date (includeTZOffset);
	// default true when so_timezone is set.
	TZOffset    *bool           `yaml:"tz_offset"`
	Top         int             `yaml:"top"`         // rows a page; default 200
	Select      []string        `yaml:"select"`      // archive columns; default api.Columns
	Expand      string          `yaml:"expand"`      // entity (default) | none
	Concurrency int             `yaml:"concurrency"` // entities read at once; default 8
	Since       string          `yaml:"since"`
	Lookback    config.Duration `yaml:"lookback"`
	// rate (no published limit: default unlimited), burst, timeout, retry.
	transport.Config `yaml:",inline"`
}

// maxStepBacks bounds how many pages back the source goes looking for a row
// it read, before it says the archive moves too fast to be read whole.
const maxStepBacks = 5

// Source reads ticket messages.
type Source struct {
	vendor.Window
	cfg    Config
	env    extract.Env
	log    *slog.Logger
	zone   *time.Location
	expand bool
	hc     *transport.Client
	login  *transport.Client
	client *api.Client

	started   bool
	done      bool
	query     string // the listing's query without $skip
	skip      int
	stepBacks int
	seen      bitset.BitSet
	seenBig   map[int64]struct{} // ids too large for the bitset
	buf       []item
	pages     int

	repeated, reread int
}

type item struct {
	rec *msg.Record
	err error
}

func open(_ context.Context, sec config.Section, env extract.Env) (extract.Source, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.Credentials.Check("source."); err != nil {
		return nil, fmt.Errorf("%s: %w", sec.File, err)
	}
	if c.URL == "" && c.StateURL == "" {
		return nil, fmt.Errorf("%s: superoffice needs source.url (the tenant's …/api/v1) or source.state_url", sec.File)
	}
	if c.TimeZone == "" {
		return nil, fmt.Errorf("%s: superoffice needs source.timezone, the tenant's base time zone (an IANA name such as Europe/Oslo): "+
			"SuperOffice writes dates without an offset, in that zone", sec.File)
	}
	zone, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("%s: source.timezone %q: %w", sec.File, c.TimeZone, err)
	}
	switch c.Expand {
	case "", "entity", "none":
	default:
		return nil, fmt.Errorf("%s: source.expand %q: want entity (read each message's entity: who wrote it) or none", sec.File, c.Expand)
	}
	if c.Top == 0 {
		c.Top = 200
	}
	if c.Top < 2 {
		return nil, fmt.Errorf("%s: source.top %d: want at least 2 (pages overlap by a row)", sec.File, c.Top)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if len(c.Select) == 0 {
		c.Select = api.Columns
	}
	for _, k := range api.KeyColumns {
		if !contains(c.Select, k) {
			c.Select = append([]string{k}, c.Select...)
		}
	}
	w, err := vendor.NewWindow(sec.File, c.Since, c.Lookback)
	if err != nil {
		return nil, err
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := transport.NewClient("source superoffice", c.Config, 0, 1, c.Concurrency, env.RateShare, env.Log)
	login := transport.NewClient("source superoffice login", c.Config, 0, 1, 1, env.RateShare, env.Log)
	login.DecodeError = api.DecodeError
	return &Source{Window: w, cfg: c, env: env, log: log, zone: zone, expand: c.Expand != "none", hc: hc, login: login}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Columns are a record's top-level fields: the selected columns' roots
// (ticket/title is row.ticket.title), the archive's PrimaryKey and
// EntityName, the entity, and the direction read from it.
func (s *Source) Columns() []string {
	cols := append(api.Roots(s.cfg.Select), "PrimaryKey", "EntityName", "direction")
	if s.expand {
		cols = append(cols, "entity")
	}
	return cols
}

// Hints say how much the archive moved while it was read.
func (s *Source) Hints() []string {
	if s.repeated == 0 && s.reread == 0 {
		return nil
	}
	return []string{fmt.Sprintf("superoffice: the archive changed while it was read: %d rows came twice (handed out once), %d times a page was read again to find where the listing was",
		s.repeated, s.reread)}
}

// resolve finds the tenant's API base, asking the state endpoint if need be.
func (s *Source) resolve(ctx context.Context) error {
	raw, stateURL := s.cfg.URL, ""
	if raw == "" {
		var err error
		if stateURL, err = s.env.URL(s.cfg.StateURL); err != nil {
			return err
		}
		var st api.State
		if err := s.login.GetJSON(ctx, stateURL, &st); err != nil {
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
	base, err := transport.CheckURL("source.url", raw)
	if err != nil {
		return err
	}
	cred := s.cfg.Credentials
	if cred.RefreshToken != "" && cred.TokenURL == "" {
		cred.TokenURL = api.DefaultTokenURL(stateURL, base.String())
	} else if cred.TokenURL != "" {
		if cred.TokenURL, err = s.env.URL(cred.TokenURL); err != nil {
			return err
		}
	}
	offset := s.cfg.TZOffset == nil || *s.cfg.TZOffset
	s.client = api.NewClient(s.hc, api.NewAuth(cred, s.login), base, api.TimeZoneHeader(s.cfg.SoTimeZone, offset), s.zone)
	q := url.Values{}
	q.Set("$select", strings.Join(s.cfg.Select, ","))
	q.Set("$orderBy", api.OrderBy)
	q.Set("$top", strconv.Itoa(s.cfg.Top))
	if from := s.From(); !from.IsZero() {
		q.Set("$filter", fmt.Sprintf("createdAt after '%s'", api.FilterDate(api.FilterFrom(from, s.zone), s.zone)))
	}
	s.query = base.String() + "/TicketMessage?" + q.Encode()
	return nil
}

// Next returns the next message.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !s.started {
		s.started = true
		if err := s.resolve(ctx); err != nil {
			s.done = true
			return nil, err
		}
	}
	for len(s.buf) == 0 {
		if s.done {
			return nil, io.EOF
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.fetch(ctx); err != nil {
			return nil, err
		}
	}
	it := s.buf[0]
	s.buf = s.buf[1:]
	if it.err != nil {
		return nil, it.err
	}
	if t, ok := it.rec.Fields["createdAt"].(time.Time); ok {
		s.Saw(t)
	}
	return it.rec, nil
}

func (s *Source) isSeen(id int64) bool {
	if id >= 0 && id < 1<<32 {
		return s.seen.Test(uint(id))
	}
	_, ok := s.seenBig[id]
	return ok
}

func (s *Source) markSeen(id int64) {
	if id >= 0 && id < 1<<32 {
		s.seen.Set(uint(id))
		return
	}
	if s.seenBig == nil {
		s.seenBig = map[int64]struct{}{}
	}
	s.seenBig[id] = struct{}{}
}

// rowID reads a row's id without decoding the rest.
func rowID(raw json.RawMessage) (int64, bool) {
	var r struct {
		ID json.RawMessage `json:"ticketMessageId"`
		PK json.RawMessage `json:"PrimaryKey"`
	}
	if json.Unmarshal(raw, &r) != nil {
		return 0, false
	}
	for _, v := range []json.RawMessage{r.ID, r.PK} {
		if n, err := strconv.ParseInt(strings.Trim(string(v), `" `), 10, 64); err == nil && n > 0 {
			return n, true
		}
	}
	return 0, false
}

// fetch reads the page at s.skip and queues its new records.
func (s *Source) fetch(ctx context.Context) error {
	page := s.query + "&$skip=" + strconv.Itoa(s.skip)
	var p api.Page
	if err := s.client.GetJSON(ctx, page, &p); err != nil {
		return fmt.Errorf("superoffice: archive page at $skip=%d: %w", s.skip, err)
	}
	s.pages++
	if p.NextLink != "" {
		if err := vendor.FollowLink("superoffice", p.NextLink, s.client.Base); err != nil {
			return err
		}
		if p.NextLink == page {
			return fmt.Errorf("superoffice: the archive's next link points at the page it came with ($skip=%d): not following it round in circles", s.skip)
		}
	}
	// A page after the first starts on the last row of the one before: if
	// that row is not one already read, rows before it were deleted and the
	// listing may have jumped over some.
	if s.skip > 0 && len(p.Value) > 0 {
		// (A first row without an id cannot say; it fails alone below.)
		if id, ok := rowID(p.Value[0]); ok && !s.isSeen(id) {
			if s.stepBacks == maxStepBacks {
				return fmt.Errorf("superoffice: the archive moved under the listing faster than it could be read (%d times back, the rows already read were not found again): the read is not complete; run again",
					maxStepBacks)
			}
			s.stepBacks++
			s.reread++
			if err := s.queue(ctx, p.Value); err != nil {
				return err
			}
			back := s.skip - s.stepBacks*s.cfg.Top
			s.log.Info("superoffice: the archive moved under the listing: reading again from an earlier page", "from_skip", s.skip, "to_skip", max(0, back))
			s.skip = max(0, back)
			return nil
		}
	}
	s.stepBacks = 0
	if err := s.queue(ctx, p.Value); err != nil {
		return err
	}
	if p.NextLink == "" {
		s.done = true
		return nil
	}
	if len(p.Value) < 2 {
		return fmt.Errorf("superoffice: the archive says there is more after $skip=%d but served %d rows: the listing cannot go on", s.skip, len(p.Value))
	}
	s.skip += len(p.Value) - 1
	return nil
}

// queue decodes a page's rows not read before and, with expand, reads their
// entities, several at a time, keeping the page's order.
func (s *Source) queue(ctx context.Context, rows []json.RawMessage) error {
	type pending struct {
		row *api.Row
		err error
		id  int64
		out item
	}
	var todo []*pending
	for _, raw := range rows {
		id, ok := rowID(raw)
		if ok && s.isSeen(id) {
			s.repeated++
			continue
		}
		if ok {
			s.markSeen(id)
		}
		p := &pending{id: id}
		p.row, p.err = api.DecodeRow(raw, s.zone)
		todo = append(todo, p)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Concurrency)
	for _, p := range todo {
		origin := msg.Origin{Source: "superoffice", ID: strconv.FormatInt(p.id, 10)}
		if p.id == 0 {
			origin.ID = fmt.Sprintf("on page %d", s.pages)
		}
		if p.err != nil {
			p.out.err = &msg.Error{Origin: origin, Stage: msg.StageRead, Err: p.err}
			continue
		}
		p.row.Fields["direction"] = api.Unknown
		rec := &msg.Record{Origin: origin, Fields: p.row.Fields}
		if !s.expand {
			p.out.rec = rec
			continue
		}
		g.Go(func() error {
			e, err := s.entity(gctx, p.row.ID)
			switch {
			case err == nil:
				rec.Fields["entity"] = e
				rec.Fields["direction"] = api.Direction(e)
				p.out.rec = rec
			case isNotFound(err):
				p.out.err = &msg.Skip{Origin: origin, Reason: "deleted"}
			case stopsTheRun(err, gctx):
				return err
			default:
				p.out.err = &msg.Error{Origin: origin, Stage: msg.StageRead, Err: fmt.Errorf("reading its entity: %w", err)}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("superoffice: reading the messages' entities: %w", err)
	}
	for _, p := range todo {
		s.buf = append(s.buf, p.out)
	}
	return nil
}

// entity reads one message's entity, with retries.
func (s *Source) entity(ctx context.Context, id int64) (map[string]any, error) {
	var e map[string]any
	err := s.hc.Pacer.Call(ctx, func() error {
		resp, err := s.client.Entity(ctx, strconv.FormatInt(id, 10))
		if err != nil {
			return err
		}
		if !json.Valid(resp.Body) {
			return transport.Unreadable(resp, errors.New("the entity is not JSON")) // cut short: worth another read
		}
		if e, err = api.DecodeEntity(resp.Body, s.zone); err != nil {
			return &transport.Error{Class: transport.Permanent, Code: "UNREADABLE_ENTITY", Message: err.Error(), Err: err}
		}
		return nil
	})
	return e, err
}

func isNotFound(err error) bool {
	var e *transport.Error
	return errors.As(err, &e) && e.Class == transport.Permanent && e.Code == "NOT_FOUND"
}

// stopsTheRun: a fatal answer, an outage or a stop ends the reading; any
// other failure costs only its record.
func stopsTheRun(err error, ctx context.Context) bool {
	var fe *transport.FatalError
	var oe *transport.OutageError
	return errors.As(err, &fe) || errors.As(err, &oe) || ctx.Err() != nil
}

// Close releases idle connections.
func (s *Source) Close() error {
	s.hc.CloseIdleConnections()
	s.login.CloseIdleConnections()
	return nil
}
