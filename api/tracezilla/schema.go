package tracezilla

import "github.com/msgmigrate/msgmigrate/schema"

// Schema is PUT /messages/{id}/sent's body, as the mapping compiler checks
// it. sent_at may be left out: the sink sends the message's own (a
// write-back keeps it); a mapped one must be that same instant unless the
// sink is told change_sent_at.
var Schema = &schema.Schema{
	Sink:  "tracezilla",
	Route: []string{"id"},
	Fields: []schema.Field{
		{Path: "sent_at", Type: schema.Time, TimeLayout: ZuluLayout},
		{Path: "sent_note", Type: schema.String, MaxLen: 1000},
	},
}

func init() { schema.Register(Schema) }
