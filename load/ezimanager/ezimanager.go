// Package ezimanager is the "ezimanager" sink: PUT api/message/{id} with the
// camelCase Message. A PUT saves the whole message, so the current one is
// read first and the mapped fields laid over it; length limits are checked
// by the mapping compiler before anything is sent.
package ezimanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	api "github.com/msgmigrate/msgmigrate/api/ezimanager"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
)

func init() { load.Register("ezimanager", open) }

// Config is the ezimanager sink's part of a job file.
type Config struct {
	load.HTTPConfig `yaml:",inline"` // url: e.g. https://au2.ezimanager.cloud/
	Email           string           `yaml:"email"`
	TokenHeader     string           `yaml:"token_header"` // default "Authorization: Bearer"
}

type session struct {
	mu     sync.Mutex
	token  string
	header string
	prefix string
	email  string
	pass   string
}

func open(_ context.Context, sec config.Section, env load.Env) (load.Sink, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Email == "" || c.Password == "" {
		return nil, fmt.Errorf("%s: sink.email and sink.password are required for ezimanager", sec.File)
	}
	if c.TokenHeader == "" {
		c.TokenHeader = "Authorization: Bearer"
	}
	name, prefix, _ := strings.Cut(c.TokenHeader, ":")
	p, err := load.NewPut(env, c.HTTPConfig)
	if err != nil {
		return nil, err
	}
	p.Base = strings.TrimSuffix(p.Base, "/") + "/"
	s := &session{header: strings.TrimSpace(name), prefix: strings.TrimSpace(prefix), email: c.Email, pass: c.Password}
	p.Authorize = func(r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		v := s.token
		if s.prefix != "" {
			v = s.prefix + " " + v
		}
		r.Header.Set(s.header, v)
	}
	p.Path = func(it *msg.Item) string { return "api/message/" + url.PathEscape(it.Route[0]) }
	p.OnUnauthorized = func() {
		s.mu.Lock()
		s.token = ""
		s.mu.Unlock()
	}
	p.Body = func(ctx context.Context, it *msg.Item) ([]byte, error) {
		if err := s.ensure(ctx, p); err != nil {
			return nil, err
		}
		return merge(ctx, p, it)
	}
	p.TargetID = func(body []byte) string {
		var id string
		_ = json.Unmarshal(body, &id)
		return id
	}
	p.ErrorText = api.ErrorText
	return p, nil
}

// ensure logs in when there is no token yet.
func (s *session) ensure(ctx context.Context, p *load.Put) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" {
		return nil
	}
	body, _ := json.Marshal(api.TokenRequest{Email: s.email, Password: s.pass})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Base+"api/session/CreateToken", bytes.NewReader(body))
	if err != nil {
		return &load.PermanentError{Code: "BAD_REQUEST", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.Client.Do(req)
	if err != nil {
		return &load.RetryableError{Err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return load.Classify(resp.StatusCode, "LOGIN", "creating a session token: "+p.ErrorMessage(b), resp.Header.Get("Retry-After"), time.Now())
	}
	var tok string
	if err := json.Unmarshal(b, &tok); err != nil || tok == "" {
		return &load.RetryableError{Err: errors.New("creating a session token: the answer is not a token")}
	}
	s.token = tok
	return nil
}

// merge reads the current message and lays the mapped fields over it.
func merge(ctx context.Context, p *load.Put, it *msg.Item) ([]byte, error) {
	body, err := p.Get(ctx, "api/message/"+url.PathEscape(it.Route[0])+"?deserialiseDocument=false", "message "+it.Route[0])
	if err != nil {
		return nil, err
	}
	var current map[string]json.RawMessage
	if err := json.Unmarshal(body, &current); err != nil {
		return nil, &load.RetryableError{Err: fmt.Errorf("unreadable message: %w", err)}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(it.Payload, &fields); err != nil {
		return nil, &load.PermanentError{Code: "PAYLOAD", Err: err}
	}
	for k, v := range fields {
		current[k] = v
	}
	return json.Marshal(current)
}
