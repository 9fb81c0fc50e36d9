package gorgias

import "github.com/msgmigrate/msgmigrate/schema"

// Schema is the update's body (seed 001) as the mapping compiler checks a
// write-back mapping: the writable fields and nothing else.
//
// channel, via and from_agent are required by the update, but not of the
// mapping: the sink reads the message and sends its own values back unless
// the mapping sets them. channel is LegacyChannelSlug | string, an open
// set: it carries no enum, so a message on a channel that did not exist
// when this was written is written back as it is.
var Schema = &schema.Schema{
	Sink:  "gorgias",
	Route: []string{"ticket_id", "id"},
	Fields: []schema.Field{
		{Path: "channel", Type: schema.String},
		{Path: "via", Type: schema.String},
		{Path: "from_agent", Type: schema.Bool},
		{Path: "sender", Type: schema.Object},
		{Path: "receiver", Type: schema.Object},
		{Path: "source", Type: schema.Object},
		{Path: "subject", Type: schema.String},
		{Path: "body_text", Type: schema.String},
		{Path: "body_html", Type: schema.String},
		{Path: "attachments", Type: schema.ObjectList},
		{Path: "message_id", Type: schema.String},
		{Path: "external_id", Type: schema.String, MaxLen: 255},
		{Path: "sent_datetime", Type: schema.Time},
		{Path: "failed_datetime", Type: schema.Time},
		{Path: "action", Type: schema.String,
			Forbid: "?action=force sends the message and cancel deletes it (seed 001); a migration never sends or deletes anything"},
	},
}

func init() { schema.Register(Schema) }
