package tracezilla

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/msgmigrate/msgmigrate/transport"
)

// PUT /messages/{id}/sent "Mark message as sent" (seed 000) changes a
// message's business state: on a pending or failed message it records a
// sending that never happened. So whatever a mapping says, the write-back
// obeys one rule (VENDORS.md, rev): it stamps only a message tracezilla shows
// as sent right now, and keeps that message's sent_at.

// Codes a write-back fails a message with, before anything is written.
const (
	// NotSent: tracezilla does not show the message as sent (pending,
	// failed, or no status at all): marking it sent would say it went out.
	NotSent = "NOT_SENT"
	// WouldChangeSentAt: the mapping's sent_at is not the message's own.
	WouldChangeSentAt = "WOULD_CHANGE_SENT_AT"
)

// Sendable reports whether m may be marked sent: tracezilla shows it as
// sent, with a sent_at. The refusal is a Permanent *transport.Error with
// code NOT_SENT (the sink skips such a message by rule). A record without a status is refused too: a failed
// message may carry the sent_at of an earlier attempt, so sent_at alone
// does not tell.
func Sendable(m *Message) error {
	refuse := func(why string) error {
		return &transport.Error{Class: transport.Permanent, Code: NotSent,
			Message: "tracezilla shows message " + m.ID + " " + why + ": a write-back marks only messages that are sent already, never a pending or failed one"}
	}
	switch {
	case m.Status == "":
		return refuse("without a status")
	case m.Status != StatusSent:
		return refuse("as " + m.Status)
	case m.SentAt == nil || *m.SentAt == "":
		return refuse("as sent but without a sent_at")
	}
	if _, err := ParseTime(*m.SentAt); err != nil {
		return refuse(fmt.Sprintf("with a sent_at %q that is not a time", *m.SentAt))
	}
	return nil
}

// SentBody is the body that marks m — as it is now, if Sendable — with
// the mapping's payload (sent_at, sent_note): sent_at is the message's own.
// A mapped sent_at that is another instant is refused (WOULD_CHANGE_SENT_AT)
// unless changeSentAt (a correction job that means to change when a sent
// message went out).
func SentBody(m *Message, mapped []byte, changeSentAt bool) ([]byte, error) {
	if err := Sendable(m); err != nil {
		return nil, err
	}
	var req struct {
		SentAt   *string `json:"sent_at"`
		SentNote *string `json:"sent_note"`
	}
	if err := json.Unmarshal(mapped, &req); err != nil {
		return nil, &transport.Error{Class: transport.Permanent, Code: "BAD_PAYLOAD", Message: "the mapped payload is not a JSON object: " + err.Error()}
	}
	own, _ := ParseTime(*m.SentAt) // Sendable read it
	out := SentRequest{SentAt: zulu(*m.SentAt, own)}
	if req.SentNote != nil {
		out.SentNote = *req.SentNote
	}
	if req.SentAt != nil {
		t, err := ParseTime(*req.SentAt)
		if err != nil {
			return nil, &transport.Error{Class: transport.Permanent, Code: "BAD_PAYLOAD", Message: fmt.Sprintf("sent_at %q is not a time", *req.SentAt)}
		}
		// The mapping's times carry milliseconds: the same instant to the
		// millisecond is the message's own.
		same := t.Equal(own) || t.Equal(own.Truncate(time.Millisecond))
		switch {
		case same:
		case !changeSentAt:
			return nil, &transport.Error{Class: transport.Permanent, Code: WouldChangeSentAt,
				Message: fmt.Sprintf("the mapping sets sent_at %s, but message %s was sent at %s: a write-back keeps a message's sent_at (a correction sets change_sent_at: true)", *req.SentAt, m.ID, *m.SentAt)}
		default:
			out.SentAt = zulu(*req.SentAt, t)
		}
	}
	return json.Marshal(out)
}

// zulu is s when it is already a Zulu time, else t in UTC at full
// precision: the value is kept to the digit, never rounded.
func zulu(s string, t time.Time) string {
	if strings.HasSuffix(s, "Z") {
		return s
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Echo is what an answer (or a read back) shows of a mark-as-sent.
type Echo struct {
	ID        string
	Status    string
	SentAt    *string
	SentNote  *string
	NoteShown bool // the record has a sent_note key at all
}

// ReadEcho reads a single-message answer for CheckEcho.
func ReadEcho(body []byte) (*Echo, error) {
	m, raw, err := DecodeMessage(body)
	if err != nil {
		return nil, err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, err
	}
	_, shown := keys["sent_note"]
	return &Echo{ID: m.ID, Status: m.Status, SentAt: m.SentAt, SentNote: m.SentNote, NoteShown: shown}, nil
}

// Check compares what the message shows with what was sent for id: the
// same message, sent, the sent_at sent (the same instant), and the note
// sent, when one was sent and the record shows notes at all. why says
// what differs.
func (e *Echo) Check(id string, sent SentRequest) (applied bool, why string) {
	if e.ID != id {
		return false, fmt.Sprintf("the answer is message %s, not %s", e.ID, id)
	}
	if e.Status != "" && e.Status != StatusSent {
		return false, "the message's status is " + e.Status + ", not sent"
	}
	want, err := ParseTime(sent.SentAt)
	if err != nil {
		return false, "sent_at " + sent.SentAt + " is not a time"
	}
	if e.SentAt == nil {
		return false, "the message shows no sent_at"
	}
	got, err := ParseTime(*e.SentAt)
	if err != nil || !got.Equal(want) {
		return false, fmt.Sprintf("sent_at is %s, not %s", *e.SentAt, sent.SentAt)
	}
	if e.NoteShown && sent.SentNote != "" {
		note := ""
		if e.SentNote != nil {
			note = *e.SentNote
		}
		if note != sent.SentNote {
			return false, fmt.Sprintf("sent_note is %q, not %q", note, sent.SentNote)
		}
	}
	return true, ""
}
