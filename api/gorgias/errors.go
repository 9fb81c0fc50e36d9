package gorgias

import (
	"encoding/json"
	"strings"
)

// Codes this package gives a *transport.Error or a Refusal, for the failures
// file and for callers to tell cases apart (errors.As, then the code).
const (
	// CodeNotFound: the message is not there ("Most of the time, it means
	// that the resource has been deleted", the errors page).
	CodeNotFound = "NOT_FOUND"
	// CodeCursorRefused: a request carrying a cursor got a client error
	// (CursorRefused): the cursor expired or no longer points anywhere.
	CodeCursorRefused = "CURSOR_REFUSED"
	// CodeConflict: the message's external_id holds another integration's
	// value; the write-back leaves it unless the job says overwrite: true.
	CodeConflict = "CONFLICT"
	// CodeUnsent: the message has no sent_datetime; an update without one
	// may make Gorgias send it (seed 001), so the write-back leaves it.
	CodeUnsent = "UNSENT"
	// CodeDeleted: the message was deleted in Gorgias; left alone.
	CodeDeleted = "DELETED"
	// CodeBadMessage: the message read lacks what the update requires.
	CodeBadMessage = "BAD_MESSAGE"
	// CodeBadAnswer: a 200 whose body is not what the endpoint returns.
	CodeBadAnswer = "UNREADABLE_ANSWER"
)

// CursorRefused are the statuses that, to a request with a cursor, mean the
// cursor is no good any more. How an expired cursor is answered is not
// documented ("short-lived … they could expire", the pagination
// changelog): a 400 ("parameters having invalid values", the errors page)
// is the likeliest; 404, 410 and 422 are what peers answer for the same.
// A 401, 403 or 429 keeps its own meaning.
var CursorRefused = []int{400, 404, 410, 422}

// DecodeError reads a Gorgias error body: "Read the error attribute
// contained in the data of the HTTP response" (the errors page). Seen as a
// string ({"error": "…"}) and as an object ({"error": {"msg": "…",
// "data": {field: [problems]}}}); both are read. Gorgias gives no error
// codes: code is "" and the status decides.
func DecodeError(body []byte) (code, message, requestID string) {
	var e struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", "", ""
	}
	var s string
	if json.Unmarshal(e.Error, &s) == nil && s != "" {
		return "", s, ""
	}
	var o struct {
		Msg  string          `json:"msg"`
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(e.Error, &o) == nil && o.Msg != "" {
		msg := o.Msg
		if d := strings.TrimSpace(string(o.Data)); d != "" && d != "null" && d != "{}" {
			msg += ": " + d
		}
		return "", msg, ""
	}
	return "", e.Message, ""
}
