package tracezilla_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/msgmigrate/msgmigrate/api/tracezilla"
	"github.com/msgmigrate/msgmigrate/transport"
)

func ptr(s string) *string { return &s }

const id = "be3233c4-c0a2-4f47-a62a-303492c20ba6"

// Only a message tracezilla shows as sent, with its sent_at, may be marked
// sent; everything else is refused as NOT_SENT, a permanent failure.
func TestSendable(t *testing.T) {
	cases := map[string]struct {
		m    api.Message
		want string // "" : sendable
	}{
		"sent":                        {api.Message{ID: id, Status: "sent", SentAt: ptr("2024-01-01T13:25:32.312Z")}, ""},
		"pending":                     {api.Message{ID: id, Status: "pending"}, "as pending"},
		"failed":                      {api.Message{ID: id, Status: "failed"}, "as failed"},
		"failed with an old sent_at":  {api.Message{ID: id, Status: "failed", SentAt: ptr("2024-01-01T13:25:32.312Z")}, "as failed"},
		"no status, but a sent_at":    {api.Message{ID: id, SentAt: ptr("2024-01-01T13:25:32.312Z")}, "without a status"},
		"sent without a sent_at":      {api.Message{ID: id, Status: "sent"}, "without a sent_at"},
		"sent with a sent_at no time": {api.Message{ID: id, Status: "sent", SentAt: ptr("yesterday")}, "not a time"},
		"a status nobody documented":  {api.Message{ID: id, Status: "queued", SentAt: ptr("2024-01-01T13:25:32.312Z")}, "as queued"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := api.Sendable(&c.m)
			if c.want == "" {
				assert.NoError(t, err)
				return
			}
			var e *transport.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, transport.Permanent, e.Class)
			assert.Equal(t, api.NotSent, e.Code)
			assert.Contains(t, e.Error(), c.want)
			assert.Contains(t, e.Error(), id)
		})
	}
}

// The body carries the message's own sent_at, to the digit; a mapped
// sent_at that is another instant is refused unless the job allows a
// correction.
func TestSentBody(t *testing.T) {
	own := &api.Message{ID: id, Status: "sent", SentAt: ptr("2024-01-01T13:25:32.312456Z")}
	offset := &api.Message{ID: id, Status: "sent", SentAt: ptr("2024-01-01T14:25:32.312+01:00")}
	cases := []struct {
		name   string
		m      *api.Message
		mapped string
		change bool
		want   string // the body, or the refusal's code
	}{
		{"a note only: the message's own sent_at, every digit", own, `{"sent_note":"n"}`, false,
			`{"sent_at":"2024-01-01T13:25:32.312456Z","sent_note":"n"}`},
		{"the same instant to the millisecond is the message's own", own, `{"sent_at":"2024-01-01T13:25:32.312Z","sent_note":"n"}`, false,
			`{"sent_at":"2024-01-01T13:25:32.312456Z","sent_note":"n"}`},
		{"an offset is sent as the same instant in Zulu", offset, `{}`, false,
			`{"sent_at":"2024-01-01T13:25:32.312Z"}`},
		{"another instant is refused", own, `{"sent_at":"2026-11-22T01:00:00.000Z"}`, false, api.WouldChangeSentAt},
		{"another instant, as a correction", own, `{"sent_at":"2026-11-22T01:00:00.000Z"}`, true,
			`{"sent_at":"2026-11-22T01:00:00.000Z"}`},
		{"not a time", own, `{"sent_at":"soon"}`, true, "BAD_PAYLOAD"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := api.SentBody(c.m, []byte(c.mapped), c.change)
			if err != nil {
				var e *transport.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, transport.Permanent, e.Class)
				assert.Equal(t, c.want, e.Code)
				return
			}
			assert.JSONEq(t, c.want, string(b))
		})
	}
}

// The answer's echo shows whether the mark was applied: the same message,
// sent, the sent_at sent, and the note when the record shows notes.
func TestEchoCheck(t *testing.T) {
	sent := api.SentRequest{SentAt: "2024-01-01T13:25:32.312Z", SentNote: "Migrated to myKaarma as message M"}
	cases := []struct {
		name, answer string
		applied      bool
		noteShown    bool
	}{
		{"applied", `{"id":"` + id + `","status":"sent","sent_at":"2024-01-01T13:25:32.312Z","sent_note":"Migrated to myKaarma as message M"}`, true, true},
		{"applied, wrapped in data", `{"data":{"id":"` + id + `","status":"sent","sent_at":"2024-01-01T13:25:32.312000Z","sent_note":"Migrated to myKaarma as message M"}}`, true, true},
		{"the note was ignored", `{"id":"` + id + `","status":"sent","sent_at":"2024-01-01T13:25:32.312Z","sent_note":null}`, false, true},
		{"sent_at moved", `{"id":"` + id + `","status":"sent","sent_at":"2024-01-01T13:25:33.000Z","sent_note":"Migrated to myKaarma as message M"}`, false, true},
		{"not sent", `{"id":"` + id + `","status":"pending","sent_at":null,"sent_note":"Migrated to myKaarma as message M"}`, false, true},
		{"another message", `{"id":"c0a2b323-c0a2-4f47-a62a-303492c20ba6","status":"sent","sent_at":"2024-01-01T13:25:32.312Z"}`, false, false},
		{"no note shown: sent_at alone is checked here", `{"id":"` + id + `","status":"sent","sent_at":"2024-01-01T13:25:32.312Z"}`, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := api.ReadEcho([]byte(c.answer))
			require.NoError(t, err)
			applied, why := e.Check(id, sent)
			assert.Equal(t, c.applied, applied, why)
			assert.Equal(t, c.noteShown, e.NoteShown)
			if !applied {
				assert.NotEmpty(t, why)
			}
		})
	}
	_, err := api.ReadEcho([]byte(`{"id":"` + id + `","sta`))
	assert.Error(t, err, "an answer cut short is not an echo")
}

func TestDecodeMessage(t *testing.T) {
	for name, body := range map[string]string{
		"bare":    `{"id":"` + id + `","status":"sent"}`,
		"wrapped": `{"data":{"id":"` + id + `","status":"sent"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			m, raw, err := api.DecodeMessage([]byte(body))
			require.NoError(t, err)
			assert.Equal(t, id, m.ID)
			assert.Equal(t, "sent", m.Status)
			var back map[string]any
			require.NoError(t, json.Unmarshal(raw, &back))
			assert.Equal(t, id, back["id"], "raw is the message itself")
		})
	}
	_, _, err := api.DecodeMessage([]byte(`{"message":"Server Error"}`))
	assert.Error(t, err, "an answer that is not a message")
}
