package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/msgmigrate/msgmigrate/api/gorgias"
)

// The account's bucket: calls leak at the vendor's rate, other apps' calls
// fill it too, and what it reports is what every app spent.
func TestGorgiasBucketCountsOtherApps(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &leakyBucket{size: 40, leak: 2}
	for i := range 40 {
		ok, used, _ := b.take(t0)
		require.True(t, ok)
		assert.Equal(t, i+1, used)
	}
	ok, used, wait := b.take(t0)
	assert.False(t, ok, "full")
	assert.Equal(t, 40, used)
	assert.Equal(t, 500*time.Millisecond, wait, "one call leaks in half a second")
	ok, used, _ = b.take(t0.Add(10 * time.Second))
	assert.True(t, ok)
	assert.Equal(t, 21, used, "20 calls leaked in 10 s")

	// Another app spends 1.5 of the 2 calls a second: ours, one a second,
	// would leak at once alone; together they fill the bucket, and the
	// header shows it.
	b = &leakyBucket{size: 40, leak: 2, other: 1.5}
	for i := range 80 {
		ok, used, wait = b.take(t0.Add(time.Duration(i) * time.Second))
		if i == 20 {
			assert.Equal(t, 11, used, "half a call a second more than leaks")
		}
		assert.Equal(t, i < 79, ok, "call %d", i)
	}
	assert.Equal(t, time.Second, wait, "half a call a second is left to us")
}

func gorgiasServer(t *testing.T, cfg GorgiasConfig) (*Gorgias, *httptest.Server) {
	t.Helper()
	cfg.Email, cfg.APIKey = "e", "k"
	if cfg.BucketSize == 0 {
		cfg.BucketSize, cfg.LeakPerSecond = 1000, 1000
	}
	g := NewGorgias(cfg)
	srv := httptest.NewServer(g.Handler("/api"))
	t.Cleanup(srv.Close)
	return g, srv
}

func call(t *testing.T, srv *httptest.Server, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.SetBasicAuth("e", "k")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

// Every answer says how much of the account's budget is used; a 429 says
// when to retry, spelled as the vendor spells it.
func TestGorgiasEveryAnswerCarriesTheCallLimit(t *testing.T) {
	g, srv := gorgiasServer(t, GorgiasConfig{Messages: 3, BucketSize: 2, LeakPerSecond: 0.001})
	m := g.Messages()[0]
	for i, want := range []int{200, 200, 429} {
		resp, _ := call(t, srv, "GET", fmt.Sprintf("/api/tickets/%d/messages/%d", m.TicketID, m.ID), "")
		assert.Equal(t, want, resp.StatusCode, "call %d", i)
		assert.Regexp(t, `^[12]/2$`, resp.Header.Get(api.CallLimitHeader))
		if want == 429 {
			assert.NotEmpty(t, resp.Header["Retry-After"], "Retry-after, read in any case")
		}
	}
}

// What Generate makes: the shapes a migration meets, at known places.
func TestGorgiasGeneratesWhatAMigrationMeets(t *testing.T) {
	g := NewGorgias(GorgiasConfig{Messages: 200})
	layouts := map[int]int{}
	kinds := map[string]int{}
	for _, m := range g.Messages() {
		for i, l := range gorgiasLayouts {
			if _, err := time.Parse(l, m.CreatedDatetime); err == nil {
				layouts[i]++
				break
			}
		}
		switch {
		case !m.Public && m.Channel != "internal-note":
			kinds["note on a public channel"]++
		case !m.Public:
			kinds["internal note"]++
		}
		if m.DeletedDatetime != nil {
			kinds["deleted"]++
		}
		if m.SentDatetime == nil {
			kinds["unsent"]++
		}
		if m.Channel == NewChannel {
			kinds["new channel"]++
		}
		if m.ExternalID != nil {
			kinds["external_id of another integration"]++
		}
	}
	assert.Len(t, layouts, len(gorgiasLayouts), "every layout")
	for _, k := range []string{"note on a public channel", "internal note", "deleted", "unsent", "new channel", "external_id of another integration"} {
		assert.Equal(t, 10, kinds[k], k)
	}
}

func TestGorgiasUpdateReadings(t *testing.T) {
	const body = `{"channel":"email","via":"api","from_agent":true,"external_id":"mk-1","sent_datetime":"2024-01-01T08:00:02Z"}`
	for _, reading := range []GorgiasUpdate{GorgiasPartial, GorgiasReplace} {
		t.Run(string(reading), func(t *testing.T) {
			g, srv := gorgiasServer(t, GorgiasConfig{Messages: 3, Update: reading})
			m := g.Messages()[0]
			require.NotNil(t, m.BodyText)
			resp, echo := call(t, srv, "PUT", fmt.Sprintf("/api/tickets/%d/messages/%d", m.TicketID, m.ID), body)
			require.Equal(t, 200, resp.StatusCode, string(echo))
			after, _ := g.Message(m.ID)
			assert.Equal(t, "mk-1", *after.ExternalID)
			assert.Equal(t, "2024-01-01T08:00:02.000000+00:00", *after.SentDatetime, "written back in the fake's own layout")
			if reading == GorgiasPartial {
				assert.Equal(t, m.BodyText, after.BodyText, "fields not sent are kept")
				assert.Equal(t, m.Sender, after.Sender)
			} else {
				assert.Nil(t, after.BodyText, "fields not sent are cleared")
				assert.Nil(t, after.Sender)
			}
			var got api.Message
			require.NoError(t, json.Unmarshal(echo, &got))
			assert.Equal(t, after, got, "the answer echoes the message")
			assert.Zero(t, g.Stats.Sends.Load())
		})
	}
}

// The fake is strict where the vendor's pages leave room: only writable
// fields, the required ones present, a channel the API knows or the
// message's own; an update that omits sent_datetime or asks for an action
// sends or deletes the message — counted, for tests to assert none.
func TestGorgiasUpdateIsStrict(t *testing.T) {
	g, srv := gorgiasServer(t, GorgiasConfig{Messages: 20, NoEcho: true})
	msgs := g.Messages()
	path := func(m api.Message, q string) string {
		return fmt.Sprintf("/api/tickets/%d/messages/%d%s", m.TicketID, m.ID, q)
	}
	var newCh api.Message
	for _, m := range msgs {
		if m.Channel == NewChannel {
			newCh = m
		}
	}
	m := msgs[0]
	sent := `,"sent_datetime":"2024-01-01T08:00:02Z"`
	cases := []struct {
		name, path, body string
		status           int
		answer           string
	}{
		{"unknown field", path(m, ""), `{"channel":"email","via":"api","from_agent":true,"public":false` + sent + `}`, 400, `"public":["Unknown field."]`},
		{"no via", path(m, ""), `{"channel":"email","from_agent":true` + sent + `}`, 400, `"via":["Missing data for required field."]`},
		{"unknown channel", path(m, ""), `{"channel":"telegraph","via":"api","from_agent":true` + sent + `}`, 400, `"channel"`},
		{"the message's own new channel", path(newCh, ""), `{"channel":"` + NewChannel + `","via":"api","from_agent":true` + sent + `}`, 200, `{}`},
		{"bad action", path(m, "?action=later"), `{"channel":"email","via":"api","from_agent":true` + sent + `}`, 400, "action"},
		{"missing", "/api/tickets/1/messages/999999", `{"channel":"email","via":"api","from_agent":true` + sent + `}`, 404, "not found"},
	}
	for _, c := range cases {
		resp, b := call(t, srv, "PUT", c.path, c.body)
		assert.Equal(t, c.status, resp.StatusCode, c.name)
		assert.Contains(t, string(b), c.answer, c.name)
	}
	assert.Zero(t, g.Stats.Sends.Load()+g.Stats.Deletes.Load())

	call(t, srv, "PUT", path(msgs[1], ""), `{"channel":"email","via":"api","from_agent":true}`)
	assert.EqualValues(t, 1, g.Stats.Sends.Load(), "without sent_datetime Gorgias sends it")
	call(t, srv, "PUT", path(msgs[2], "?action=force"), `{"channel":"email","via":"api","from_agent":true`+sent+`}`)
	assert.EqualValues(t, 2, g.Stats.Sends.Load())
	call(t, srv, "PUT", path(msgs[3], "?action=cancel"), `{"channel":"email","via":"api","from_agent":true`+sent+`}`)
	assert.EqualValues(t, 1, g.Stats.Deletes.Load())
	gone, _ := g.Message(msgs[3].ID)
	assert.NotNil(t, gone.DeletedDatetime)
}

// How an expired cursor is answered is a switch: the client must cope with
// each.
func TestGorgiasExpiredCursorStatus(t *testing.T) {
	for _, status := range []int{400, 404, 410, 422} {
		g, srv := gorgiasServer(t, GorgiasConfig{Messages: 5, ExpiredCursor: status})
		_, b := call(t, srv, "GET", "/api/messages?limit=2", "")
		var p api.Page
		require.NoError(t, json.Unmarshal(b, &p))
		require.NotNil(t, p.Meta.NextCursor)
		g.ExpireCursors()
		resp, b := call(t, srv, "GET", "/api/messages?limit=2&cursor="+*p.Meta.NextCursor, "")
		assert.Equal(t, status, resp.StatusCode)
		assert.True(t, bytes.Contains(b, []byte("cursor expired")))
	}
}
