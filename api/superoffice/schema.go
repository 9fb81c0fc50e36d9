package superoffice

import "github.com/msgmigrate/msgmigrate/schema"

// Schema is the TicketMessageEntity fields a mapping may set in
// a JSON merge patch, PATCH /api/v1/TicketMessage/{id} (load/superoffice).
// Enums are sent as names.
var Schema = &schema.Schema{
	Sink:  "superoffice",
	Route: []string{"id"},
	Fields: []schema.Field{
		{Path: "Author", Type: schema.String},
		{Path: "Slevel", Type: schema.String, Enum: Slevels},
		{Path: "Type", Type: schema.String, Enum: Types},
		{Path: "MessageCategory", Type: schema.String, Enum: Categories},
		{Path: "Body", Type: schema.String},
		{Path: "HtmlBody", Type: schema.String},
		{Path: "MessageId", Type: schema.String},
		{Path: "TimeSpent", Type: schema.Int},
		{Path: "Important", Type: schema.Bool},
		{Path: "Language", Type: schema.String},
		{Path: "SearchTitle", Type: schema.String},
		{Path: "Badge", Type: schema.String},
		{Path: "CustomFields", Type: schema.Object},
		{Path: "ExtraFields", Type: schema.Object},
	},
}

func init() { schema.Register(Schema) }
