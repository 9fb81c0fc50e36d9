package tracezilla

import "github.com/msgmigrate/msgmigrate/schema"

// SentRequest is PUT /messages/{id}/sent's body.
type SentRequest struct {
	SentAt   string `json:"sent_at"`
	SentNote string `json:"sent_note,omitempty"`
}

// ZuluLayout is the ISO-8601 Zulu time tracezilla takes.
const ZuluLayout = "2006-01-02T15:04:05.000Z"

// Schema is PUT /messages/{id}/sent's body, as the mapping compiler checks it.
var Schema = &schema.Schema{
	Sink:  "tracezilla",
	Route: []string{"id"},
	Fields: []schema.Field{
		{Path: "sent_at", Type: schema.Time, Required: true, TimeLayout: ZuluLayout},
		{Path: "sent_note", Type: schema.String, MaxLen: 1000},
	},
}

func init() { schema.Register(Schema) }
