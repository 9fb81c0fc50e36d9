package superoffice_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/load/loadtest"
	_ "github.com/msgmigrate/msgmigrate/load/superoffice"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

const retry = "retry: {max_attempts: 12, base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms}\n"

var faults = sandbox.Faults{ServerError: 0.08, Drop: 0.03, Throttle: 0.05, Garble: 0.05, Seed: 4}

func start(t *testing.T, cfg sandbox.SuperOfficeConfig) *sandbox.Running {
	t.Helper()
	cfg.Token = "t"
	fk := sandbox.Start(sandbox.Config{SuperOffice: cfg})
	t.Cleanup(fk.Close)
	return fk
}

func openSink(t *testing.T, fk *sandbox.Running, extra string) load.Sink {
	t.Helper()
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("kind: superoffice\nurl: "+fk.VendorURL("superoffice")+"\n"+retry+extra), &node))
	s, err := load.Open(context.Background(), "superoffice", config.Section{File: "job.yaml", Node: node.Content[0]}, load.Env{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	fk := start(t, sandbox.SuperOfficeConfig{Messages: 3})
	id := fk.SuperOffice.Rows()[0].ID
	loadtest.Run(t, loadtest.Fixture{
		Open: func(t *testing.T) load.Sink { return openSink(t, fk, "token: t\n") },
		Batch: func() *load.Batch {
			return loadtest.Items(msg.Route{strconv.FormatInt(id, 10)}, 2, func(int) (string, []byte) {
				return "k", []byte(`{"CustomFields":{"x_mykaarma_message_id":"m-1"},"Important":true}`)
			})
		},
	})
}

// writeBack sends, through the loader as a run does, the payload of
// each message (by id) and returns the outcomes by id.
func writeBack(t *testing.T, s load.Sink, payloads map[int64]string) map[int64]load.Result {
	t.Helper()
	in := make(chan *load.Batch)
	go func() {
		defer close(in)
		for id, p := range payloads {
			it := &msg.Item{Key: fmt.Sprint(id), Route: msg.Route{strconv.FormatInt(id, 10)}, Payload: []byte(p)}
			in <- &load.Batch{Route: it.Route, Items: []*msg.Item{it}, Bytes: len(p)}
		}
	}()
	var mu sync.Mutex
	out := map[int64]load.Result{}
	err := load.NewLoader(s).Run(context.Background(), context.Background(), in, func(rs []load.Result) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range rs {
			id, _ := strconv.ParseInt(r.Item.Route[0], 10, 64)
			out[id] = r
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// Under every reading of If-Unmodified-Since, with agents editing messages
// between the read and the write, and faults on: every message carries its
// new id, and nothing else in it changed but what the agents changed — no
// lost update, no field cleared. Nothing is PUT (a whole-entity save), no
// message is sent.
func TestWriteBackKeepsEveryEntityIntact(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprintf("If-Unmodified-Since ignored %v", ignore), func(t *testing.T) {
			fk := start(t, sandbox.SuperOfficeConfig{Messages: 120, IgnoreUnmodifiedSince: ignore, ConcurrentEdits: 0.2, Faults: faults})
			before := map[int64]map[string]any{}
			payloads := map[int64]string{}
			for _, m := range fk.SuperOffice.Rows() {
				before[m.ID], _, _ = fk.SuperOffice.Entity(m.ID)
				payloads[m.ID] = fmt.Sprintf(`{"CustomFields":{"x_mykaarma_message_id":"mk-%d"}}`, m.ID)
			}
			res := writeBack(t, openSink(t, fk, "token: t\nconcurrency: 4\n"), payloads)
			require.Len(t, res, len(payloads))
			for id, r := range res {
				require.Equal(t, load.Loaded, r.Status, "%d: %s %s", id, r.Code, r.Message)
				assert.Equal(t, strconv.FormatInt(id, 10), r.TargetID)
				after, saves, ok := fk.SuperOffice.Entity(id)
				require.True(t, ok)
				assert.GreaterOrEqual(t, saves, 1)
				assert.Equal(t, fmt.Sprintf("mk-%d", id), after["CustomFields"].(map[string]any)["x_mykaarma_message_id"])
				want := before[id]
				want["CustomFields"] = after["CustomFields"]
				if fk.SuperOffice.Edited(id) {
					assert.Equal(t, "Edited", after["Badge"], "%d: the agent's change is kept", id)
					want["Badge"], want["TimeSpent"] = after["Badge"], after["TimeSpent"]
				}
				assert.Equal(t, want, after, "message %d: nothing else changed", id)
			}
			assert.Zero(t, fk.SuperOffice.Stats.Puts.Load(), "never a whole-entity save")
			assert.Zero(t, fk.SuperOffice.Stats.Sends.Load(), "never /Send")
			if ignore {
				assert.Zero(t, fk.SuperOffice.Stats.Conflicts.Load())
			} else {
				assert.Positive(t, fk.SuperOffice.Stats.Conflicts.Load(), "edits between read and write met 412s, and were read again")
			}
			assert.Positive(t, fk.SuperOffice.Stats.Faulted.Load())
		})
	}
}

// A custom field the tenant has not defined is ignored by the vendor: the
// record fails as NOT_APPLIED, naming the field — also when the PATCH
// answer shows the value it did not keep.
func TestAFieldTheVendorIgnoresIsNotApplied(t *testing.T) {
	for _, echo := range []bool{false, true} {
		t.Run(fmt.Sprintf("echoes what it ignored %v", echo), func(t *testing.T) {
			fk := start(t, sandbox.SuperOfficeConfig{Messages: 5, CustomFields: []string{}, EchoIgnored: echo})
			payloads := map[int64]string{}
			for _, m := range fk.SuperOffice.Rows() {
				payloads[m.ID] = `{"CustomFields":{"x_mykaarma_message_id":"mk"},"Important":true}`
			}
			res := writeBack(t, openSink(t, fk, "token: t\n"), payloads)
			for id, r := range res {
				assert.Equal(t, load.Failed, r.Status)
				assert.Equal(t, load.NotApplied, r.Code)
				assert.Contains(t, r.Message, "CustomFields.x_mykaarma_message_id: sent \"mk\", the message has none")
				assert.NotContains(t, r.Message, "Important", "%d: the field it kept is not named", id)
			}
		})
	}
}

// A message already holding the values is not written again.
func TestAnAppliedChangeIsNotWrittenAgain(t *testing.T) {
	fk := start(t, sandbox.SuperOfficeConfig{Messages: 2})
	id := fk.SuperOffice.Rows()[0].ID
	s := openSink(t, fk, "token: t\n")
	p := map[int64]string{id: `{"Body":"Corrected","Slevel":"External"}`}
	require.Equal(t, load.Loaded, writeBack(t, s, p)[id].Status)
	require.Equal(t, load.Loaded, writeBack(t, s, p)[id].Status)
	_, saves, _ := fk.SuperOffice.Entity(id)
	assert.Equal(t, 1, saves)
}

// What the vendor refuses fails alone with its words; a message that is not
// there fails as NOT_FOUND.
func TestRefusalsFailTheRecord(t *testing.T) {
	fk := start(t, sandbox.SuperOfficeConfig{Messages: 2})
	id := fk.SuperOffice.Rows()[0].ID
	res := writeBack(t, openSink(t, fk, "token: t\n"), map[int64]string{id: `{"Slevel":"Secret"}`, 999999: `{"Important":true}`})
	assert.Equal(t, "HTTP 400", res[id].Code)
	assert.Contains(t, res[id].Message, "Slevel Secret is not one of")
	assert.Equal(t, "NOT_FOUND", res[999999].Code)
	assert.Contains(t, res[999999].Message, "ticket message 999999")
}

// Tokens that expire mid-run are renewed; the write-back completes. The
// fake expires a token after 7 uses, to make expiries many; SuperOffice's
// tokens live expires_in seconds (3600 in its samples: api.md, "Refresh
// tokens"), so every worker gets many uses from one. Fewer workers than
// uses keeps that shape: with more, the worker that renews would always
// be the one left without a use, which no time-limited token does.
func TestAnExpiringTokenIsRenewed(t *testing.T) {
	fk := sandbox.Start(sandbox.Config{SuperOffice: sandbox.SuperOfficeConfig{Token: "first", TokenUses: 7, Messages: 40,
		ClientID: "cid", ClientSecret: "cs", RefreshToken: "rt"}})
	defer fk.Close()
	payloads := map[int64]string{}
	for _, m := range fk.SuperOffice.Rows() {
		payloads[m.ID] = `{"Important":true}`
	}
	res := writeBack(t, openSink(t, fk, "token: first\nrefresh_token: rt\nclient_id: cid\nclient_secret: cs\nconcurrency: 4\n"), payloads)
	for id, r := range res {
		assert.Equal(t, load.Loaded, r.Status, "%d: %s", id, r.Message)
	}
	assert.Greater(t, fk.SuperOffice.Stats.Tokens.Load(), int64(5))
}

func TestConfigurationErrors(t *testing.T) {
	fk := start(t, sandbox.SuperOfficeConfig{})
	for section, want := range map[string]string{
		"ticket: x\n":               "sink.ticket with sink.app_token",
		"token: t\nverify: maybe\n": "sink.verify",
		"token: t\nmerge: true\n":   "merge",
	} {
		var node yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte("kind: superoffice\nurl: "+fk.VendorURL("superoffice")+"\n"+section), &node))
		_, err := load.Open(context.Background(), "superoffice", config.Section{File: "job.yaml", Node: node.Content[0]}, load.Env{})
		require.Error(t, err, section)
		assert.Contains(t, err.Error(), want)
	}
}
