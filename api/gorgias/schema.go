package gorgias

import "github.com/msgmigrate/msgmigrate/schema"

// Actions are the policies the update's ?action= query accepts.
var Actions = []string{"force", "retry", "cancel"}

// Schema is PUT /api/tickets/{ticket_id}/messages/{id}'s body, as the mapping
// compiler checks it. "action" is sent as the query parameter, not in the body.
var Schema = &schema.Schema{
	Sink:  "gorgias",
	Route: []string{"ticket_id", "id"},
	Fields: []schema.Field{
		{Path: "channel", Type: schema.String, Enum: Channels, Required: true},
		{Path: "via", Type: schema.String, Required: true},
		{Path: "from_agent", Type: schema.Bool, Required: true},
		{Path: "external_id", Type: schema.String, MaxLen: 255},
		{Path: "subject", Type: schema.String},
		{Path: "body_text", Type: schema.String},
		{Path: "body_html", Type: schema.String},
		{Path: "stripped_text", Type: schema.String},
		{Path: "message_id", Type: schema.String},
		{Path: "sent_datetime", Type: schema.Time},
		{Path: "failed_datetime", Type: schema.Time},
		{Path: "sender", Type: schema.Object},
		{Path: "receiver", Type: schema.Object},
		{Path: "source", Type: schema.Object},
		{Path: "attachments", Type: schema.ObjectList},
		{Path: "action", Type: schema.String, Enum: Actions},
	},
}

func init() { schema.Register(Schema) }
