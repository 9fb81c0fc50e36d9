package ezimanager

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/msgmigrate/msgmigrate/transport"
)

// Session is an EziManager login that the concurrent requests of a source
// or a sink share: the token, how it is presented (the vendor does not say:
// token_header), and one login at a time.
//
// A token refused by the API is renewed once, however many requests met it
// (they all carried the same stale token). A token that is refused before
// any request was read with it is not a session that expired: two such in a
// row (the login works, its tokens do not) stop the run, as does a refused
// login — and neither is sent again.
type Session struct {
	email, password string
	header, prefix  string

	mu      sync.Mutex // guards what follows
	token   string
	proven  bool   // a request with token was answered by the API
	fresh   string // the last token refused before it was proven
	streak  int    // tokens in a row refused before they were proven
	fatal   *transport.Error
	loginMu sync.Mutex // one login at a time

	Logins   atomic.Int64 // CreateToken requests sent
	Refusals atomic.Int64 // answers that did not accept the session
}

// DefaultTokenHeader is how the token is presented unless token_header says
// otherwise: as a public connector run against a live tenant presents it.
const DefaultTokenHeader = "Authorization: Bearer"

// NewSession parses tokenHeader, "Header-Name: prefix" ("" means
// DefaultTokenHeader; the prefix may be empty).
func NewSession(tokenHeader, email, password string) (*Session, error) {
	if tokenHeader == "" {
		tokenHeader = DefaultTokenHeader
	}
	name, prefix, _ := strings.Cut(tokenHeader, ":")
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, " \t") {
		return nil, fmt.Errorf("token_header %q: want \"Header-Name: prefix\", e.g. %q", tokenHeader, DefaultTokenHeader)
	}
	return &Session{email: email, password: password, header: name, prefix: strings.TrimSpace(prefix)}, nil
}

// TokenHeader is the header the token goes in, and its prefix.
func (s *Session) TokenHeader() (name, prefix string) { return s.header, s.prefix }

// Token is the current token ("" before the first login).
func (s *Session) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// Present is the header value that presents token.
func (s *Session) Present(token string) string {
	if s.prefix == "" {
		return token
	}
	return s.prefix + " " + token
}

// redact keeps the password out of a message the vendor wrote (a refused
// login's answer may echo the request).
func (s *Session) redact(m string) string {
	if s.password == "" {
		return m
	}
	return strings.ReplaceAll(m, s.password, "[password]")
}

// ensure returns the token, logging in first when there is none.
func (s *Session) ensure(ctx context.Context, create func(context.Context) (string, error)) (string, error) {
	s.mu.Lock()
	tok, fatal := s.token, s.fatal
	s.mu.Unlock()
	switch {
	case fatal != nil:
		return "", fatal
	case tok != "":
		return tok, nil
	}
	return s.renew(ctx, "", create)
}

// renew logs in unless the token is no longer stale (another request
// renewed it meanwhile), and returns the token to use. A login the vendor
// refused is remembered: it is not sent again.
func (s *Session) renew(ctx context.Context, stale string, create func(context.Context) (string, error)) (string, error) {
	s.loginMu.Lock()
	defer s.loginMu.Unlock()
	s.mu.Lock()
	tok, fatal := s.token, s.fatal
	s.mu.Unlock()
	switch {
	case fatal != nil:
		return "", fatal
	case tok != stale && tok != "":
		return tok, nil
	}
	tok, err := create(ctx)
	if err != nil {
		var e *transport.Error
		if errors.As(err, &e) && e.Class == transport.Fatal && e.Status != 0 {
			s.mu.Lock()
			s.fatal = e
			s.mu.Unlock()
		}
		return "", err
	}
	s.mu.Lock()
	s.token, s.proven = tok, false
	s.mu.Unlock()
	return tok, nil
}

// accepted records that the API answered a request that carried token.
func (s *Session) accepted(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token == s.token && !s.proven {
		s.proven, s.streak, s.fresh = true, 0, ""
	}
}

// afterRefusal is told that a request carrying token was not accepted, and
// returns the token to send it again with: the one another request renewed
// to, or a new one (a login, once per stale token). refused is the answer,
// kept as the run's error when the tokens are never accepted.
func (s *Session) afterRefusal(ctx context.Context, token string, refused *transport.Error, create func(context.Context) (string, error)) (string, error) {
	s.mu.Lock()
	switch {
	case s.fatal != nil:
		defer s.mu.Unlock()
		return "", s.fatal
	case token != s.token && s.token != "":
		defer s.mu.Unlock()
		return s.token, nil // renewed meanwhile
	case token == s.token && !s.proven:
		if s.fresh != token {
			s.fresh = token
			s.streak++
		}
		if s.streak >= 2 {
			e := *refused
			e.Class, e.Kind, e.Code = transport.Fatal, transport.KindAuth, "TOKEN_REFUSED"
			e.Message = fmt.Sprintf("two session tokens in a row, each fresh from CreateToken, were not accepted (%s): the login works but its tokens do not — "+
				"check token_header (how the token is presented is undocumented; now %q) and that the account may use the API", refused.Message, s.header+": "+s.prefix)
			s.fatal = &e
			defer s.mu.Unlock()
			return "", s.fatal
		}
	}
	s.mu.Unlock()
	return s.renew(ctx, token, create)
}
