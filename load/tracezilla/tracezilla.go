// Package tracezilla is the "tracezilla" sink: PUT /messages/{id}/sent with
// sent_at and sent_note, e.g. a note naming the id a message got in the
// target of a migration.
//
// That endpoint marks a message as sent — business state, not a note — so
// the rule lives here, where every write passes, not in a mapping a user
// may replace: right before each PUT the sink reads the message as it is
// now, and writes only if tracezilla shows it as sent; a pending or failed
// one (or one without a status) is skipped by rule (reason "not sent", code
// NOT_SENT, counted) and never written.
// The PUT carries the message's own sent_at (a mapped one that differs
// fails as WOULD_CHANGE_SENT_AT unless change_sent_at: true). The answer's
// echo is checked — sent, the same sent_at, the note — and a change the
// vendor silently ignored fails as NOT_APPLIED.
package tracezilla

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	api "github.com/msgmigrate/msgmigrate/api/tracezilla"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
)

func init() { load.Register("tracezilla", open) }

// Config is the tracezilla sink's part of a job file.
type Config struct {
	load.HTTPConfig `yaml:",inline"` // url: https://app.tracezilla.com/api/v1/{team}
	Token           string           `yaml:"token"`
	// ChangeSentAt lets a mapped sent_at change when a message that is
	// sent already went out (a correction); never a message's status.
	ChangeSentAt bool `yaml:"change_sent_at"`
}

type sink struct {
	*load.Put
	api          *api.Client
	changeSentAt bool
	log          *slog.Logger
	noteOnce     sync.Once
}

func open(_ context.Context, sec config.Section, env load.Env) (load.Sink, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Token == "" {
		return nil, fmt.Errorf("%s: sink.token is required for tracezilla (token: ${TRACEZILLA_TOKEN})", sec.File)
	}
	p, err := load.NewPut(env, c.HTTPConfig, nil)
	if err != nil {
		return nil, err
	}
	base, err := transport.CheckURL("sink.url", p.Base)
	if err != nil {
		return nil, err
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &sink{Put: p, api: api.NewClient(base, c.Token, p.Client), changeSentAt: c.ChangeSentAt, log: log}
	p.Path = func(it *msg.Item) string { return api.SentPath(it.Route[0]) }
	p.Body = s.body
	p.Verify = s.verify
	p.TargetID = func(body []byte) string {
		if e, err := api.ReadEcho(body); err == nil {
			return e.ID
		}
		return ""
	}
	return s, nil
}

// body reads the message as it is now and builds the PUT from it — or
// refuses, before anything is written.
func (s *sink) body(ctx context.Context, it *msg.Item) ([]byte, error) {
	m, _, err := s.api.GetMessage(ctx, it.Route[0])
	if err != nil {
		return nil, err
	}
	if err := api.Sendable(m); err != nil {
		// Skipped by rule, and counted: never marked sent; a later run
		// checks it again (it may be sent by then).
		return nil, &load.SkipError{Reason: "not sent", Code: api.NotSent, Message: err.Error()}
	}
	return api.SentBody(m, it.Payload, s.changeSentAt)
}

// verify checks the answer's echo; an echo that cannot be read, or that
// does not show notes, is checked by reading the message back.
func (s *sink) verify(ctx context.Context, it *msg.Item, sent, answer []byte) (bool, string, error) {
	var req api.SentRequest
	if err := json.Unmarshal(sent, &req); err != nil {
		return false, "", err
	}
	id := it.Route[0]
	e, err := api.ReadEcho(answer)
	if err == nil {
		if ok, why := e.Check(id, req); !ok || e.NoteShown || req.SentNote == "" {
			return ok, why, nil
		}
	}
	_, raw, err := s.api.GetMessage(ctx, id)
	if err != nil {
		return false, "", err
	}
	back, err := api.ReadEcho(raw)
	if err != nil {
		return false, "", &transport.Error{Class: transport.Retry, Code: "UNREADABLE_ANSWER", Message: "reading message " + id + " back: " + err.Error()}
	}
	ok, why := back.Check(id, req)
	if ok && !back.NoteShown && req.SentNote != "" {
		s.noteOnce.Do(func() {
			s.log.Warn("tracezilla does not show sent_note: the notes written cannot be read back (sent_at and status were checked)")
		})
	}
	return ok, why, nil
}
