package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/msgmigrate/msgmigrate/api/ezimanager"
)

type eziTest struct {
	t     *testing.T
	s     *Running
	base  string
	token string
}

func startEzi(t *testing.T, cfg EziManagerConfig) *eziTest {
	cfg.Email, cfg.Password = "e@x", "p"
	if cfg.Messages == 0 {
		cfg.Messages = 5
	}
	s := Start(Config{EziManager: cfg})
	t.Cleanup(s.Close)
	e := &eziTest{t: t, s: s, base: s.VendorURL("ezimanager")}
	resp, b := e.do("POST", "api/session/CreateToken", `{"email":"e@x","password":"p"}`, nil)
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	e.token, _ = api.ParseToken(b)
	require.NotEmpty(t, e.token)
	return e
}

func (e *eziTest) do(method, path, body string, hdr map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (e *eziTest) get(id string) map[string]any {
	resp, b := e.do("GET", "api/message/"+id+"?deserialiseDocument=false", "", nil)
	require.Equal(e.t, 200, resp.StatusCode, "%s", b)
	var m map[string]any
	require.NoError(e.t, json.Unmarshal(b, &m))
	return m
}

// Every reading of a session the fake does not accept, by status, Location
// and content type — as a client must tell them.
func TestEziManagerExpiryReadings(t *testing.T) {
	cases := map[EziExpiry]func(*testing.T, *http.Response){
		EziExpiry401: func(t *testing.T, r *http.Response) { assert.Equal(t, 401, r.StatusCode) },
		EziExpiry403: func(t *testing.T, r *http.Response) { assert.Equal(t, 403, r.StatusCode) },
		EziExpiryRedirect: func(t *testing.T, r *http.Response) {
			assert.Equal(t, 302, r.StatusCode)
			assert.True(t, strings.HasPrefix(r.Header.Get("Location"), "/ezimanager/Account/Login?ReturnUrl="), r.Header.Get("Location"))
		},
		EziExpiryLoginPage: func(t *testing.T, r *http.Response) {
			assert.Equal(t, 200, r.StatusCode)
			assert.Equal(t, "text/html; charset=utf-8", r.Header.Get("Content-Type"))
		},
	}
	for reading, check := range cases {
		e := startEzi(t, EziManagerConfig{Expiry: reading, TokenUses: 1})
		id := e.s.EziManager.IDs()[0]
		e.get(id)
		resp, _ := e.do("GET", "api/message/"+id+"?deserialiseDocument=false", "", nil)
		check(t, resp) // expired after one use
		old := e.token
		e.do("POST", "api/session/CreateToken", `{"email":"e@x","password":"p"}`, map[string]string{"Authorization": ""})
		e.token = old
		resp, _ = e.do("GET", "api/message/"+id+"?deserialiseDocument=false", "", nil)
		check(t, resp) // a later login ends the session before it
		e.token = ""
		resp, _ = e.do("GET", "api/message/"+id+"?deserialiseDocument=false", "", nil)
		check(t, resp) // none
	}
}

// A PUT saves the whole message: what it leaves out is cleared — so a
// client must send back what it read. A documentObject replaces the
// document; a date with an offset, an unknown member, an answer not in JSON
// are refused.
func TestEziManagerPutIsStrict(t *testing.T) {
	e := startEzi(t, EziManagerConfig{})
	id := e.s.EziManager.IDs()[0]
	resp, b := e.do("PUT", "api/message/"+id, `{"priority":3}`, nil)
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	m, _ := e.s.EziManager.Message(id)
	assert.Equal(t, 3, m.Priority)
	assert.Empty(t, m.Sender, "cleared")
	assert.Empty(t, m.Document, "cleared")
	assert.Nil(t, m.External, "cleared (relations saved)")

	resp, _ = e.do("PUT", "api/message/"+id, `{"document":"kept?","documentObject":{"$id":"2"}}`, nil)
	require.Equal(t, 200, resp.StatusCode)
	m, _ = e.s.EziManager.Message(id)
	assert.Equal(t, `{"$id":"2"}`, m.Document, "rebuilt from documentObject")

	for body, status := range map[string]int{
		`{"createdUtc":"2024-01-01T00:00:00Z"}`:                400,
		`{"createdUtc":"2024-01-01T00:00:00+00:00"}`:           400,
		`{"priority":1,"colour":"red"}`:                        400,
		`{"identifierGuid":"` + e.s.EziManager.IDs()[1] + `"}`: 400,
		`{"sender":"` + strings.Repeat("x", 256) + `"}`:        400,
	} {
		resp, b := e.do("PUT", "api/message/"+id, body, nil)
		assert.Equal(t, status, resp.StatusCode, "%s: %s", body, b)
	}
	resp, _ = e.do("GET", "api/message/"+id+"?deserialiseDocument=false", "", map[string]string{"Accept": "application/xml"})
	assert.Equal(t, 406, resp.StatusCode)
	resp, _ = e.do("GET", "api/message/"+id, "", nil)
	assert.Equal(t, 400, resp.StatusCode, "deserialiseDocument=false is asked for")
	resp, _ = e.do("PUT", "api/message/"+id, `{}`, map[string]string{"Content-Type": "text/plain"})
	assert.Equal(t, 415, resp.StatusCode)
}

// The relations: saved, ignored by a PUT (200, unchanged), or not loaded
// (null) and ignored.
func TestEziManagerRelationReadings(t *testing.T) {
	for reading, wantLoaded := range map[EziRelations]bool{EziRelationsSaved: true, EziRelationsIgnored: true, EziRelationsNotLoaded: false} {
		e := startEzi(t, EziManagerConfig{Relations: reading, ZeroTimes: true})
		id := e.s.EziManager.IDs()[0]
		before, _ := e.s.EziManager.Message(id)
		m := e.get(id)
		assert.Equal(t, wantLoaded, m["storeName"] != nil, "reading %d", reading)
		assert.Nil(t, m["documentObject"])
		if before.RsvpUtc == nil {
			assert.Equal(t, "0001-01-01T00:00:00", m["rsvpUtc"], "unset, as a .NET DateTime's default")
		}
		m["external"], m["storeName"] = true, "Elsewhere"
		body, _ := json.Marshal(m)
		resp, b := e.do("PUT", "api/message/"+id, string(body), nil)
		require.Equal(t, 200, resp.StatusCode, "%s", b)
		after, _ := e.s.EziManager.Message(id)
		if reading == EziRelationsSaved {
			assert.Equal(t, "Elsewhere", *after.StoreName)
			assert.True(t, *after.External)
			continue
		}
		assert.Equal(t, before, after, "reading %d: 200, and nothing changed", reading)
	}
}

func TestEziManagerLogin(t *testing.T) {
	e := startEzi(t, EziManagerConfig{TokenObject: true, LoginRefusal: 403})
	resp, b := e.do("POST", "api/session/CreateToken", `{"email":"e@x","password":"p"}`, nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, string(b), `"token":`)
	resp, b = e.do("POST", "api/session/CreateToken", `{"email":"e@x","password":"no"}`, nil)
	assert.Equal(t, 403, resp.StatusCode)
	assert.Contains(t, string(b), "Invalid email or password.")
	resp, _ = e.do("POST", "api/session/CreateToken", `{"email":"e@x","password":"p","persistent":true,"platform":"x"}`, nil)
	assert.Equal(t, 200, resp.StatusCode, "every member the page lists")
	resp, _ = e.do("POST", "api/session/CreateToken", `{"email":"e@x","password":"p","pin":1}`, nil)
	assert.Equal(t, 400, resp.StatusCode)
}
