package ezimanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Session is an EziManager login that concurrent requests share: the token,
// how it is presented (the vendor does not document the header), and one
// login at a time. The source and the sink both use it.
type Session struct {
	email, password string
	header, prefix  string

	mu    sync.Mutex // guards token
	token string
	login sync.Mutex // one login at a time
}

// LoginError is a CreateToken answer other than 200, for the caller to
// classify (a 429 or 5xx is worth another attempt, a 401 is not).
type LoginError struct {
	Status     int
	RetryAfter string // the raw Retry-After header
	Body       []byte
}

func (e *LoginError) Error() string {
	return fmt.Sprintf("creating a session token: HTTP %d", e.Status)
}

// NewSession parses tokenHeader, "Header-Name: prefix" ("" means
// "Authorization: Bearer").
func NewSession(tokenHeader, email, password string) (*Session, error) {
	if tokenHeader == "" {
		tokenHeader = "Authorization: Bearer"
	}
	name, prefix, _ := strings.Cut(tokenHeader, ":")
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("token_header %q: want \"Header-Name: prefix\"", tokenHeader)
	}
	return &Session{email: email, password: password, header: strings.TrimSpace(name), prefix: strings.TrimSpace(prefix)}, nil
}

// Token is the current token ("" before the first login).
func (s *Session) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

func (s *Session) present(token string) string {
	if s.prefix == "" {
		return token
	}
	return s.prefix + " " + token
}

// Authorize presents the current token on r.
func (s *Session) Authorize(r *http.Request) { r.Header.Set(s.header, s.present(s.Token())) }

// Forget drops the token r presented, after the vendor refused it — unless
// another request has replaced it meanwhile.
func (s *Session) Forget(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Header.Get(s.header) == s.present(s.token) {
		s.token = ""
	}
}

// Renew logs in when the token is still stale: "" (none yet, or forgotten),
// or the token a request was refused with. Requests that saw the same token
// expire log in once between them.
func (s *Session) Renew(ctx context.Context, c *http.Client, base, stale string) error {
	s.login.Lock()
	defer s.login.Unlock()
	if s.Token() != stale {
		return nil // renewed meanwhile
	}
	body, _ := json.Marshal(TokenRequest{Email: s.email, Password: s.password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"api/session/CreateToken", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("creating a session token: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("creating a session token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return &LoginError{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After"), Body: b}
	}
	var tok string
	if err := json.Unmarshal(b, &tok); err != nil || tok == "" {
		return errors.New("creating a session token: the answer is not a token")
	}
	s.mu.Lock()
	s.token = tok
	s.mu.Unlock()
	return nil
}
