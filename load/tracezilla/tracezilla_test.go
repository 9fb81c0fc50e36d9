package tracezilla

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	api "github.com/msgmigrate/msgmigrate/api/tracezilla"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/load/loadtest"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/sandbox"
	"github.com/msgmigrate/msgmigrate/transport"
)

func fake(t *testing.T, cfg sandbox.TracezillaConfig) *sandbox.Running {
	t.Helper()
	cfg.Token = "tok"
	if cfg.Messages == 0 {
		cfg.Messages = 60
	}
	s := sandbox.Start(sandbox.Config{Tracezilla: cfg})
	t.Cleanup(s.Close)
	return s
}

// syncBuffer is a log the sink's workers may write at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func openSink(t *testing.T, s *sandbox.Running, extra string, log *syncBuffer) *sink {
	t.Helper()
	var node yaml.Node
	text := fmt.Sprintf("kind: tracezilla\nurl: %s\ntoken: tok\nretry: {base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms, max_attempts: 12}\n%s", s.VendorURL("tracezilla"), extra)
	require.NoError(t, yaml.Unmarshal([]byte(text), &node))
	env := load.Env{}
	if log != nil {
		env.Log = slog.New(slog.NewTextHandler(log, nil))
	}
	x, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, env)
	require.NoError(t, err)
	t.Cleanup(func() { x.Close() })
	return x.(*sink)
}

// byStatus splits the fake's messages by the status they show now.
func byStatus(s *sandbox.Running) map[string][]api.Message {
	out := map[string][]api.Message{}
	for _, m := range s.Tracezilla.Messages() {
		out[m.Status] = append(out[m.Status], m)
	}
	return out
}

func batch(id, payload string) *load.Batch {
	return loadtest.Items(msg.Route{id}, 1, func(int) (string, []byte) { return "tracezilla:" + id, []byte(payload) })
}

// send makes one attempt and returns the item's code ("" when loaded) and
// message.
func send(t *testing.T, s *sink, id, payload string) (code, message string) {
	t.Helper()
	res, err := s.Send(context.Background(), batch(id, payload))
	if err != nil {
		var e *transport.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, transport.Permanent, e.Class, "%v", err)
		return e.VendorCode(), e.Error()
	}
	require.Len(t, res, 1)
	if res[0].Status == load.Loaded {
		return "", ""
	}
	return res[0].Code, res[0].Message
}

func TestConformance(t *testing.T) {
	s := fake(t, sandbox.TracezillaConfig{})
	sent := byStatus(s)[api.StatusSent][0]
	loadtest.Run(t, loadtest.Fixture{
		Open:  func(t *testing.T) load.Sink { return openSink(t, s, "", nil) },
		Batch: func() *load.Batch { return batch(sent.ID, `{"sent_note":"by hand"}`) },
	})
}

// The rule lives in the sink: whatever the mapping sends, a message that
// tracezilla does not show as sent right now is never written — not even
// one whose earlier attempt left a sent_at. A sent one gets its note and
// keeps its sent_at. In every reading of a message record.
func TestOnlyMessagesShownAsSentAreMarked(t *testing.T) {
	cases := map[string]struct {
		cfg      sandbox.TracezillaConfig
		stamped  bool // sent messages get their note
		readBack bool // the note cannot be read back: a warning says so
	}{
		"documented":   {sandbox.TracezillaConfig{}, true, false},
		"wrapped":      {sandbox.TracezillaConfig{Wrap: true}, true, false},
		"no sent_note": {sandbox.TracezillaConfig{HideNote: true}, true, true},
		"no status":    {sandbox.TracezillaConfig{NoStatus: true}, false, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := fake(t, c.cfg)
			var log syncBuffer
			sk := openSink(t, s, "", &log)
			before := byStatus(s)
			require.NotEmpty(t, before[api.StatusPending])
			require.NotEmpty(t, before[api.StatusFailed])
			for _, m := range s.Tracezilla.Messages() {
				// A mapping that even says when it was sent: the sink keeps
				// the message's own sent_at, and marks nothing else.
				payload := `{"sent_note":"Migrated as M-` + m.ID[:8] + `"}`
				code, message := send(t, sk, m.ID, payload)
				switch {
				case m.Status == api.StatusSent && c.stamped:
					assert.Empty(t, code, "%s: %s", m.ID, message)
					sentAt, note, times := s.Tracezilla.Sent(m.ID)
					assert.Equal(t, *m.SentAt, sentAt, "sent_at kept to the digit")
					assert.Equal(t, "Migrated as M-"+m.ID[:8], note)
					assert.Equal(t, 1, times)
				default:
					assert.Equal(t, api.NotSent, code)
					assert.Contains(t, message, m.ID)
					_, _, times := s.Tracezilla.Sent(m.ID)
					assert.Zero(t, times, "never written")
				}
			}
			assert.Empty(t, s.Tracezilla.Damage(), "no pending or failed message marked sent, no sent_at moved")
			after := byStatus(s)
			assert.Len(t, after[api.StatusPending], len(before[api.StatusPending]))
			assert.Len(t, after[api.StatusFailed], len(before[api.StatusFailed]))
			assert.Equal(t, c.readBack, bytes.Contains([]byte(log.String()), []byte("tracezilla does not show sent_note")))
		})
	}
}

// A message that was sent when the migration read it, and failed since (a
// bounce): the read right before the PUT sees it, and nothing is written.
func TestTheReadBeforeThePutClosesTheRace(t *testing.T) {
	s := fake(t, sandbox.TracezillaConfig{})
	m := byStatus(s)[api.StatusSent][0]
	sk := openSink(t, s, "", nil)
	s.Tracezilla.SetStatus(m.ID, api.StatusFailed)
	code, message := send(t, sk, m.ID, `{"sent_note":"n"}`)
	assert.Equal(t, api.NotSent, code)
	assert.Contains(t, message, "as failed")
	assert.Empty(t, s.Tracezilla.Damage())
	got, _ := s.Tracezilla.Message(m.ID)
	assert.Equal(t, api.StatusFailed, got.Status)
}

// A mapped sent_at that is not the message's own is refused; a correction
// job may change it (change_sent_at: true), on a sent message only.
func TestAMappedSentAtIsTheMessagesOwn(t *testing.T) {
	s := fake(t, sandbox.TracezillaConfig{})
	st := byStatus(s)
	sent, sent2, pending := st[api.StatusSent][0], st[api.StatusSent][1], st[api.StatusPending][0]
	other := `{"sent_at":"2026-11-22T01:00:00.000Z","sent_note":"n"}`

	code, message := send(t, openSink(t, s, "", nil), sent.ID, other)
	assert.Equal(t, api.WouldChangeSentAt, code)
	assert.Contains(t, message, "change_sent_at: true")
	code, _ = send(t, openSink(t, s, "", nil), sent2.ID, `{"sent_at":"`+*sent2.SentAt+`","sent_note":"n"}`)
	assert.Empty(t, code, "its own sent_at is fine")

	corr := openSink(t, s, "change_sent_at: true\n", nil)
	code, _ = send(t, corr, sent.ID, other)
	assert.Empty(t, code)
	sentAt, _, _ := s.Tracezilla.Sent(sent.ID)
	assert.Equal(t, "2026-11-22T01:00:00.000Z", sentAt)
	code, _ = send(t, corr, pending.ID, other)
	assert.Equal(t, api.NotSent, code, "a correction never marks a pending message sent")
	got, _ := s.Tracezilla.Message(pending.ID)
	assert.Equal(t, api.StatusPending, got.Status)
}

// An update the vendor answered 200 to but did not apply fails as
// NOT_APPLIED.
func TestAnIgnoredWriteIsNotApplied(t *testing.T) {
	for name, cfg := range map[string]sandbox.TracezillaConfig{
		"echo":      {IgnoreWrites: 1},
		"read back": {IgnoreWrites: 1, HideNote: true},
	} {
		t.Run(name, func(t *testing.T) {
			s := fake(t, cfg)
			m := byStatus(s)[api.StatusSent][0]
			code, message := send(t, openSink(t, s, "", nil), m.ID, `{"sent_note":"n"}`)
			if cfg.HideNote {
				// Nothing shows the note: an ignored note cannot be told
				// from an applied one (README: what could not be pinned down).
				assert.Empty(t, code)
				return
			}
			assert.Equal(t, load.NotApplied, code)
			assert.Contains(t, message, `sent_note is "", not "n"`)
		})
	}
}

func TestAMissingMessageIsNotFound(t *testing.T) {
	s := fake(t, sandbox.TracezillaConfig{})
	code, message := send(t, openSink(t, s, "", nil), "no-such-message", `{"sent_note":"n"}`)
	assert.Equal(t, api.NotFound, code)
	assert.Contains(t, message, "No query results for model [Message] no-such-message")
}

// Through the loader's retries, with every fault on (429 with Retry-After,
// 5xx, drops, answers cut short after the write): each sent message is
// marked once with its note and its own sent_at, no other message is
// touched.
func TestUnderFaultsEverySentMessageOnceAndNothingElse(t *testing.T) {
	for name, cfg := range map[string]sandbox.TracezillaConfig{
		"documented":   {},
		"no sent_note": {HideNote: true},
		"wrapped":      {Wrap: true},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.Messages = 120
			cfg.Faults = sandbox.Faults{ServerError: 0.1, Throttle: 0.1, Drop: 0.05, Garble: 0.1, Seed: 12}
			s := fake(t, cfg)
			sk := openSink(t, s, "concurrency: 4\n", nil)
			l := load.NewLoader(sk)
			in := make(chan *load.Batch)
			var mu sync.Mutex
			results := map[string]load.Result{}
			go func() {
				for _, m := range s.Tracezilla.Messages() {
					in <- batch(m.ID, `{"sent_note":"note `+m.ID[:8]+`"}`)
				}
				close(in)
			}()
			require.NoError(t, l.Run(context.Background(), context.Background(), in, func(rs []load.Result) error {
				mu.Lock()
				defer mu.Unlock()
				for _, r := range rs {
					results[r.Item.Route[0]] = r
				}
				return nil
			}))
			assert.Positive(t, s.Tracezilla.Stats.Faulted.Load())
			assert.Positive(t, s.Tracezilla.Stats.Throttled.Load())
			for _, m := range s.Tracezilla.Messages() {
				r := results[m.ID]
				sentAt, note, _ := s.Tracezilla.Sent(m.ID)
				if r.Status == load.Loaded {
					assert.Equal(t, "note "+m.ID[:8], note)
					assert.NotEmpty(t, sentAt)
					continue
				}
				assert.Equal(t, load.Skipped, r.Status, "%s: %s", m.ID, r.Message)
				assert.Equal(t, "not sent", r.Code, "%s: %s", m.ID, r.Message)
				assert.Empty(t, note, "never written")
			}
			st := byStatus(s)
			n := 0
			for _, r := range results {
				if r.Status == load.Loaded {
					n++
				}
			}
			assert.Equal(t, len(st[api.StatusSent]), n, "every sent message, and only those")
			assert.Empty(t, s.Tracezilla.Damage())
		})
	}
}
