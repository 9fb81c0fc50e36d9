package superoffice_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/msgmigrate/msgmigrate/api/superoffice"
	"github.com/msgmigrate/msgmigrate/sandbox"
	"github.com/msgmigrate/msgmigrate/transport"
)

var fast = transport.Policy{MaxAttempts: 4, MaxThrottled: 5, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond,
	MaxRetryAfter: 5 * time.Millisecond, FailFast: 3, CircuitAfter: 50, Outage: time.Second}

func client(name string) *transport.Client {
	return &transport.Client{HTTP: transport.NewHTTPClient(8, 5*time.Second), Pacer: transport.NewPacer(name, 0, 1, fast, nil)}
}

func fake(t *testing.T, cfg sandbox.SuperOfficeConfig) (*sandbox.Running, *api.Client) {
	t.Helper()
	cfg.ClientID, cfg.ClientSecret, cfg.RefreshToken = "app-id", "s3cr3t-client", "r3fr3sh-t0k3n"
	fk := sandbox.Start(sandbox.Config{SuperOffice: cfg})
	t.Cleanup(fk.Close)
	base, err := url.Parse(fk.VendorURL("superoffice"))
	require.NoError(t, err)
	login := client("login")
	login.DecodeError = api.DecodeError
	auth := api.NewAuth(api.Credentials{Token: cfg.Token, RefreshToken: cfg.RefreshToken, ClientID: "app-id", ClientSecret: "s3cr3t-client",
		TokenURL: api.DefaultTokenURL("", base.String())}, login)
	return fk, api.NewClient(client("api"), auth, base, "", time.UTC)
}

// Requests that all met the same expired token renew it once between them,
// and each then succeeds.
func TestAnExpiredTokenIsRenewedOnce(t *testing.T) {
	fk, c := fake(t, sandbox.SuperOfficeConfig{Token: "first", TokenUses: 20, Messages: 3})
	id := fk.SuperOffice.Rows()[0].ID
	ctx := context.Background()
	for range 20 { // the first token's uses
		var v map[string]any
		require.NoError(t, c.GetJSON(ctx, c.EntityURL(itoa(id)), &v))
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var v map[string]any
			assert.NoError(t, c.GetJSON(ctx, c.EntityURL(itoa(id)), &v))
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, fk.SuperOffice.Stats.Tokens.Load(), "one renewal for the one stale token")
	assert.LessOrEqual(t, fk.SuperOffice.Stats.Refused.Load(), int64(8), "each request met the stale token once at most")
}

// Without an access token to start with, one is got before the first
// request; a refresh token the endpoint refuses stops the run, and no
// secret shows in the error.
func TestRenewalFromNothingAndRefusal(t *testing.T) {
	fk, c := fake(t, sandbox.SuperOfficeConfig{Messages: 1})
	var v map[string]any
	require.NoError(t, c.GetJSON(context.Background(), c.EntityURL(itoa(fk.SuperOffice.Rows()[0].ID)), &v))
	assert.EqualValues(t, 1, fk.SuperOffice.Stats.Tokens.Load())
	assert.Zero(t, fk.SuperOffice.Stats.Refused.Load())

	login := client("login")
	login.DecodeError = api.DecodeError
	bad := api.NewAuth(api.Credentials{RefreshToken: "wr0ng-r3fr3sh", ClientID: "app-id", ClientSecret: "s3cr3t-client",
		TokenURL: api.DefaultTokenURL("", c.Base.String())}, login)
	err := bad.Renew(context.Background(), "")
	var fe *transport.FatalError
	require.ErrorAs(t, err, &fe, "%v", err)
	var te *transport.Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "invalid_grant", te.Code)
	assert.Equal(t, transport.KindAuth, te.Kind)
	assert.NotContains(t, err.Error(), "wr0ng-r3fr3sh")
	assert.NotContains(t, err.Error(), "s3cr3t-client")
}

// Without a refresh token, a 401 is the credentials' failure: fatal.
func TestA401WithoutRenewalIsFatal(t *testing.T) {
	fk := sandbox.Start(sandbox.Config{SuperOffice: sandbox.SuperOfficeConfig{Token: "right", Messages: 1}})
	defer fk.Close()
	base, _ := url.Parse(fk.VendorURL("superoffice"))
	c := api.NewClient(client("api"), api.NewAuth(api.Credentials{Token: "wrong"}, client("login")), base, "", time.UTC)
	err := c.GetJSON(context.Background(), c.EntityURL("801"), new(map[string]any))
	var fe *transport.FatalError
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, fe.Error(), "refused the credentials")
	assert.NotContains(t, err.Error(), "wrong")
}

func TestDefaultTokenURL(t *testing.T) {
	assert.Equal(t, "https://online.superoffice.com/login/common/oauth/tokens",
		api.DefaultTokenURL("https://online.superoffice.com/api/state/Cust12345", "https://online2.superoffice.com/Cust12345/api/v1"))
	assert.Equal(t, "https://sod.superoffice.com/login/common/oauth/tokens", api.DefaultTokenURL("", "https://sod.superoffice.com/Cust12345/api/v1"))
	assert.Equal(t, "http://127.0.0.1:1/superoffice/login/common/oauth/tokens", api.DefaultTokenURL("", "http://127.0.0.1:1/superoffice/Cust12345/api/v1"))
}

// Every request says which language and zone it wants.
func TestHeaders(t *testing.T) {
	base, _ := url.Parse("https://sod.superoffice.com/Cust1/api/v1")
	c := api.NewClient(client("api"), api.NewAuth(api.Credentials{Token: "t"}, client("login")), base, api.TimeZoneHeader("NO", true), time.UTC)
	req, err := c.NewRequest(context.Background(), http.MethodGet, c.EntityURL("1"), nil)
	require.NoError(t, err)
	assert.Equal(t, "en", req.Header.Get("Accept-Language"))
	assert.Equal(t, "NO, includeTZOffset", req.Header.Get("SO-TimeZone"))
	assert.Equal(t, "", api.TimeZoneHeader("", true))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
