// Package tracezilla is tracezilla's messages API, in one place: wire types,
// the bearer token (sent to the configured origin only), paging with its
// completeness checks, reading one message, the rule that guards
// PUT /messages/{id}/sent, and the check of its echo. The "tracezilla" source
// and sink and the sandbox fake all use it.
//
// Base https://app.tracezilla.com/api/v1/{team-slug}; Authorization: Bearer.
// Pages the vendor documents, cited where a behaviour comes from them:
//
//   - GET /messages (sortBy, sortDirection, status[eq], …):
//     https://tech.tracezilla.com/docs/rest-api-v1/swagger-api-docs-mirror/messages/messages
//   - GET /messages/{messageId}:
//     https://tech.tracezilla.com/docs/rest-api-v1/swagger-api-docs-mirror/messages/messages-%7Bmessageid%7D
//   - PUT /messages/{messageId}/sent ("Mark message as sent"; seed 000):
//     https://tech.tracezilla.com/docs/rest-api-v1/swagger-api-docs-mirror/messages/messages-%7Bmessageid%7D-sent
//   - pagination (perPage, page; "links" and "meta"):
//     https://tech.tracezilla.com/docs/rest-api-v1/making-requests/parameters/pagination
package tracezilla

import (
	"encoding/json"
	"net/url"
	"time"
)

// Message statuses: the values of the list's status[eq] filter (GET
// /messages). VENDORS.md: the record carries status besides the fields of
// seed 000, whose schema does not list it — so a record without one is a
// reading the client must survive.
const (
	StatusPending = "pending"
	StatusFailed  = "failed"
	StatusSent    = "sent"
)

// Message is a message record (seed 000's response schema, plus status and
// the sent_note a mark-as-sent may show).
type Message struct {
	ID                 string  `json:"id"`
	Subject            string  `json:"subject"`
	Body               string  `json:"body"`
	RecipientEmail     string  `json:"recipient_email"`
	RecipientEmailCc   *string `json:"recipient_email_cc"`
	RecipientEmailBcc  *string `json:"recipient_email_bcc"`
	RecipientPartnerID *string `json:"recipient_partner_id"`
	RecipientTeamID    *int64  `json:"recipient_team_id"`
	RecipientUserID    *int64  `json:"recipient_user_id"`
	SenderUserID       *int64  `json:"sender_user_id"`
	SenderTeamID       *int64  `json:"sender_team_id"`
	SecretKey          *string `json:"secret_key"`
	SecretExpires      *string `json:"secret_expires"`
	// Status is pending, failed or sent; "" when the record does not say.
	Status          string  `json:"status,omitempty"`
	SentAt          *string `json:"sent_at"`
	SentNote        *string `json:"sent_note"`
	ReadAt          *string `json:"read_at"`
	ReadCount       *int64  `json:"read_count"`
	OpenAt          *string `json:"open_at"`
	OpenCount       *int64  `json:"open_count"`
	SourceModelName string  `json:"source_model_name"`
	SourceEntityID  string  `json:"source_entity_id"`
	DestModelName   string  `json:"dest_model_name"`
	DestEntityID    string  `json:"dest_entity_id"`
	CreatedAt       string  `json:"created_at"`
	UpdatedAt       string  `json:"updated_at"`
}

// Columns are a message record's top-level fields as the source hands them
// on: the secrets are never among them.
var Columns = []string{
	"id", "subject", "body", "recipient_email", "recipient_email_cc", "recipient_email_bcc",
	"recipient_partner_id", "recipient_team_id", "recipient_user_id", "sender_user_id", "sender_team_id",
	"status", "sent_at", "sent_note", "read_at", "read_count", "open_at", "open_count",
	"source_model_name", "source_entity_id", "dest_model_name", "dest_entity_id", "created_at", "updated_at",
}

// SecretFields are the record fields the source never passes on: they open
// the message's public link.
var SecretFields = []string{"secret_key", "secret_expires"}

// Page is one answer of the list endpoint. Its paging keys come in two
// readings, and a client must accept both (VENDORS.md, [!]):
//
//   - the pagination page: "links": {first, last, next, prev} and
//     "meta": {current_page, from, last_page, path, per_page, to, total};
//   - the vendor's integration notes and two public SDKs: "links.next_page"
//     (and no meta).
type Page struct {
	Data  []json.RawMessage          `json:"data"`
	Links map[string]json.RawMessage `json:"links"`
	Meta  *Meta                      `json:"meta"`
}

// Meta is the pagination page's "meta" object.
type Meta struct {
	CurrentPage int    `json:"current_page"`
	From        *int   `json:"from"`
	LastPage    int    `json:"last_page"`
	Path        string `json:"path"`
	PerPage     int    `json:"per_page"`
	To          *int   `json:"to"`
	Total       int    `json:"total"`
}

// Next is the page's next-page link: "" at the end. known is false when
// the links carry neither key — the answer does not say whether more
// pages follow. Both keys present with different values is an error.
func (p *Page) Next() (next string, known bool, err error) {
	var seen []string
	var vals []string
	for _, k := range []string{"next", "next_page"} {
		raw, ok := p.Links[k]
		if !ok {
			continue
		}
		var s *string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", true, &PagingError{Reason: "links." + k + " is not a link or null: " + string(raw)}
		}
		seen = append(seen, k)
		v := ""
		if s != nil {
			v = *s
		}
		vals = append(vals, v)
	}
	switch len(seen) {
	case 0:
		return "", false, nil
	case 2:
		if vals[0] != vals[1] {
			return "", true, &PagingError{Reason: "links.next and links.next_page disagree (" + quoteOrNull(vals[0]) + " and " + quoteOrNull(vals[1]) + ")"}
		}
	}
	return vals[0], true, nil
}

func quoteOrNull(s string) string {
	if s == "" {
		return "null"
	}
	return `"` + s + `"`
}

// Error is the body of a non-2xx answer.
type Error struct {
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors,omitempty"`
}

// SentRequest is PUT /messages/{id}/sent's body (seed 000): sent_at is "Time
// stamp of when the message was sent (Iso8601 ZuluString)".
type SentRequest struct {
	SentAt   string `json:"sent_at"`
	SentNote string `json:"sent_note,omitempty"`
}

// ZuluLayout is the ISO-8601 Zulu time tracezilla documents (seed 000's
// example "2024-01-01T13:25:32.312Z").
const ZuluLayout = "2006-01-02T15:04:05.000Z"

// ParseTime reads a tracezilla time: RFC 3339 with or without fractions,
// "Z" or an offset.
func ParseTime(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}

// MessagePath is GET /messages/{id}'s path below the base.
func MessagePath(id string) string { return "/messages/" + url.PathEscape(id) }

// SentPath is PUT /messages/{id}/sent's path below the base.
func SentPath(id string) string { return MessagePath(id) + "/sent" }
