package gorgias_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	apig "github.com/msgmigrate/msgmigrate/api/gorgias"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/load/gorgias"
	"github.com/msgmigrate/msgmigrate/load/loadtest"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

func fake(t *testing.T, cfg sandbox.GorgiasConfig) *sandbox.Running {
	t.Helper()
	cfg.Email, cfg.APIKey = "e", "k"
	if cfg.BucketSize == 0 {
		cfg.BucketSize, cfg.LeakPerSecond = 400, 4000
	}
	s := sandbox.Start(sandbox.Config{Gorgias: cfg})
	t.Cleanup(s.Close)
	return s
}

func openSink(t *testing.T, s *sandbox.Running, extra string) *gorgias.Sink {
	t.Helper()
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(fmt.Sprintf("kind: gorgias\nurl: %s\nusername: e\napi_key: k\nrate: 1000/s\naccount_window: 100ms\n"+
		"concurrency: 4\nretry: {max_attempts: 10, base_delay: 1ms, max_delay: 5ms, max_retry_after: 10ms}\n%s", s.VendorURL("gorgias"), extra)), &node))
	sink, err := load.Open(context.Background(), "gorgias", config.Section{File: "job.yaml", Node: node.Content[0]}, load.Env{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sink.Close() })
	return sink.(*gorgias.Sink)
}

func stamp(m apig.Message) string { return fmt.Sprintf("mk-%d", m.ID) }

// writeBack stamps every message's external_id through the loader
// (retries, pauses and all) and returns each message's outcome.
func writeBack(t *testing.T, sink load.Sink, msgs []apig.Message, payload func(apig.Message) string) map[int64]load.Result {
	t.Helper()
	in := make(chan *load.Batch, len(msgs))
	for _, m := range msgs {
		route := msg.Route{fmt.Sprint(m.TicketID), fmt.Sprint(m.ID)}
		in <- loadtest.Items(route, 1, func(int) (string, []byte) { return "gorgias:" + route.String(), []byte(payload(m)) })
	}
	close(in)
	var mu sync.Mutex
	out := map[int64]load.Result{}
	err := load.NewLoader(sink).Run(context.Background(), context.Background(), in, loadtest.Each(func(r load.Result) {
		mu.Lock()
		defer mu.Unlock()
		var id int64
		fmt.Sscan(r.Item.Route[1], &id)
		out[id] = r
	}))
	require.NoError(t, err)
	require.Len(t, out, len(msgs))
	return out
}

func externalID(m apig.Message) string {
	return `{"external_id": "` + stamp(m) + `"}`
}

// The write-back under each reading of the update (partial or full
// replace), with the answer echoing the message or not, with faults: every
// message that can be stamped is, once; bodies, send times and other
// integrations' ids are intact; nothing is sent or deleted; what is left
// alone fails with its reason.
func TestWriteBackUnderEveryReading(t *testing.T) {
	for _, reading := range []sandbox.GorgiasUpdate{sandbox.GorgiasPartial, sandbox.GorgiasReplace} {
		for _, echo := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s echo=%v", reading, echo), func(t *testing.T) {
				s := fake(t, sandbox.GorgiasConfig{Messages: 80, Update: reading, NoEcho: !echo,
					Faults: sandbox.Faults{ServerError: 0.05, Drop: 0.05, Garble: 0.05, Throttle: 0.05, Seed: 3}})
				before := s.Gorgias.Messages()
				res := writeBack(t, openSink(t, s, ""), before, externalID)
				codes := map[string]int{}
				for _, m := range before {
					r := res[m.ID]
					after, ok := s.Gorgias.Message(m.ID)
					require.True(t, ok)
					assert.Equal(t, m.BodyText, after.BodyText, "%d: body kept", m.ID)
					assert.Equal(t, m.BodyHTML, after.BodyHTML, "%d: body kept", m.ID)
					assert.Equal(t, m.Sender, after.Sender, "%d", m.ID)
					assert.Equal(t, m.Attachments, after.Attachments, "%d", m.ID)
					assert.Equal(t, m.Public, after.Public, "%d", m.ID)
					if m.SentDatetime == nil {
						assert.Nil(t, after.SentDatetime, "%d: not sent", m.ID)
					} else {
						require.NotNil(t, after.SentDatetime, "%d", m.ID)
						assert.True(t, apig.Same("sent_datetime", jsonStr(*m.SentDatetime), jsonStr(*after.SentDatetime)), "%d: sent_datetime kept", m.ID)
					}
					if r.Status == load.Failed {
						codes[r.Code]++
						assert.Equal(t, m.ExternalID, after.ExternalID, "%d: left alone", m.ID)
						assert.Empty(t, s.Gorgias.Updates(m.ID))
						continue
					}
					assert.Equal(t, stamp(m), *after.ExternalID)
					assert.Len(t, s.Gorgias.Updates(m.ID), 1, "%d: written once", m.ID)
					assert.Equal(t, fmt.Sprint(m.ID), r.TargetID)
				}
				assert.Equal(t, map[string]int{apig.CodeConflict: 4, apig.CodeUnsent: 4, apig.CodeDeleted: 4}, codes)
				assert.Zero(t, s.Gorgias.Stats.Sends.Load(), "nothing sent")
				assert.Zero(t, s.Gorgias.Stats.Deletes.Load(), "nothing deleted")
				assert.Positive(t, s.Gorgias.Stats.Faulted.Load())
			})
		}
	}
}

func jsonStr(s string) []byte { return []byte(`"` + s + `"`) }

// overwrite: true replaces another integration's external_id — and still
// nothing else.
func TestOverwrite(t *testing.T) {
	for _, reading := range []sandbox.GorgiasUpdate{sandbox.GorgiasPartial, sandbox.GorgiasReplace} {
		s := fake(t, sandbox.GorgiasConfig{Messages: 40, Update: reading})
		var theirs []apig.Message
		for _, m := range s.Gorgias.Messages() {
			if m.ExternalID != nil {
				theirs = append(theirs, m)
			}
		}
		require.Len(t, theirs, 2)
		res := writeBack(t, openSink(t, s, "overwrite: true\n"), theirs, externalID)
		for _, m := range theirs {
			assert.Equal(t, load.Loaded, res[m.ID].Status, res[m.ID].Message)
			after, _ := s.Gorgias.Message(m.ID)
			assert.Equal(t, stamp(m), *after.ExternalID)
			assert.Equal(t, m.BodyText, after.BodyText)
		}
	}
}

// A re-run finds the value already written: nothing is sent, it loads.
func TestWritingTheSameValueAgainSendsNothing(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 3})
	m := s.Gorgias.Messages()[0]
	sink := openSink(t, s, "")
	for range 2 {
		res := writeBack(t, sink, []apig.Message{m}, externalID)
		assert.Equal(t, load.Loaded, res[m.ID].Status)
	}
	assert.Len(t, s.Gorgias.Updates(m.ID), 1)
}

// An update the vendor answers 200 but does not apply fails as
// NOT_APPLIED, whether its answer echoes the message or not.
func TestAnIgnoredUpdateIsNotApplied(t *testing.T) {
	for _, echo := range []bool{true, false} {
		s := fake(t, sandbox.GorgiasConfig{Messages: 3, Ignore: 1, NoEcho: !echo})
		m := s.Gorgias.Messages()[0]
		res := writeBack(t, openSink(t, s, ""), []apig.Message{m}, externalID)
		r := res[m.ID]
		assert.Equal(t, load.Failed, r.Status)
		assert.Equal(t, load.NotApplied, r.Code)
		assert.Contains(t, r.Message, `external_id is null, not "mk-1001"`)
		assert.EqualValues(t, 1, s.Gorgias.Stats.Ignored.Load())
	}
}

// A correction of a message on a channel newer than the client goes
// through: the schema does not restrict channels, the message's own is
// sent back.
func TestACorrectionOnANewChannel(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 20, Update: sandbox.GorgiasReplace})
	var m apig.Message
	for _, x := range s.Gorgias.Messages() {
		if x.Channel == sandbox.NewChannel {
			m = x
		}
	}
	res := writeBack(t, openSink(t, s, ""), []apig.Message{m}, func(apig.Message) string { return `{"body_text": "Corrected"}` })
	require.Equal(t, load.Loaded, res[m.ID].Status, res[m.ID].Message)
	after, _ := s.Gorgias.Message(m.ID)
	assert.Equal(t, "Corrected", *after.BodyText)
	assert.Equal(t, sandbox.NewChannel, after.Channel)
	assert.Equal(t, m.Receiver, after.Receiver, "kept under a full replace")
}

// What an update carries: the writable fields only, the message's own
// sent_datetime — and never action, even from a payload that has one.
func TestTheUpdateNeverCarriesAction(t *testing.T) {
	s := fake(t, sandbox.GorgiasConfig{Messages: 3})
	m := s.Gorgias.Messages()[0]
	res := writeBack(t, openSink(t, s, ""), []apig.Message{m}, func(apig.Message) string {
		return `{"external_id": "mk", "action": "cancel"}`
	})
	require.Equal(t, load.Loaded, res[m.ID].Status, res[m.ID].Message)
	ups := s.Gorgias.Updates(m.ID)
	require.Len(t, ups, 1)
	assert.NotContains(t, string(ups[0]), "action")
	assert.Contains(t, string(ups[0]), `"sent_datetime":"`+*m.SentDatetime+`"`)
	assert.Zero(t, s.Gorgias.Stats.Deletes.Load())
}

func TestConfigErrors(t *testing.T) {
	for text, want := range map[string]string{
		"url: http://x\nusername: e\n":                              "sink.username and sink.api_key are required",
		"url: http://x\naccess_token: t\nusername: e\napi_key: k\n": "not both",
		"url: http://x\naccess_token: t\noverwrite: maybe\n":        "line 4",
	} {
		var node yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte("kind: gorgias\n"+text), &node))
		_, err := load.Open(context.Background(), "gorgias", config.Section{File: "job.yaml", Node: node.Content[0]}, load.Env{})
		require.Error(t, err, text)
		assert.True(t, strings.Contains(err.Error(), want), "%s: %v", text, err)
	}
}
