// Package ezimanager is the "ezimanager" source. EziManager documents no
// list endpoint, so the messages to read are named by a file of GUIDs (one a
// line, or a column of a CSV file), and each is fetched with
// GET api/message/{guid}, several at a time, handed out in the file's order.
package ezimanager

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

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
	URL      string `yaml:"url"` // e.g. https://au2.ezimanager.cloud/
	Email    string `yaml:"email"`
	Password string `yaml:"password"`
	// TokenHeader is how the session token is presented, "Header: prefix";
	// the vendor does not document it. Default "Authorization: Bearer".
	TokenHeader string `yaml:"token_header"`
	IDs         string `yaml:"ids"`        // file of GUIDs, one a line, or a CSV file
	IDsColumn   string `yaml:"ids_column"` // the CSV column holding them
	Concurrency int    `yaml:"concurrency"`
	// rate (no published limit: default unlimited), burst, timeout, retry.
	transport.Config `yaml:",inline"`
}

// Source fetches the messages the ids file names.
type Source struct {
	base    string
	client  *transport.Client
	cfg     Config
	session *api.Session

	ids    idReader
	window []chan result
	fill   int
}

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
		c.Concurrency = 4
	}
	path := sec.Path(c.IDs)
	ids, err := openIDs(path, c.IDs, c.IDsColumn)
	if err != nil {
		return nil, err
	}
	s := &Source{base: strings.TrimSuffix(u.String(), "/") + "/", cfg: c, session: sess, ids: ids}
	s.client = vendor.NewClient(env, "ezimanager", c.Config, 0, 1)
	s.client.Authorize = sess.Authorize
	s.client.DecodeError = transport.MessageOnly(api.ErrorText)
	return s, nil
}

// login logs in when the token is stale ("": none yet). A login that fails
// ends the run: without a session nothing can be read.
func (s *Source) login(ctx context.Context, stale string) error {
	err := s.session.Renew(ctx, s.client.HTTP, s.base, stale)
	if le := (*api.LoginError)(nil); errors.As(err, &le) {
		err = transport.FromStatus(http.MethodPost, s.base+"api/session/CreateToken", le.Status, http.Header{"Retry-After": {le.RetryAfter}},
			"", "creating a session token: "+api.ErrorText(le.Body), "", time.Now())
	}
	if err != nil {
		return fmt.Errorf("ezimanager: %w", err)
	}
	return nil
}

// Next returns the next message, in the ids file's order.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.login(ctx, ""); err != nil { // once: then the token is not ""
		return nil, err
	}
	// Keep the window full: up to concurrency fetches under way.
	for len(s.window) < s.cfg.Concurrency {
		id, origin, err := s.ids.next()
		if errors.Is(err, io.EOF) {
			break
		}
		ch := make(chan result, 1)
		s.window = append(s.window, ch)
		if err != nil {
			ch <- result{err: err}
			continue
		}
		go func() { ch <- s.fetch(ctx, id, origin) }()
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

func (s *Source) fetch(ctx context.Context, id string, idOrigin msg.Origin) result {
	origin := msg.Origin{Source: "ezimanager", ID: id}
	var raw []byte
	err := s.client.Pacer.Call(ctx, func() error {
		for try := 0; ; try++ {
			used := s.session.Token()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"api/message/"+id+"?deserialiseDocument=false", nil)
			if err != nil {
				return &transport.Error{Class: transport.Permanent, Code: "BAD_REQUEST", Err: err}
			}
			resp, err := s.client.Do(req)
			if err != nil {
				return err
			}
			if resp.Status == http.StatusUnauthorized && try < maxRelogins {
				// Sessions expire: log in again (unless another fetch
				// already did) and ask again.
				if lerr := s.login(ctx, used); lerr != nil {
					return lerr
				}
				continue
			}
			if e := s.client.StatusError(resp); e != nil {
				if e.Status == http.StatusNotFound {
					e.Class, e.Code = transport.Permanent, "NOT_FOUND"
				}
				return e
			}
			raw = resp.Body
			return nil
		}
	})
	var e *transport.Error
	switch {
	case errors.As(err, &e) && e.Code == "NOT_FOUND":
		return result{err: &msg.Error{Origin: origin, Stage: msg.StageRead, Err: fmt.Errorf("not found (named at %s)", idOrigin)}}
	case errors.As(err, &e) && e.Class == transport.Permanent:
		return result{err: &msg.Error{Origin: origin, Stage: msg.StageRead, Err: err}}
	case err != nil:
		return result{err: err} // retries exhausted, a fatal answer or stopped: the run ends
	}
	fields, err := jsonl.Decode(raw)
	if err != nil {
		return result{err: &msg.Error{Origin: origin, Stage: msg.StageRead, Err: err}}
	}
	return result{rec: &msg.Record{Origin: origin, Fields: fields}}
}

// maxRelogins bounds how often one fetch logs in again.
const maxRelogins = 3

// Close closes the ids file.
func (s *Source) Close() error {
	s.client.CloseIdleConnections()
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
		return "", msg.Origin{}, err
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
	u, err := uuid.Parse(strings.Trim(v, "{}"))
	if err != nil {
		return "", origin, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: fmt.Errorf("%q is not a message GUID", v)}
	}
	return u.String(), origin, nil
}
