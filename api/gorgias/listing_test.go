package gorgias_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/msgmigrate/msgmigrate/api/gorgias"
	"github.com/msgmigrate/msgmigrate/sandbox"
	"github.com/msgmigrate/msgmigrate/transport"
)

var fast = transport.Policy{MaxAttempts: 4, MaxThrottled: 50, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond,
	MaxRetryAfter: 10 * time.Millisecond, FailFast: 2, CircuitAfter: 100, Outage: time.Second}

func newClient(url string, auth api.Auth) *api.Client {
	tc := &transport.Client{HTTP: transport.NewHTTPClient(2, 5*time.Second), Pacer: transport.NewPacer("source gorgias", 0, 1, fast, nil)}
	return api.NewClient(url, tc, api.Options{Auth: auth, Window: 100 * time.Millisecond, Reserve: -1})
}

func fakeClient(t *testing.T, cfg sandbox.GorgiasConfig) (*sandbox.Running, *api.Client) {
	t.Helper()
	cfg.Email, cfg.APIKey = "ops@shop.example", "k3y"
	if cfg.BucketSize == 0 {
		cfg.BucketSize, cfg.LeakPerSecond = 1000, 10000
	}
	s := sandbox.Start(sandbox.Config{Gorgias: cfg})
	t.Cleanup(s.Close)
	return s, newClient(s.VendorURL("gorgias"), api.Auth{Email: cfg.Email, APIKey: cfg.APIKey})
}

// readIDs lists to the end, expiring every cursor issued so far at the
// given reads.
func readIDs(t *testing.T, s *sandbox.Running, l *api.Listing, expireAt map[int]bool) []int64 {
	t.Helper()
	var ids []int64
	for i := 0; ; i++ {
		if expireAt[i] {
			s.Gorgias.ExpireCursors()
		}
		it, err := l.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return ids
		}
		require.NoError(t, err)
		ids = append(ids, it.ID)
	}
}

func wantIDs(s *sandbox.Running, desc bool) []int64 {
	msgs := s.Gorgias.Messages()
	ids := make([]int64, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	if desc {
		slices.Reverse(ids)
	}
	return ids
}

// However an expired cursor is answered (the vendor does not say), the
// listing starts again and hands out every message once, in order.
func TestAnExpiredCursorNeverLosesOrRepeatsAMessage(t *testing.T) {
	for _, status := range api.CursorRefused {
		for _, desc := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d desc=%v", status, desc), func(t *testing.T) {
				s, c := fakeClient(t, sandbox.GorgiasConfig{Messages: 230, ExpiredCursor: status})
				l := c.Messages(api.ListQuery{Limit: 20, Desc: desc}, nil)
				got := readIDs(t, s, l, map[int]bool{45: true, 46: true, 130: true})
				assert.Equal(t, wantIDs(s, desc), got)
				assert.Equal(t, 2, l.Restarts)
			})
		}
	}
}

// Messages created at the same instant, in an undocumented order, are
// neither lost nor repeated by a restart.
func TestARestartSkipsBySameInstantIDs(t *testing.T) {
	var calls atomic.Int64
	page := func(ids ...int) string {
		s := `{"object":"list","data":[`
		for i, id := range ids {
			if i > 0 {
				s += ","
			}
			s += fmt.Sprintf(`{"id":%d,"created_datetime":"2024-01-01T00:00:00"}`, id)
		}
		return s + `]`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		cursor := r.URL.Query().Get("cursor")
		switch {
		case n == 1:
			fmt.Fprint(w, page(1, 2)+`,"meta":{"next_cursor":"c1"}}`)
		case cursor == "c1":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"cursor expired"}`)
		default: // same instant, another order
			fmt.Fprint(w, page(2, 3, 1, 4)+`,"meta":{"next_cursor":null}}`)
		}
	}))
	defer srv.Close()
	l := newClient(srv.URL, api.Auth{AccessToken: "t"}).Messages(api.ListQuery{Limit: 2}, nil)
	var got []int64
	for {
		it, err := l.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		got = append(got, it.ID)
	}
	assert.Equal(t, []int64{1, 2, 3, 4}, got)
}

// Cursors that never last long enough end the run with an error that says
// what to do, after a bounded number of restarts.
func TestRestartsAreBounded(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Query().Get("cursor") != "" {
			w.WriteHeader(http.StatusGone)
			return
		}
		fmt.Fprint(w, `{"data":[{"id":1,"created_datetime":"2024-01-01T00:00:00Z"}],"meta":{"next_cursor":"c"}}`)
	}))
	defer srv.Close()
	l := newClient(srv.URL, api.Auth{AccessToken: "t"}).Messages(api.ListQuery{Limit: 1}, nil)
	_, err := l.Next(context.Background())
	require.NoError(t, err)
	_, err = l.Next(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cursors keep expiring")
	var e *transport.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, api.CodeCursorRefused, e.Code)
	assert.EqualValues(t, 2+2*api.MaxRestarts, calls.Load(), "each restart: the first page, then the refused cursor")
}

// A cursor the API gave before is an error, not an endless loop.
func TestARepeatedCursorIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[{"id":1,"created_datetime":"2024-01-01T00:00:00Z"}],"meta":{"next_cursor":"same"}}`)
	}))
	defer srv.Close()
	l := newClient(srv.URL, api.Auth{AccessToken: "t"}).Messages(api.ListQuery{Limit: 1}, nil)
	var err error
	for range 5 {
		if _, err = l.Next(context.Background()); err != nil {
			break
		}
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a next cursor it gave before")
}

// Empty pages that keep pointing further are an error, not an endless loop.
func TestEmptyPagesWithoutEndAreAnError(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"data":[],"meta":{"next_cursor":"c%d"}}`, n.Add(1))
	}))
	defer srv.Close()
	l := newClient(srv.URL, api.Auth{AccessToken: "t"}).Messages(api.ListQuery{Limit: 1}, nil)
	_, err := l.Next(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "empty pages in a row")
	assert.EqualValues(t, api.MaxEmptyPages+1, n.Load())
}

// Refused credentials to a request with a cursor are not an expired
// cursor: the run stops.
func TestAuthFailureWithACursorIsNotAnExpiry(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") != "" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"token expired"}`)
			return
		}
		fmt.Fprint(w, `{"data":[{"id":1,"created_datetime":"2024-01-01T00:00:00Z"}],"meta":{"next_cursor":"c"}}`)
	}))
	defer srv.Close()
	l := newClient(srv.URL, api.Auth{AccessToken: "t"}).Messages(api.ListQuery{Limit: 1}, nil)
	_, err := l.Next(context.Background())
	require.NoError(t, err)
	_, err = l.Next(context.Background())
	var fe *transport.FatalError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, transport.KindAuth, fe.Last.Kind)
	assert.Zero(t, l.Restarts)
}

// A message that cannot be read fails alone; the listing goes on.
func TestAnUnreadableMessageFailsAlone(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[{"id":1,"created_datetime":"2024-01-01T00:00:00Z"},{"subject":"no id"},
			{"id":3,"created_datetime":"last tuesday"},{"id":4,"created_datetime":"2024-01-01 00:00:04"}],"meta":{"next_cursor":null}}`)
	}))
	defer srv.Close()
	l := newClient(srv.URL, api.Auth{AccessToken: "t"}).Messages(api.ListQuery{Limit: 10}, nil)
	var ids []int64
	var bad []string
	for {
		it, err := l.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		var ie *api.ItemError
		if errors.As(err, &ie) {
			bad = append(bad, fmt.Sprintf("%d: %v", ie.ID, ie))
			continue
		}
		require.NoError(t, err)
		ids = append(ids, it.ID)
	}
	assert.Equal(t, []int64{1, 4}, ids)
	assert.Equal(t, []string{"0: a message without an id", `3: created_datetime "last tuesday" is not a datetime`}, bad)
}
