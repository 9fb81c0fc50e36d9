package ezimanager

import "github.com/msgmigrate/msgmigrate/schema"

// Schema is the Message fields a mapping may set in PUT api/message/{id}.
// Times go out without an offset, UTC by name, as the vendor writes them.
var Schema = &schema.Schema{
	Sink:  "ezimanager",
	Route: []string{"id"},
	Fields: []schema.Field{
		{Path: "priority", Type: schema.Int},
		{Path: "createdUtc", Type: schema.Time, TimeLayout: TimeLayout},
		{Path: "receivedUtc", Type: schema.Time, TimeLayout: TimeLayout},
		{Path: "rsvpUtc", Type: schema.Time, TimeLayout: TimeLayout},
		{Path: "sender", Type: schema.String, MaxLen: 255},
		{Path: "action", Type: schema.Int},
		{Path: "document", Type: schema.String},
		{Path: "documentType", Type: schema.String, MaxLen: 255},
		{Path: "external", Type: schema.Bool},
		{Path: "storeName", Type: schema.String},
		{Path: "users", Type: schema.StringList},
		{Path: "machines", Type: schema.StringList},
	},
}

func init() { schema.Register(Schema) }
