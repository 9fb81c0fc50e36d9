// Package gorgias holds Gorgias's wire types for messages: the list
// endpoint's page and a message as the API returns it. The source, the
// sandbox fake and (later) the sink use these; nothing else defines them.
//
// GET {base}/messages?limit=1..100&cursor=…&order_by=created_datetime:asc|desc
package gorgias

import "encoding/json"

// Page is a list endpoint's answer.
type Page struct {
	Object string            `json:"object"` // "list"
	Data   []json.RawMessage `json:"data"`
	Meta   Meta              `json:"meta"`
}

// Meta carries the cursors; next_cursor is null on the last page.
type Meta struct {
	PrevCursor *string `json:"prev_cursor"`
	NextCursor *string `json:"next_cursor"`
}

// Error is the body of a non-2xx answer.
type Error struct {
	Error string `json:"error"`
}

// Party is a message's sender or receiver.
type Party struct {
	ID    int64  `json:"id"`
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
}

// Address is a source address.
type Address struct {
	Address string `json:"address"`
	Name    string `json:"name,omitempty"`
}

// Source says where a message came from and went.
type Source struct {
	Type string    `json:"type"`
	From *Address  `json:"from,omitempty"`
	To   []Address `json:"to,omitempty"`
	Cc   []Address `json:"cc,omitempty"`
	Bcc  []Address `json:"bcc,omitempty"`
}

// Attachment is a file on a message.
type Attachment struct {
	URL         string `json:"url"`
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// Message is a ticket message.
type Message struct {
	ID              int64        `json:"id"`
	TicketID        int64        `json:"ticket_id"`
	Channel         string       `json:"channel"`
	Via             string       `json:"via"`
	FromAgent       bool         `json:"from_agent"`
	Sender          *Party       `json:"sender"`
	Receiver        *Party       `json:"receiver"`
	Source          *Source      `json:"source"`
	Subject         *string      `json:"subject"`
	BodyText        *string      `json:"body_text"`
	BodyHTML        *string      `json:"body_html"`
	StrippedText    *string      `json:"stripped_text"`
	Attachments     []Attachment `json:"attachments"`
	ExternalID      *string      `json:"external_id"`
	MessageID       *string      `json:"message_id"`
	CreatedDatetime string       `json:"created_datetime"`
	SentDatetime    *string      `json:"sent_datetime"`
	FailedDatetime  *string      `json:"failed_datetime"`
	OpenedDatetime  *string      `json:"opened_datetime"`
}

// Channels the API documents.
var Channels = []string{"aircall", "api", "chat", "contact_form", "email", "facebook", "facebook-messenger",
	"help-center", "instagram-direct-message", "internal-note", "phone", "sms", "twitter", "whatsapp", "yotpo-review"}

// CallLimitHeader reports the leaky bucket's use on every answer: "used/limit".
const CallLimitHeader = "X-Gorgias-Account-Api-Call-Limit"
