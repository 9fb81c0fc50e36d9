package ezimanager

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	api "github.com/msgmigrate/msgmigrate/api/ezimanager"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/load/loadtest"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/sandbox"
	"github.com/msgmigrate/msgmigrate/transport"
)

func start(t *testing.T, cfg sandbox.EziManagerConfig) *sandbox.Running {
	t.Helper()
	cfg.Email, cfg.Password = "ops@store.example", "pa55"
	if cfg.Messages == 0 {
		cfg.Messages = 20
	}
	fake := sandbox.Start(sandbox.Config{EziManager: cfg})
	t.Cleanup(fake.Close)
	return fake
}

func openSink(t *testing.T, url, extra string) *Sink {
	t.Helper()
	if !strings.Contains(extra, "retry:") {
		extra += "retry: {base_delay: 1ms, max_delay: 5ms}\n"
	}
	s, err := openSection(t, "url: "+url+"\nemail: ops@store.example\npassword: pa55\n"+extra)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s.(*Sink)
}

func openSection(t *testing.T, text string) (load.Sink, error) {
	t.Helper()
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("kind: ezimanager\n"+text), &node))
	return open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, load.Env{})
}

func item(id, payload string) *load.Batch {
	return loadtest.Items(msg.Route{id}, 1, func(int) (string, []byte) { return "ezimanager:" + id, []byte(payload) })
}

// send makes attempts as the loader does, until one is not worth another.
func send(t *testing.T, s *Sink, b *load.Batch) load.ItemResult {
	t.Helper()
	var res []load.ItemResult
	err := s.Pacer().Call(context.Background(), func() error {
		var err error
		res, err = s.Send(context.Background(), b)
		return err
	})
	require.NoError(t, err)
	require.Len(t, res, 1)
	return res[0]
}

func TestConformance(t *testing.T) {
	fake := start(t, sandbox.EziManagerConfig{Messages: 2})
	id := fake.EziManager.IDs()[0]
	loadtest.Run(t, loadtest.Fixture{
		Open: func(t *testing.T) load.Sink { return openSink(t, fake.VendorURL("ezimanager"), "") },
		Batch: func() *load.Batch {
			return loadtest.Items(msg.Route{id}, 2, func(int) (string, []byte) { return "k", []byte(`{"priority":3}`) })
		},
	})
}

// Under every reading of the relations, and of an expired session: a
// mapped member that is not a relation is written; a relation is written
// where the vendor saves it and fails as NOT_APPLIED where it does not —
// and nothing else in the message changes, the document above all (the PUT
// saves the whole message: the fake clears what it is not sent).
func TestWriteBackUnderEveryReading(t *testing.T) {
	for rname, relations := range sandbox.EziRelationsReadings {
		for ename, expiry := range sandbox.EziExpiryReadings {
			t.Run(rname+"/"+ename, func(t *testing.T) {
				fake := start(t, sandbox.EziManagerConfig{Relations: relations, Expiry: expiry, ZeroTimes: relations == sandbox.EziRelationsIgnored, TokenUses: 7})
				s := openSink(t, fake.VendorURL("ezimanager"), "")
				for i, id := range fake.EziManager.IDs()[:8] {
					before, _ := fake.EziManager.Message(id)
					external := before.External == nil || !*before.External
					payload := fmt.Sprintf(`{"priority":%d,"external":%v}`, before.Priority%3+1, external)
					if i%2 == 0 {
						payload = fmt.Sprintf(`{"priority":%d,"rsvpUtc":"2025-01-02T03:04:05.1234567"}`, before.Priority%3+1)
					}
					res := send(t, s, item(id, payload))
					after, _ := fake.EziManager.Message(id)

					want := before
					want.Priority = before.Priority%3 + 1
					if i%2 == 0 {
						want.RsvpUtc = ptr("2025-01-02T03:04:05.1234567")
					} else if relations == sandbox.EziRelationsSaved {
						want.External = &external
					}
					assert.Equal(t, want, after, "message %s: what was mapped, nothing else", id)
					if i%2 == 1 && relations != sandbox.EziRelationsSaved {
						assert.Equal(t, load.Failed, res.Status)
						assert.Equal(t, load.NotApplied, res.Code)
						assert.Contains(t, res.Message, "external: wants "+fmt.Sprint(external))
						assert.Contains(t, res.Message, "may not always be loaded or used for updates")
						continue
					}
					assert.Equal(t, load.Loaded, res.Status, "%s %s", res.Code, res.Message)
					assert.Equal(t, id, res.TargetID)
					assert.Equal(t, 1, fake.EziManager.Saves(id))
				}
			})
		}
	}
}

func ptr[T any](v T) *T { return &v }

// A message that already holds the mapped values is not written again: a
// rerun, or an attempt after an answer that was lost.
func TestAlreadySoIsNotWritten(t *testing.T) {
	fake := start(t, sandbox.EziManagerConfig{})
	s := openSink(t, fake.VendorURL("ezimanager"), "")
	id := fake.EziManager.IDs()[0]
	for _, route := range []string{id, strings.ToUpper(id), "{" + id + "}"} { // however the route spells the GUID
		res := send(t, s, item(route, `{"sender":"Front desk","createdUtc":"2024-04-02T06:00:00.5"}`))
		assert.Equal(t, load.Loaded, res.Status, res.Message)
		assert.Equal(t, id, res.TargetID)
	}
	assert.Equal(t, 1, fake.EziManager.Saves(id))
	m, _ := fake.EziManager.Message(id)
	assert.Equal(t, "Front desk", m.Sender)
	assert.Equal(t, "2024-04-02T06:00:00.5", m.CreatedUtc)
}

// With faults on — 429s, 5xx, drops, answers cut short after the message
// was saved — every write lands once and is verified.
func TestFaults(t *testing.T) {
	fake := start(t, sandbox.EziManagerConfig{Messages: 40, TokenUses: 15, Faults: sandbox.Faults{ServerError: 0.1, Drop: 0.05, Throttle: 0.05, Garble: 0.1, Seed: 9}})
	s := openSink(t, fake.VendorURL("ezimanager"), "retry: {max_attempts: 20, base_delay: 1ms, max_delay: 2ms}\n")
	var wg sync.WaitGroup
	for _, id := range fake.EziManager.IDs() {
		wg.Go(func() {
			res := send(t, s, item(id, `{"sender":"Migrated"}`))
			assert.Equal(t, load.Loaded, res.Status, "%s %s", res.Code, res.Message)
			assert.Equal(t, 1, fake.EziManager.Saves(id), "written once")
		})
	}
	wg.Wait()
	assert.Positive(t, fake.EziManager.Stats.Faulted.Load())
}

// site is an EziManager site whose PUT the test decides, for what the fake
// does not do: change a member it was not sent, answer another id.
type site struct {
	mu      sync.Mutex
	message map[string]any
	put     func(sent map[string]any) (stored map[string]any, answer string)
	sent    []map[string]any
}

func (st *site) start(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/session/CreateToken", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `"tok"`) })
	mux.HandleFunc("GET /api/message/{id}", func(w http.ResponseWriter, r *http.Request) {
		st.mu.Lock()
		defer st.mu.Unlock()
		json.NewEncoder(w).Encode(st.message)
	})
	mux.HandleFunc("PUT /api/message/{id}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var sent map[string]any
		require.NoError(t, json.Unmarshal(b, &sent))
		st.mu.Lock()
		defer st.mu.Unlock()
		st.sent = append(st.sent, sent)
		var answer string
		st.message, answer = st.put(sent)
		json.NewEncoder(w).Encode(answer)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

const siteID = "d47f7b53-7ad0-408b-8d28-51ae4113690b"

// The seed's sample message, with its document deserialised.
func sample() map[string]any {
	var m map[string]any
	_ = json.Unmarshal([]byte(`{"identifier":"U3t/1NB6i0CNKFGuQRNpCw==","identifierGuid":"d47f7b53-7ad0-408b-8d28-51ae4113690b","priority":2,
	  "createdUtc":"2026-04-03T06:24:56.0314369","receivedUtc":"2026-04-03T06:24:56.0314369","rsvpUtc":"2026-04-03T06:24:56.0314369",
	  "sender":"sample string 4","action":1,"documentObject":{"$id":"2"},"document":"<p>sample &amp; string 6</p>","documentType":"sample string 7",
	  "external":true,"stores":[1,2],"storeName":"sample string 9","operators":["7481e78c-4ef7-4bd2-b7fa-183191b13117"],
	  "users":["sample string 1"],"machines":["sample string 1"]}`), &m)
	return m
}

// documentObject is never sent (the vendor could rebuild the document from
// it); every other member goes back byte for byte, markup included.
func TestThePutCarriesTheMessageAsRead(t *testing.T) {
	st := &site{message: sample(), put: func(sent map[string]any) (map[string]any, string) { return sent, siteID }}
	s := openSink(t, st.start(t), "")
	res := send(t, s, item(siteID, `{"priority":3}`))
	assert.Equal(t, load.Loaded, res.Status, res.Message)
	require.Len(t, st.sent, 1)
	want := sample()
	delete(want, "documentObject")
	want["priority"] = float64(3)
	assert.Equal(t, want, st.sent[0])
}

// A member the write was not meant to change that changed fails the
// record, naming it; an answer naming another message fails it too.
func TestWhatTheWriteWasNotMeantToChange(t *testing.T) {
	st := &site{message: sample(), put: func(sent map[string]any) (map[string]any, string) {
		sent["document"] = "sample string 6" // the markup stripped
		return sent, siteID
	}}
	res := send(t, openSink(t, st.start(t), ""), item(siteID, `{"priority":3}`))
	assert.Equal(t, load.Failed, res.Status)
	assert.Equal(t, OtherFieldsChanged, res.Code)
	assert.Contains(t, res.Message, `document: wants "<p>sample &amp; string 6</p>", the message has "sample string 6"`)

	st = &site{message: sample(), put: func(sent map[string]any) (map[string]any, string) {
		return sample(), "e58a472f-1779-4045-8c58-073bb861d589"
	}}
	res = send(t, openSink(t, st.start(t), ""), item(siteID, `{"priority":3}`))
	assert.Equal(t, "UNEXPECTED_ID", res.Code)
	assert.Contains(t, res.Message, "saying it saved message e58a472f-1779-4045-8c58-073bb861d589")
}

// A date that comes back within a SQL Server datetime's precision is the
// date written; one that does not is not.
func TestDatesAreComparedAsInstants(t *testing.T) {
	for stored, applied := range map[string]bool{"2025-01-02T03:04:05.123": true, "2025-01-02T03:04:05.1233333+00:00": true, "2025-01-02T03:04:05.2": false} {
		st := &site{message: sample(), put: func(sent map[string]any) (map[string]any, string) {
			sent["rsvpUtc"] = stored
			return sent, siteID
		}}
		res := send(t, openSink(t, st.start(t), ""), item(siteID, `{"rsvpUtc":"2025-01-02T03:04:05.1234567"}`))
		assert.Equal(t, applied, res.Status == load.Loaded, "%s: %s %s", stored, res.Code, res.Message)
	}
}

// A message that is not there, or refused to the account, fails alone.
func TestMissingAndForbiddenMessagesFailAlone(t *testing.T) {
	ids := sandbox.NewEziManager(sandbox.EziManagerConfig{Messages: 3}).IDs()
	fake := start(t, sandbox.EziManagerConfig{Messages: 3, Forbidden: []string{ids[1]}})
	s := openSink(t, fake.VendorURL("ezimanager"), "")
	require.Equal(t, load.Loaded, send(t, s, item(ids[0], `{"priority":3}`)).Status)
	res := send(t, s, item(ids[1], `{"priority":3}`))
	assert.Equal(t, api.Forbidden, res.Code)
	res = send(t, s, item("00000000-0000-0000-0000-000000000000", `{"priority":3}`))
	assert.Equal(t, api.NotFound, res.Code)
	assert.Contains(t, res.Message, "message 00000000-0000-0000-0000-000000000000: No message found")
}

// check's probe writes nothing and tells a refused login.
func TestProbe(t *testing.T) {
	fake := start(t, sandbox.EziManagerConfig{})
	what, err := openSink(t, fake.VendorURL("ezimanager"), "").Probe(context.Background())
	require.NoError(t, err)
	assert.Contains(t, what, "session accepted")
	assert.Zero(t, fake.EziManager.Stats.Puts.Load())

	s, err := openSection(t, "url: "+fake.VendorURL("ezimanager")+"\nemail: ops@store.example\npassword: nope\n")
	require.NoError(t, err)
	_, err = s.(load.Prober).Probe(context.Background())
	var fe *transport.FatalError
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, err.Error(), "refused the credentials")
	assert.NotContains(t, err.Error(), "nope")
}

// A refused login is sent once, whatever the attempts after it.
func TestAWrongPasswordIsSentOnce(t *testing.T) {
	fake := start(t, sandbox.EziManagerConfig{})
	s, err := openSection(t, "url: "+fake.VendorURL("ezimanager")+"\nemail: ops@store.example\npassword: nope\nretry: {base_delay: 1ms, max_delay: 2ms}\n")
	require.NoError(t, err)
	err = s.(*Sink).Pacer().Call(context.Background(), func() error {
		_, err := s.Send(context.Background(), item(fake.EziManager.IDs()[0], `{"priority":3}`))
		return err
	})
	var fe *transport.FatalError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, api.LoginRefused, fe.Last.Code)
	assert.EqualValues(t, 1, fake.EziManager.Stats.Logins.Load())
}

func TestConfigurationErrors(t *testing.T) {
	cases := map[string]string{
		"url: http://x/\npassword: p":                                   "sink.email and sink.password are required",
		"url: http://x/\nemail: e\npassword: p\nusername: u":            "sink.username",
		"email: e\npassword: p":                                         "sink.url is required",
		"url: http://x/\nemail: e\npassword: p\ntoken_header: 'a b: c'": "token_header",
	}
	for text, problem := range cases {
		_, err := openSection(t, text+"\n")
		require.Error(t, err, text)
		assert.Contains(t, err.Error(), problem)
	}
}
