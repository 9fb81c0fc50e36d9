// Package ezimanager is the "ezimanager" sink: PUT api/message/{id} with the
// camelCase Message. A PUT saves the whole message, so the current one is
// read first and the mapped fields laid over it; length limits are checked
// by the mapping compiler before anything is sent.
package ezimanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	api "github.com/msgmigrate/msgmigrate/api/ezimanager"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transport"
)

func init() { load.Register("ezimanager", open) }

// Config is the ezimanager sink's part of a job file.
type Config struct {
	load.HTTPConfig `yaml:",inline"` // url: e.g. https://au2.ezimanager.cloud/
	Email           string           `yaml:"email"`
	TokenHeader     string           `yaml:"token_header"` // default "Authorization: Bearer"
}

func open(_ context.Context, sec config.Section, env load.Env) (load.Sink, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Email == "" || c.Password == "" {
		return nil, fmt.Errorf("%s: sink.email and sink.password are required for ezimanager", sec.File)
	}
	sess, err := api.NewSession(c.TokenHeader, c.Email, c.Password)
	if err != nil {
		return nil, fmt.Errorf("%s: sink.%w", sec.File, err)
	}
	p, err := load.NewPut(env, c.HTTPConfig, transport.MessageOnly(api.ErrorText))
	if err != nil {
		return nil, err
	}
	p.Base = strings.TrimSuffix(p.Base, "/") + "/"
	p.Client.Authorize = sess.Authorize
	p.Path = func(it *msg.Item) string { return "api/message/" + url.PathEscape(it.Route[0]) }
	p.OnUnauthorized = sess.Forget
	p.Body = func(ctx context.Context, it *msg.Item) ([]byte, error) {
		if err := login(ctx, sess, p); err != nil {
			return nil, err
		}
		return merge(ctx, p, it)
	}
	p.TargetID = func(body []byte) string {
		var id string
		_ = json.Unmarshal(body, &id)
		return id
	}
	return p, nil
}

// login logs in when there is no token (yet, or since one expired). A
// refused login fails the item as the vendor's status says; one that did not
// get through is worth another attempt.
func login(ctx context.Context, sess *api.Session, p *load.Put) error {
	err := sess.Renew(ctx, p.Client.HTTP, p.Base, "")
	var le *api.LoginError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &le):
		h := http.Header{"Retry-After": {le.RetryAfter}}
		return transport.FromStatus(http.MethodPost, p.Base+"api/session/CreateToken", le.Status, h, "LOGIN", "creating a session token: "+api.ErrorText(le.Body), "", time.Now())
	default:
		return &transport.Error{Class: transport.Retry, Err: err}
	}
}

// merge reads the current message and lays the mapped fields over it.
func merge(ctx context.Context, p *load.Put, it *msg.Item) ([]byte, error) {
	body, err := p.Get(ctx, "api/message/"+url.PathEscape(it.Route[0])+"?deserialiseDocument=false", "message "+it.Route[0])
	if err != nil {
		return nil, err
	}
	var current map[string]json.RawMessage
	if err := json.Unmarshal(body, &current); err != nil {
		return nil, &transport.Error{Class: transport.Retry, Code: "UNREADABLE_ANSWER", Err: fmt.Errorf("unreadable message: %w", err)}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(it.Payload, &fields); err != nil {
		return nil, &transport.Error{Class: transport.Permanent, Code: "PAYLOAD", Err: err}
	}
	for k, v := range fields {
		current[k] = v
	}
	return json.Marshal(current)
}
