// Package tracezilla holds tracezilla's wire types for messages.
//
// GET {base}/messages?perPage=N&sortBy=sent_at|created_at|updated_at&sortDirection=asc|desc
// with base https://app.tracezilla.com/api/v1/{team-slug}.
package tracezilla

import "encoding/json"

// Page is the list endpoint's answer: follow links.next_page until null.
type Page struct {
	Data  []json.RawMessage `json:"data"`
	Links Links             `json:"links"`
}

// Links carries the pagination.
type Links struct {
	NextPage *string `json:"next_page"`
}

// Message is a message record.
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
	SentAt             *string `json:"sent_at"`
	ReadAt             *string `json:"read_at"`
	ReadCount          *int64  `json:"read_count"`
	OpenAt             *string `json:"open_at"`
	OpenCount          *int64  `json:"open_count"`
	SourceModelName    string  `json:"source_model_name"`
	SourceEntityID     string  `json:"source_entity_id"`
	DestModelName      string  `json:"dest_model_name"`
	DestEntityID       string  `json:"dest_entity_id"`
	CreatedAt          string  `json:"created_at"`
	UpdatedAt          string  `json:"updated_at"`
}

// Error is the body of a non-2xx answer.
type Error struct {
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors,omitempty"`
}

// SecretFields are the record fields the source never passes on: they open
// the message's public link.
var SecretFields = []string{"secret_key", "secret_expires"}
