// Package ezimanager is EziManager's (GAP Solutions) message API in one
// place — wire types, the session (login, how the token is presented, every
// reading of an expired session), the requests, error decoding, times and
// the sink's schema — shared by the ezimanager source, the ezimanager sink
// and the sandbox fake.
//
// The vendor's pages are its ASP.NET Web API help pages, e.g.
// https://au2.ezimanager.cloud/Help/Api/…:
//
//   - POST-api-session-CreateToken: POST api/session/CreateToken with a Login
//     {email, password, persistent, …} → "Access token", a JSON string. How
//     the token is presented is not documented; a public connector that ran
//     against a live tenant sends "Authorization: Bearer {token}" and met the
//     token both as a bare string and wrapped in an object ({"token": …}):
//     both are read.
//   - GET-api-message-id_deserialiseDocument: GET api/message/{guid}
//     ?deserialiseDocument=false → the Message (camelCase JSON).
//   - PUT-api-message-id (seed 003): PUT api/message/{id} with the Message →
//     "Saved message identifier", a GUID. It saves the whole message.
//     External, Stores, StoreName, Operators, Users and Machines are marked
//     "Relation. This field may not always be loaded or used for updates".
//
// Times are written without an offset and are UTC by name (CreatedUtc, …);
// the XML samples write the same values with +00:00: both are read.
// ReceivedUtc is documented as "Dismissed at" and RsvpUtc as "Snoozed
// until": neither is when a message was received.
package ezimanager

import (
	"encoding/json"
	"strings"
	"time"
)

// Login is the body of CreateToken; the other members the page lists
// (persistent, redirect, browser and machine names) are left out.
type Login struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Message is a message as the API reads and writes it. Relations are
// pointers or slices so that "not loaded" (null) is told from "empty".
type Message struct {
	Identifier     string          `json:"identifier"` // base64 bytes
	IdentifierGUID string          `json:"identifierGuid"`
	Priority       int             `json:"priority"`
	CreatedUtc     string          `json:"createdUtc"`
	ReceivedUtc    *string         `json:"receivedUtc"` // "Dismissed at"
	RsvpUtc        *string         `json:"rsvpUtc"`     // "Snoozed until"
	Sender         string          `json:"sender"`      // ≤ 255
	Action         int             `json:"action"`      // MessageAction (values undocumented)
	DocumentObject json.RawMessage `json:"documentObject"`
	Document       string          `json:"document"`
	DocumentType   string          `json:"documentType"` // ≤ 255
	External       *bool           `json:"external"`
	Stores         []int           `json:"stores"`
	StoreName      *string         `json:"storeName"`
	Operators      []string        `json:"operators"`
	Users          []string        `json:"users"`
	Machines       []string        `json:"machines"`
}

// Fields are the Message's members, in the page's order: the columns a
// mapping's row.X may read.
var Fields = []string{"identifier", "identifierGuid", "priority", "createdUtc", "receivedUtc", "rsvpUtc", "sender", "action",
	"documentObject", "document", "documentType", "external", "stores", "storeName", "operators", "users", "machines"}

// Relations are the members the pages mark "Relation. This field may not
// always be loaded or used for updates": a PUT that changes one may answer
// 200 and change nothing.
var Relations = map[string]bool{"external": true, "stores": true, "storeName": true, "operators": true, "users": true, "machines": true}

// TimeFields are the Message's dates.
var TimeFields = []string{"createdUtc", "receivedUtc", "rsvpUtc"}

// IsTime reports whether a member is one of the Message's dates.
func IsTime(field string) bool {
	for _, f := range TimeFields {
		if strings.EqualFold(f, field) {
			return true
		}
	}
	return false
}

// TimeLayout is how the sink writes a time: no offset, UTC by name, up to
// seven fraction digits as the vendor's samples show.
const TimeLayout = "2006-01-02T15:04:05.9999999"

// ParseTime reads an EziManager date: without an offset it is UTC (by the
// member's name); with one (Z, +00:00, +0000) the offset is honoured. The
// year-1 value a .NET DateTime holds when it was never set is no time:
// ok is false then, as for "".
func ParseTime(s string) (t time.Time, ok bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999"} {
		if t, err = time.Parse(layout, s); err == nil {
			break
		}
	}
	if err != nil {
		return time.Time{}, false, err
	}
	t = t.UTC()
	if t.Year() <= 1 {
		return time.Time{}, false, nil
	}
	return t, true, nil
}

// Error is the body of a non-2xx answer: ASP.NET Web API's {"Message": …},
// with its ModelState for a request it could not bind.
type Error struct {
	Message       string              `json:"Message"`
	MessageDetail string              `json:"MessageDetail,omitempty"`
	ModelState    map[string][]string `json:"ModelState,omitempty"`
}

// DecodeError reads an error body for the transport: the vendor's words, ""
// when the body is not EziManager's. There is no code and no request id.
func DecodeError(body []byte) (code, message, requestID string) {
	var e Error
	if json.Unmarshal(body, &e) != nil {
		return "", "", ""
	}
	words := strings.TrimSpace(e.Message + " " + e.MessageDetail)
	for field, problems := range e.ModelState {
		words += " " + field + ": " + strings.Join(problems, "; ")
	}
	return "", strings.TrimSpace(words), ""
}

// ParseToken reads CreateToken's answer: a JSON string as the page says, or
// an object holding it under token, accessToken or access_token.
func ParseToken(body []byte) (string, bool) {
	var s string
	if json.Unmarshal(body, &s) == nil {
		s = strings.TrimSpace(s)
		return s, s != ""
	}
	var o map[string]json.RawMessage
	if json.Unmarshal(body, &o) != nil {
		return "", false
	}
	for k, v := range o {
		switch strings.ToLower(k) {
		case "token", "accesstoken", "access_token":
			if json.Unmarshal(v, &s) == nil && strings.TrimSpace(s) != "" {
				return strings.TrimSpace(s), true
			}
		}
	}
	return "", false
}
