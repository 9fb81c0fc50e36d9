// Package ezimanager holds EziManager's (GAP Solutions) wire types for
// messages, and the session login the source and the sink share.
// Timestamps are written without an offset and are UTC by name.
//
// POST api/session/CreateToken {email, password} → "token" (a JSON string)
// GET  api/message/{guid}?deserialiseDocument=false → Message
package ezimanager

// TokenRequest asks for a session token.
type TokenRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Message is a message as the API reads and writes it (camelCase JSON).
type Message struct {
	Identifier     string   `json:"identifier,omitempty"` // base64 bytes
	IdentifierGUID string   `json:"identifierGuid"`
	Priority       int      `json:"priority"`
	CreatedUtc     string   `json:"createdUtc"`
	ReceivedUtc    *string  `json:"receivedUtc,omitempty"` // "dismissed at"
	RsvpUtc        *string  `json:"rsvpUtc,omitempty"`     // "snoozed until"
	Sender         string   `json:"sender"`                // ≤ 255
	Action         int      `json:"action"`
	Document       string   `json:"document"`
	DocumentType   string   `json:"documentType"` // ≤ 255
	External       bool     `json:"external"`
	Stores         []int    `json:"stores,omitempty"`
	StoreName      string   `json:"storeName,omitempty"`
	Operators      []string `json:"operators,omitempty"`
	Users          []string `json:"users,omitempty"`
	Machines       []string `json:"machines,omitempty"`
}

// Error is the body of a non-2xx answer.
type Error struct {
	Message string `json:"Message"`
}

// TimeLayout is how EziManager writes times: no offset, UTC by name.
const TimeLayout = "2006-01-02T15:04:05.9999999"
