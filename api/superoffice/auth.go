package superoffice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/msgmigrate/msgmigrate/transport"
)

// Credentials are a connector's keys: a Bearer access token (time-limited:
// with refresh_token, client_id and client_secret it is renewed), or an
// SOTicket with the application's SO-AppToken (SuperOfficeDocs,
// docs/en/authentication/online/api.md, "Authorization header types").
type Credentials struct {
	Token        string `yaml:"token"`
	RefreshToken string `yaml:"refresh_token"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// TokenURL is the OpenID Connect token endpoint,
	// https://{env}.superoffice.com/login/common/oauth/tokens (api.md,
	// "Token endpoint"); by default on the host of state_url, or of url.
	TokenURL string `yaml:"token_url"`
	Ticket   string `yaml:"ticket"`
	AppToken string `yaml:"app_token"`
}

// Check says what is missing, naming the keys under prefix ("source.").
func (c Credentials) Check(prefix string) error {
	refresh := c.RefreshToken != "" || c.ClientID != "" || c.ClientSecret != ""
	switch {
	case refresh && (c.RefreshToken == "" || c.ClientID == "" || c.ClientSecret == ""):
		return fmt.Errorf("renewing the token needs %srefresh_token, %sclient_id and %sclient_secret together", prefix, prefix, prefix)
	case c.Token == "" && !refresh && (c.Ticket == "" || c.AppToken == ""):
		return fmt.Errorf("superoffice needs %stoken (Bearer; with %srefresh_token, %sclient_id and %sclient_secret to renew it), or %sticket with %sapp_token",
			prefix, prefix, prefix, prefix, prefix, prefix)
	}
	return nil
}

// TokenResponse is the token endpoint's answer (api.md, "Refresh tokens").
// expires_in comes as a number in the vendor's page and as a string in
// public samples: both are read.
type TokenResponse struct {
	TokenType    string          `json:"token_type"`
	AccessToken  string          `json:"access_token"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
	RefreshToken string          `json:"refresh_token,omitempty"`
	IDToken      string          `json:"id_token,omitempty"`
}

// Lifetime is expires_in as a duration (0 when absent or unreadable).
func (t TokenResponse) Lifetime() time.Duration {
	s := strings.Trim(string(t.ExpiresIn), `" `)
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n * float64(time.Second))
}

// Auth presents a connector's credentials and renews a Bearer token that
// expired: once per stale token, however many requests met it.
type Auth struct {
	cred  Credentials
	login *transport.Client // the token endpoint's client

	mu      sync.Mutex // guards token, expires, refresh
	token   string
	expires time.Time // zero: unknown
	refresh string
	renew   sync.Mutex // one renewal at a time
	now     func() time.Time
}

// NewAuth checks nothing (Credentials.Check does); login is the client the
// token endpoint is called with (its own pacer: the login host is not the
// tenant's).
func NewAuth(c Credentials, login *transport.Client) *Auth {
	return &Auth{cred: c, login: login, token: c.Token, refresh: c.RefreshToken, now: time.Now}
}

// Renewable reports whether a refused token can be renewed.
func (a *Auth) Renewable() bool { return a.cred.RefreshToken != "" && a.cred.TokenURL != "" }

// Bearer reports whether the credentials are a Bearer token.
func (a *Auth) Bearer() bool { return a.cred.Token != "" || a.cred.RefreshToken != "" }

// Token is the current access token.
func (a *Auth) Token() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.token
}

// Authorize puts the credentials on r.
func (a *Auth) Authorize(r *http.Request) {
	if a.Bearer() {
		r.Header.Set("Authorization", "Bearer "+a.Token())
		return
	}
	r.Header.Set("Authorization", "SOTicket "+a.cred.Ticket)
	r.Header.Set("SO-AppToken", a.cred.AppToken)
}

// Presented is the token r carried, for Renew.
func Presented(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// Fresh renews the token before use when there is none yet or it expires
// within half a minute, so that most requests never meet a 401.
func (a *Auth) Fresh(ctx context.Context) error {
	if !a.Renewable() {
		return nil
	}
	a.mu.Lock()
	tok, exp := a.token, a.expires
	a.mu.Unlock()
	if tok != "" && (exp.IsZero() || a.now().Add(30*time.Second).Before(exp)) {
		return nil
	}
	return a.Renew(ctx, tok)
}

// Renew gets a new access token with the refresh grant, unless the token is
// no longer stale (another request renewed it meanwhile). A refused grant
// is a *transport.Error of class Fatal (kind auth): every request would
// meet it.
func (a *Auth) Renew(ctx context.Context, stale string) error {
	if !a.Renewable() {
		return &transport.Error{Class: transport.Fatal, Kind: transport.KindAuth, Message: "the token was refused and cannot be renewed (no refresh_token)"}
	}
	a.renew.Lock()
	defer a.renew.Unlock()
	a.mu.Lock()
	current, refresh := a.token, a.refresh
	a.mu.Unlock()
	if current != stale {
		return nil
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {a.cred.ClientID},
		"client_secret": {a.cred.ClientSecret},
		"refresh_token": {refresh},
	}
	var tr TokenResponse
	err := a.login.Pacer.Call(ctx, func() error {
		// The vendor's page shows the parameters in the query; the form
		// body is OAuth's own way and keeps the secrets out of URLs (and
		// of every log that prints one).
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cred.TokenURL, strings.NewReader(form.Encode()))
		if err != nil {
			return &transport.Error{Class: transport.Permanent, Code: "BAD_REQUEST", Err: err}
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := a.login.Do(req)
		if err != nil {
			return err
		}
		if e := a.login.StatusError(resp); e != nil {
			if resp.Status == http.StatusBadRequest || resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden {
				e.Class, e.Kind = transport.Fatal, transport.KindAuth // invalid_grant, invalid_client
			}
			e.Message = "renewing the access token: " + e.Message
			return e
		}
		if err := json.Unmarshal(resp.Body, &tr); err != nil {
			return transport.Unreadable(resp, err)
		}
		if tr.AccessToken == "" {
			return transport.Unreadable(resp, errors.New("the token endpoint's answer has no access_token"))
		}
		return nil
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.token = tr.AccessToken
	a.expires = time.Time{}
	if d := tr.Lifetime(); d > 0 {
		a.expires = a.now().Add(d)
	}
	if tr.RefreshToken != "" {
		a.refresh = tr.RefreshToken // a rotating grant: the next renewal needs the new one
	}
	return nil
}

// DefaultTokenURL is the token endpoint on the environment's host: that of
// the state endpoint when there is one (it is on the environment's login
// host), else the API's.
func DefaultTokenURL(stateURL, apiURL string) string {
	for _, raw := range []string{stateURL, apiURL} {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			continue
		}
		// The fake is mounted below a prefix; a real host has none: keep
		// whatever precedes /api/state/… or /CustNNNNN/api/v1.
		p := u.Path
		if i := strings.Index(p, "/api/state/"); i >= 0 {
			p = p[:i]
		} else if i := strings.Index(p, "/api/v1"); i >= 0 {
			p = p[:i]
			if j := strings.LastIndex(p, "/"); j >= 0 {
				p = p[:j]
			}
		}
		return u.Scheme + "://" + u.Host + p + "/login/common/oauth/tokens"
	}
	return ""
}
