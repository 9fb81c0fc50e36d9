// Package gorgias is Gorgias's messages API in one place: the wire types,
// the client (auth, the account's shared call budget, paging with its
// short-lived cursors, error decoding), the write-back's read–merge–verify
// and the schema a write-back mapping is compiled against. The source
// (extract/gorgias), the sink (load/gorgias) and the sandbox fake all use it.
//
// The vendor's pages each behaviour comes from:
//   - messages:    https://developers.gorgias.com/reference/the-ticketmessage-object
//   - one message: https://developers.gorgias.com/reference/get-ticket-message
//   - the update:  /work/shared/seeds/001_6eed9bf5b83695cf.txt (PUT /api/tickets/{ticket_id}/messages/{id})
//   - rate limits: https://developers.gorgias.com/reference/limitations
//   - errors:      https://developers.gorgias.com/reference/errors
//   - cursors:     https://developers.gorgias.com/changelog/deprecation-offset-based-pagination
//   - datetimes:   https://developers.gorgias.com/reference/the-ticket-object (its example has no offset)
package gorgias

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/msgmigrate/msgmigrate/transform"
)

// Page is the answer of GET /api/messages.
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

// Message is a ticket message as the API returns it. Datetimes are kept as
// the API wrote them: with or without fractions or an offset (ParseTime).
type Message struct {
	ID       int64 `json:"id"`
	TicketID int64 `json:"ticket_id"`
	// Public is false for an internal note — on any channel, not only
	// "internal-note" ("Internal notes are not public").
	Public bool `json:"public"`
	// Channel is LegacyChannelSlug | string: an open set, new channels
	// appear. Never restrict it to Channels.
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
	ExternalID      *string      `json:"external_id"` // not used by Gorgias; other integrations fill it
	MessageID       *string      `json:"message_id"`
	CreatedDatetime string       `json:"created_datetime"`
	SentDatetime    *string      `json:"sent_datetime"`
	FailedDatetime  *string      `json:"failed_datetime"`
	DeletedDatetime *string      `json:"deleted_datetime"`
	OpenedDatetime  *string      `json:"opened_datetime"`
}

// Fields are a message's top-level fields as the vendor documents them
// (the TicketMessage object): what a mapping's row.X may read.
var Fields = []string{"id", "uri", "message_id", "ticket_id", "external_id", "public", "channel", "via", "source",
	"sender", "integration_id", "intents", "rule_id", "from_agent", "receiver", "subject", "body_text", "body_html",
	"stripped_text", "stripped_html", "stripped_signature", "attachments", "actions", "macros", "meta", "headers",
	"created_datetime", "sent_datetime", "failed_datetime", "deleted_datetime", "opened_datetime",
	"last_sending_error", "is_retriable", "replied_by", "replied_to"}

// Datetimes are the fields holding a datetime.
var Datetimes = []string{"created_datetime", "sent_datetime", "failed_datetime", "deleted_datetime", "opened_datetime"}

// Writable are the body parameters of the update (seed 001), in the order
// the write-back sends them. Nothing else is sent: "unknown parameters"
// are a 400 (the errors page), and action is a query parameter that sends
// or deletes the message.
var Writable = []string{"channel", "via", "from_agent", "sender", "receiver", "source", "subject", "body_text",
	"body_html", "attachments", "message_id", "external_id", "sent_datetime", "failed_datetime"}

// Channels are the legacy channel slugs the API documents. The set is open
// (LegacyChannelSlug | string): this list documents, it never restricts.
var Channels = []string{"aircall", "api", "chat", "contact_form", "email", "facebook", "facebook-mention",
	"facebook-messenger", "facebook-recommendations", "help-center", "instagram-ad-comment", "instagram-comment",
	"instagram-direct-message", "instagram-mention", "internal-note", "phone", "sms", "twitter",
	"twitter-direct-message", "whatsapp", "yotpo-review"}

// CallLimitHeader is on every answer: "used/limit" of the account's leaky
// bucket, every app's calls counted (the limitations page).
const CallLimitHeader = "X-Gorgias-Account-Api-Call-Limit"

// ParseTime reads a Gorgias datetime leniently, as a mapping's time() does:
// with or without fractions, a space or a T, an offset or none. The API's
// own examples carry no offset ("2019-11-16T15:59:41.966927", the ticket
// object): Gorgias keeps UTC, so a value without an offset is UTC — never
// the job's or the machine's zone.
func ParseTime(s string) (time.Time, error) {
	v, err := transform.ParseTime(s, time.UTC)
	if err != nil {
		return time.Time{}, err
	}
	t, ok := v.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("%q is not a datetime", s)
	}
	return t.UTC(), nil
}
