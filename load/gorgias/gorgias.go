// Package gorgias is the "gorgias" sink: PUT /api/tickets/{ticket_id}/
// messages/{id}, one message a request — for write-backs (external_id is
// the integrator's field) and corrections. A thin adapter over api/gorgias
// and load.Put.
//
// Each message is read first (GET), the mapped fields are laid over it and
// every writable field is sent back, so that the update is safe whether
// Gorgias reads it as a partial update or as a full replace (undocumented);
// the answer's echo — or the message read back — must show the mapped
// fields applied and the message intact, else the record fails as
// NOT_APPLIED. It never sends action (force sends, cancel deletes). A
// message whose external_id another integration wrote fails as CONFLICT
// unless the sink says overwrite: true; one without a sent_datetime (an
// update might send it) as UNSENT; a deleted one as DELETED.
package gorgias

import (
	"context"
	"errors"
	"fmt"
	"time"

	api "github.com/msgmigrate/msgmigrate/api/gorgias"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
)

func init() { load.Register("gorgias", open) }

// Config is the gorgias sink's part of a job file.
type Config struct {
	load.HTTPConfig `yaml:",inline"` // url: https://{sub}.gorgias.com/api; username: the account email
	APIKey          string           `yaml:"api_key"`
	AccessToken     string           `yaml:"access_token"` // an OAuth2 app's token, instead of username + api_key
	// Overwrite replaces an external_id another integration wrote.
	Overwrite     bool            `yaml:"overwrite"`
	AccountWindow config.Duration `yaml:"account_window"` // the bucket's window: 20 s, 10 s on Enterprise
	ReserveCalls  *int            `yaml:"reserve_calls"`  // calls left to the account's other apps; default a tenth
}

// Sink writes messages back.
type Sink struct {
	*load.Put
	API       *api.Client
	overwrite bool
}

type bodyKey struct{}

func open(_ context.Context, sec config.Section, env load.Env) (load.Sink, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	auth := api.Auth{Email: c.Username, APIKey: c.APIKey, AccessToken: c.AccessToken}
	if err := auth.Check(sec.File, "sink"); err != nil {
		return nil, err
	}
	if c.Rate == 0 {
		// Each message costs a read and a write (and a read back when the
		// answer does not echo it) from the account's budget.
		r, burst := auth.DefaultRate()
		c.Rate = config.Rate(r)
		if c.Burst == 0 {
			c.Burst = burst
		}
	}
	p, err := load.NewPut(env, c.HTTPConfig, api.DecodeError)
	if err != nil {
		return nil, err
	}
	reserve := -1
	if c.ReserveCalls != nil {
		reserve = *c.ReserveCalls
	}
	s := &Sink{Put: p, overwrite: c.Overwrite,
		API: api.NewClient(p.Base, p.Client, api.Options{Auth: auth, Window: time.Duration(c.AccountWindow), Reserve: reserve, Log: env.Log})}
	p.Path = func(it *msg.Item) string { return api.MessagePath(it.Route[0], it.Route[1]) } // never ?action=
	p.ProbePath = "/messages?limit=1"                                                       // a harmless read, for check
	p.Body = func(ctx context.Context, it *msg.Item) ([]byte, error) {
		b, ok := ctx.Value(bodyKey{}).([]byte)
		if !ok {
			return nil, &transport.Error{Class: transport.Permanent, Code: "BAD_REQUEST", Message: "gorgias: an update without a planned body"}
		}
		return b, nil
	}
	p.TargetID = func([]byte) string { return "" } // the route's id: see Send
	p.Verify = s.verify
	return s, nil
}

// Send updates the batch's single message: one attempt (a read, a write,
// perhaps a read back); the loader retries it whole.
func (s *Sink) Send(ctx context.Context, b *load.Batch) ([]load.ItemResult, error) {
	if len(b.Items) != 1 || len(b.Items[0].Route) != 2 {
		return s.Put.Send(ctx, b) // refuses it
	}
	it := b.Items[0]
	ticket, id := it.Route[0], it.Route[1]
	cur, err := s.API.GetOnce(ctx, ticket, id)
	var te *transport.Error
	if errors.As(err, &te) && te.Code == api.CodeNotFound {
		return []load.ItemResult{{Status: load.Failed, Code: api.CodeNotFound, Message: te.Error()}}, nil
	}
	if err != nil {
		return nil, err
	}
	up, err := api.PlanUpdate(cur, it.Payload, s.overwrite)
	var ref *api.Refusal
	if errors.As(err, &ref) {
		return []load.ItemResult{{Status: load.Failed, Code: ref.Code, Message: fmt.Sprintf("message %s of ticket %s: %s", id, ticket, ref.Message)}}, nil
	}
	if err != nil {
		return nil, err
	}
	if up.Noop {
		return []load.ItemResult{{Status: load.Loaded, TargetID: id}}, nil
	}
	res, err := s.Put.Send(context.WithValue(ctx, bodyKey{}, up.Body), b)
	for i := range res {
		if res[i].Status == load.Loaded {
			res[i].TargetID = id
		}
	}
	return res, err
}

// verify checks the answer's echo; an answer that is not the message (an
// empty acknowledgement, a body cut short) is checked by reading it back.
func (s *Sink) verify(ctx context.Context, it *msg.Item, sent, answer []byte) (bool, string, error) {
	got, err := api.DecodeObject(answer)
	if err != nil || !api.HasID(got) {
		if got, err = s.API.GetOnce(ctx, it.Route[0], it.Route[1]); err != nil {
			return false, "", err
		}
	}
	ok, why := api.Verify(sent, it.Payload, got)
	return ok, why, nil
}
