package ezimanager

import "github.com/msgmigrate/msgmigrate/schema"

// Schema is the Message members a mapping may set in PUT api/message/{id}
// (seed 003). The sink reads the message first and lays these over it: the
// PUT saves the whole message. Times go out without an offset, UTC by name,
// as the vendor writes them. The relations (external, storeName, operators,
// users, machines) may be ignored by the vendor: the sink reads back and
// fails the record as NOT_APPLIED then. stores (a list of integers) has no
// type a mapping can set.
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
		{Path: "operators", Type: schema.StringList},
		{Path: "users", Type: schema.StringList},
		{Path: "machines", Type: schema.StringList},
		{Path: "documentObject", Type: schema.Object,
			Forbid: "the sink never sends documentObject: the vendor may build the document from it, and the document is written as a string (document)"},
		{Path: "identifierGuid", Type: schema.String, Forbid: "the route's id names the message; its identifier is never changed"},
		{Path: "identifier", Type: schema.String, Forbid: "the route's id names the message; its identifier is never changed"},
	},
}

func init() { schema.Register(Schema) }
