package ezimanager_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/msgmigrate/msgmigrate/api/ezimanager"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

func startFake(t *testing.T) (*sandbox.Running, string) {
	t.Helper()
	fake := sandbox.Start(sandbox.Config{EziManager: sandbox.EziManagerConfig{Email: "e", Password: "p", Messages: 1}})
	t.Cleanup(fake.Close)
	return fake, fake.VendorURL("ezimanager") + "/"
}

// Requests that all saw the same token expire log in once between them.
func TestSessionRenewsOnceForOneStaleToken(t *testing.T) {
	fake, base := startFake(t)
	s, err := api.NewSession("", "e", "p")
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Renew(ctx, http.DefaultClient, base, ""))
	stale := s.Token()
	require.NotEmpty(t, stale)

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { assert.NoError(t, s.Renew(ctx, http.DefaultClient, base, stale)) })
	}
	wg.Wait()
	assert.Equal(t, int64(2), fake.EziManager.Stats.Tokens.Load(), "the first login and one renewal")
	assert.NotEqual(t, stale, s.Token())
}

// A 401 on a request that carried an old token must not drop the new one.
func TestSessionForgetsOnlyTheTokenTheRequestPresented(t *testing.T) {
	_, base := startFake(t)
	s, err := api.NewSession("X-Session: Token", "e", "p")
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Renew(ctx, http.DefaultClient, base, ""))
	old, _ := http.NewRequest(http.MethodGet, base, nil)
	s.Authorize(old)
	assert.Equal(t, "Token "+s.Token(), old.Header.Get("X-Session"))

	require.NoError(t, s.Renew(ctx, http.DefaultClient, base, s.Token()))
	renewed := s.Token()
	s.Forget(old)
	assert.Equal(t, renewed, s.Token(), "replaced meanwhile: kept")

	current, _ := http.NewRequest(http.MethodGet, base, nil)
	s.Authorize(current)
	s.Forget(current)
	assert.Empty(t, s.Token())
}

func TestSessionLoginRefused(t *testing.T) {
	_, base := startFake(t)
	s, err := api.NewSession("", "e", "wrong")
	require.NoError(t, err)
	err = s.Renew(context.Background(), http.DefaultClient, base, "")
	var le *api.LoginError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, http.StatusUnauthorized, le.Status)
	assert.Equal(t, "Invalid email or password.", api.ErrorText(le.Body))
	assert.NotContains(t, err.Error(), "wrong", "the password stays out of errors")
	assert.Empty(t, s.Token())
}

// The token goes in the header token_header names, after its prefix.
func TestSessionTokenHeader(t *testing.T) {
	_, base := startFake(t)
	cases := map[string]struct {
		header, name, prefix string
		bad                  bool
	}{
		"default":   {"", "Authorization", "Bearer ", false},
		"no prefix": {"X-Token:", "X-Token", "", false},
		"no name":   {": Bearer", "", "", true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := api.NewSession(c.header, "e", "p")
			if c.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.NoError(t, s.Renew(context.Background(), http.DefaultClient, base, ""))
			r, _ := http.NewRequest(http.MethodGet, base, nil)
			s.Authorize(r)
			assert.Equal(t, c.prefix+s.Token(), r.Header.Get(c.name))
		})
	}
}
