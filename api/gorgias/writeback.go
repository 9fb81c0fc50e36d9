package gorgias

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Refusal is a message the write-back leaves alone, and why: a conflict
// with another integration's external_id, a message that an update might
// send, one that was deleted. It fails that record with Code; it is never
// retried.
type Refusal struct {
	Code    string
	Message string
}

func (r *Refusal) Error() string { return r.Message }

// Update is what PlanUpdate decided for one message.
type Update struct {
	// Body is the update to send: every writable field of the message as
	// read, the mapped fields laid over them. Nil when Noop.
	Body []byte
	// Noop: the message already holds every mapped value (a re-run, or an
	// attempt whose answer was lost): nothing to send.
	Noop bool
}

// PlanUpdate builds the update of a message from the message as read now
// (current) and the mapped fields (the item's payload).
//
// Whether Gorgias's update is a partial update or a full replace is not
// documented (VENDORS.md [!]). The body is safe under both: it carries
// every writable field the message has — above all its sent_datetime,
// since "if omitted, the message will be sent by Gorgias" (seed 001) —
// with the mapped ones laid over; it never carries action (force sends,
// cancel deletes). A message without a sent_datetime is not touched, nor a
// deleted one. external_id is "not used by Gorgias" but other integrations
// (Aircall, Zendesk) fill it: a value that is not the one mapped is not
// overwritten unless overwrite is set.
func PlanUpdate(current map[string]json.RawMessage, mapped []byte, overwrite bool) (Update, error) {
	want, err := writable(mapped)
	if err != nil {
		return Update{}, &Refusal{Code: "PAYLOAD", Message: "the mapped payload is not a JSON object: " + err.Error()}
	}
	if d := current["deleted_datetime"]; !isBlank(d) {
		return Update{}, &Refusal{Code: CodeDeleted, Message: "the message was deleted in Gorgias (deleted_datetime " + string(d) + "): left alone"}
	}
	if v, ok := want["external_id"]; ok && !overwrite {
		if have := current["external_id"]; !isBlank(have) && !Same("external_id", v, have) {
			return Update{}, &Refusal{Code: CodeConflict, Message: fmt.Sprintf("external_id holds %s, written by another integration; not overwritten with %s (set overwrite: true in the sink to replace it)", have, v)}
		}
	}
	if isBlank(current["sent_datetime"]) && isBlank(want["sent_datetime"]) {
		return Update{}, &Refusal{Code: CodeUnsent, Message: "the message has no sent_datetime: an update without one may make Gorgias send it; left alone"}
	}
	noop := true
	for f, v := range want {
		if !Same(f, v, current[f]) {
			noop = false
			break
		}
	}
	if noop {
		return Update{Noop: true}, nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for _, f := range Writable {
		v, ok := want[f]
		if !ok {
			v = current[f]
		}
		if isNull(v) {
			continue // absent, or null as read: left out
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	body, err := DecodeObject(b.Bytes())
	if err != nil {
		return Update{}, &Refusal{Code: CodeBadMessage, Message: "the message read is not valid JSON: " + err.Error()}
	}
	for _, f := range []string{"channel", "via", "from_agent"} {
		if isNull(body[f]) {
			return Update{}, &Refusal{Code: CodeBadMessage, Message: "the message read has no " + f + ", which the update requires"}
		}
	}
	return Update{Body: b.Bytes()}, nil
}

// Verify checks an update's effect in a message (the answer's echo, or the
// message read back): every mapped field holds its value, and what the
// body carried to keep the message intact — its sent_datetime, its bodies
// — is still there. why says what is not.
func Verify(sent, mapped []byte, got map[string]json.RawMessage) (applied bool, why string) {
	want, err := writable(mapped)
	if err != nil {
		return false, "the mapped payload is not a JSON object"
	}
	fields := make([]string, 0, len(want))
	for f := range want {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	var bad []string
	for _, f := range fields {
		if !Same(f, want[f], got[f]) {
			bad = append(bad, fmt.Sprintf("%s is %s, not %s", f, show(got[f]), want[f]))
		}
	}
	body, err := DecodeObject(sent)
	if err == nil {
		if v := body["sent_datetime"]; !isNull(v) && !Same("sent_datetime", v, got["sent_datetime"]) {
			bad = append(bad, fmt.Sprintf("sent_datetime is %s, not %s", show(got["sent_datetime"]), v))
		}
		for _, f := range []string{"body_text", "body_html"} {
			if !isBlank(body[f]) && isBlank(got[f]) {
				bad = append(bad, f+" was cleared")
			}
		}
	}
	if len(bad) > 0 {
		return false, strings.Join(bad, "; ")
	}
	return true, ""
}

// writable reads a mapped payload's writable fields. Anything else — above
// all action, which a ledger written by an older version may hold — is
// never sent, so never expected either.
func writable(mapped []byte) (map[string]json.RawMessage, error) {
	m, err := DecodeObject(mapped)
	if err != nil {
		return nil, err
	}
	for f := range m {
		if !slices.Contains(Writable, f) {
			delete(m, f)
		}
	}
	return m, nil
}

func show(v json.RawMessage) string {
	if len(v) == 0 {
		return "absent"
	}
	if len(v) > 120 {
		return string(v[:120]) + "…"
	}
	return string(v)
}

// isBlank: absent, null or "".
func isBlank(v json.RawMessage) bool {
	return isNull(v) || string(v) == `""`
}

// Same reports whether got holds the value want, as Gorgias may write it
// back: datetimes as the same instant in any layout, objects with at least
// want's members (the API adds its own, such as a sender's id), lists
// element by element, numbers by value.
func Same(field string, want, got json.RawMessage) bool {
	var w, g any
	if json.Unmarshal(want, &w) != nil {
		return false
	}
	if len(got) == 0 {
		return w == nil
	}
	if json.Unmarshal(got, &g) != nil {
		return false
	}
	return same(strings.HasSuffix(field, "_datetime"), w, g)
}

func same(datetime bool, w, g any) bool {
	switch w := w.(type) {
	case nil:
		return g == nil
	case string:
		gs, ok := g.(string)
		if !ok {
			return false
		}
		if w == gs {
			return true
		}
		if datetime {
			a, err1 := ParseTime(w)
			b, err2 := ParseTime(gs)
			return err1 == nil && err2 == nil && a.Equal(b)
		}
		return false
	case map[string]any:
		gm, ok := g.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !same(strings.HasSuffix(k, "_datetime"), v, gm[k]) {
				return false
			}
		}
		return true
	case []any:
		gl, ok := g.([]any)
		if !ok || len(gl) != len(w) {
			return false
		}
		for i := range w {
			if !same(datetime, w[i], gl[i]) {
				return false
			}
		}
		return true
	default: // bool, float64
		return w == g
	}
}
