// Package ezimanager is the "ezimanager" source, a thin adapter over
// api/ezimanager. EziManager documents no list endpoint, so the messages to
// read are named by a file of GUIDs (one a line, or a column of a CSV file);
// each is fetched with GET api/message/{guid}?deserialiseDocument=false,
// several at a time, and handed out in the file's order.
//
// A message that is not there fails alone (NOT_FOUND, naming the line of the
// ids file that names it); so does one that cannot be read after every
// attempt. A GUID listed twice is read once: its later lines are skipped as
// "listed twice" (for the first million GUIDs; past them the run's gate
// still sends a key once). The dates (createdUtc, receivedUtc, rsvpUtc) are
// handed out as instants — without an offset they are UTC, by name,
// whatever the job's timezone — and a .NET DateTime's unset value (year 1)
// is absent, as null members are.
package ezimanager

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/google/uuid"

	api "github.com/msgmigrate/msgmigrate/api/ezimanager"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/csv"
	"github.com/msgmigrate/msgmigrate/extract/jsonl"
	"github.com/msgmigrate/msgmigrate/extract/vendor"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
)

func init() { extract.Register("ezimanager", open) }

// Config is the ezimanager source's part of a job file.
type Config struct {
	Kind     string `yaml:"kind"`
	URL      string `yaml:"url"` // the site, e.g. https://au2.ezimanager.cloud/
	Email    string `yaml:"email"`
	Password string `yaml:"password"`
	// TokenHeader is how the session token is presented, "Header: prefix";
	// the vendor does not document it. Default api.DefaultTokenHeader.
	TokenHeader string `yaml:"token_header"`
	IDs         string `yaml:"ids"`        // file of GUIDs, one a line, or a CSV file
	IDsColumn   string `yaml:"ids_column"` // the CSV column holding them
	Concurrency int    `yaml:"concurrency"`
	// rate (no published limit: default unlimited), burst, timeout, retry.
	transport.Config `yaml:",inline"`
}

// DefaultConcurrency is how many messages are fetched at once by default.
const DefaultConcurrency = 4

// maxSeen bounds the GUIDs kept to skip a second listing (16 bytes each,
// about 20 MB for a million).
const maxSeen = 1 << 20

// Source fetches the messages the ids file names.
type Source struct {
	cfg    Config
	client *api.Client
	log    *slog.Logger

	ids      idReader
	idsDone  bool
	seen     map[uuid.UUID]struct{}
	window   []chan result
	loggedIn bool
	fetchCtx context.Context
	cancel   context.CancelFunc
}

var (
	_ extract.Source  = (*Source)(nil)
	_ extract.Columns = (*Source)(nil)
)

type result struct {
	rec *msg.Record
	err error
}

func open(_ context.Context, sec config.Section, env extract.Env) (extract.Source, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	u, err := vendor.BaseURL(env, c.URL, sec.File, "ezimanager", "https://au2.ezimanager.cloud/")
	if err != nil {
		return nil, err
	}
	if c.Email == "" || c.Password == "" {
		return nil, fmt.Errorf("%s: source.email and source.password are required for ezimanager (password: ${EZIMANAGER_PASSWORD})", sec.File)
	}
	if c.IDs == "" {
		return nil, fmt.Errorf("%s: source.ids is required for ezimanager: it documents no list endpoint, so name the message GUIDs in a file", sec.File)
	}
	sess, err := api.NewSession(c.TokenHeader, c.Email, c.Password)
	if err != nil {
		return nil, fmt.Errorf("%s: source.%w", sec.File, err)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	ids, err := openIDs(sec.Path(c.IDs), c.IDs, c.IDsColumn)
	if err != nil {
		return nil, err
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	hc := transport.NewClient("source ezimanager", c.Config, 0, 1, c.Concurrency, env.RateShare, log)
	return &Source{cfg: c, client: api.NewClient(hc, u, sess, log), log: log, ids: ids, seen: map[uuid.UUID]struct{}{}}, nil
}

// Columns are the Message's members.
func (s *Source) Columns() []string { return api.Fields }

// login logs in before the first fetch: a refused login stops the run at
// once (it is sent once), before any message is asked for.
func (s *Source) login(ctx context.Context) error {
	err := s.client.HTTP.Pacer.Call(ctx, func() error { return s.client.Login(ctx) })
	var e *transport.Error
	if errors.As(err, &e) && e.Code == api.LoginRefused {
		return &transport.FatalError{Service: s.client.HTTP.Pacer.Service(), Count: 1, Last: e}
	}
	return err
}

// Next returns the next message, in the ids file's order.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !s.loggedIn {
		if err := s.login(ctx); err != nil {
			return nil, err
		}
		s.loggedIn = true
		s.fetchCtx, s.cancel = context.WithCancel(ctx)
	}
	// Keep the window full: up to concurrency fetches under way.
	for len(s.window) < s.cfg.Concurrency && !s.idsDone {
		id, origin, err := s.ids.next()
		if errors.Is(err, io.EOF) {
			s.idsDone = true
			break
		}
		ch := make(chan result, 1)
		s.window = append(s.window, ch)
		switch {
		case err != nil:
			ch <- result{err: err}
		case s.listedBefore(id):
			ch <- result{err: &msg.Skip{Origin: origin, Reason: "listed twice"}}
		default:
			go func() { ch <- s.fetch(s.fetchCtx, id, origin) }()
		}
	}
	if len(s.window) == 0 {
		return nil, io.EOF
	}
	head := s.window[0]
	s.window = s.window[1:]
	select {
	case r := <-head:
		return r.rec, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// listedBefore records id and reports whether it was listed before.
func (s *Source) listedBefore(id string) bool {
	u, err := uuid.Parse(id)
	if err != nil {
		return false
	}
	if _, ok := s.seen[u]; ok {
		return true
	}
	if len(s.seen) < maxSeen {
		s.seen[u] = struct{}{}
	}
	return false
}

// fetch reads one message under the pacer: retries, 429 pauses, the
// circuit; sessions renewed by the client.
func (s *Source) fetch(ctx context.Context, id string, named msg.Origin) result {
	origin := msg.Origin{Source: "ezimanager", ID: id}
	var body []byte
	err := s.client.HTTP.Pacer.Call(ctx, func() error {
		_, resp, err := s.client.Message(ctx, id)
		if err == nil {
			body = resp.Body
		}
		return err
	})
	var e *transport.Error
	var ex *transport.ExhaustedError
	switch {
	case err == nil:
	case errors.As(err, &ex):
		// This message could not be read: it fails alone.
		return result{err: &msg.Error{Origin: origin, Stage: msg.StageRead, Code: "RETRIES_EXHAUSTED", Err: fmt.Errorf("%s names it: %w", named, err)}}
	case errors.As(err, &e) && e.Class == transport.Permanent:
		if e.Code == api.NotFound {
			return result{err: &msg.Error{Origin: origin, Stage: msg.StageRead, Code: api.NotFound, Err: fmt.Errorf("%s names a message that is not there: %w", named, err)}}
		}
		return result{err: &msg.Error{Origin: origin, Stage: msg.StageRead, Code: e.VendorCode(), Err: fmt.Errorf("%s names it: %w", named, err)}}
	default:
		return result{err: err} // a fatal answer, an outage or a stop: the run ends
	}
	fields, err := jsonl.Decode(body)
	if err != nil {
		return result{err: &msg.Error{Origin: origin, Stage: msg.StageRead, Err: err, Raw: body}}
	}
	if err := instants(fields); err != nil {
		return result{err: &msg.Error{Origin: origin, Stage: msg.StageRead, Err: err, Raw: body}}
	}
	return result{rec: &msg.Record{Origin: origin, Fields: fields}}
}

// instants turns the Message's dates into instants, leaving out a date
// never set.
func instants(fields map[string]any) error {
	for _, f := range api.TimeFields {
		v, ok := fields[f]
		if !ok {
			continue
		}
		s, isString := v.(string)
		if !isString {
			return fmt.Errorf("%s: %v is not a date", f, v)
		}
		t, set, err := api.ParseTime(s)
		switch {
		case err != nil:
			return fmt.Errorf("%s: %q is not a date", f, s)
		case !set:
			delete(fields, f)
		default:
			fields[f] = t
		}
	}
	return nil
}

// Close stops the fetches under way and closes the ids file.
func (s *Source) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.client.HTTP.CloseIdleConnections()
	return s.ids.close()
}

// idReader yields GUIDs with the origin that named them.
type idReader interface {
	next() (string, msg.Origin, error)
	close() error
}

func openIDs(path, name, column string) (idReader, error) {
	if column != "" {
		src, err := csv.Open(path, name, "", 0)
		if err != nil {
			return nil, fmt.Errorf("ezimanager ids: %w", err)
		}
		return &csvIDs{src: src, column: column}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ezimanager ids: %w", err)
	}
	return &lineIDs{f: f, sc: bufio.NewScanner(f), name: name}, nil
}

type lineIDs struct {
	f    *os.File
	sc   *bufio.Scanner
	name string
	line int
}

func (l *lineIDs) next() (string, msg.Origin, error) {
	for l.sc.Scan() {
		l.line++
		t := strings.TrimSpace(strings.TrimPrefix(l.sc.Text(), "\xEF\xBB\xBF"))
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		return checkGUID(t, msg.Origin{Source: l.name, Line: l.line})
	}
	if err := l.sc.Err(); err != nil {
		return "", msg.Origin{}, fmt.Errorf("ezimanager ids %s after line %d: %w", l.name, l.line, err)
	}
	return "", msg.Origin{}, io.EOF
}

func (l *lineIDs) close() error { return l.f.Close() }

type csvIDs struct {
	src    *csv.Source
	column string
}

func (c *csvIDs) next() (string, msg.Origin, error) {
	rec, err := c.src.Next(context.Background())
	if err != nil {
		var me *msg.Error
		if errors.As(err, &me) {
			return "", me.Origin, err
		}
		return "", msg.Origin{}, err
	}
	v, _ := rec.Fields[c.column].(string)
	if v == "" {
		return "", rec.Origin, &msg.Error{Origin: rec.Origin, Stage: msg.StageRead, Err: fmt.Errorf("column %q is empty or missing", c.column)}
	}
	return checkGUID(v, rec.Origin)
}

func (c *csvIDs) close() error { return c.src.Close() }

func checkGUID(v string, origin msg.Origin) (string, msg.Origin, error) {
	u, err := uuid.Parse(strings.Trim(strings.TrimSpace(v), "{}"))
	if err != nil {
		return "", origin, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: fmt.Errorf("%q is not a message GUID", v)}
	}
	return u.String(), origin, nil
}
