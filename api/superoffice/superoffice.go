// Package superoffice holds SuperOffice's wire types for ticket messages: the
// OData list's page and row, and the state endpoint that names a tenant's
// live host.
//
// GET {base}/TicketMessage?$select=…&$filter=createdAt after '…'&$orderBy=createdAt&$top=N&$skip=M
// with base https://{env}.superoffice.com/{CustNNNNN}/api/v1.
package superoffice

import "encoding/json"

// Page is an OData list answer: follow odata.nextLink until it is absent.
type Page struct {
	NextLink string            `json:"odata.nextLink,omitempty"`
	Value    []json.RawMessage `json:"value"`
}

// Row is a TicketMessage archive row with the columns the source selects.
type Row struct {
	ID              int64  `json:"id"`
	TicketID        int64  `json:"ticketId"`
	CreatedAt       string `json:"createdAt"`
	Author          string `json:"author"`
	Slevel          string `json:"slevel"` // Unknown | Internal | External
	Type            string `json:"type"`   // Unknown | Plain | Html
	Body            string `json:"body"`
	HTMLBody        string `json:"htmlBody,omitempty"`
	MessageCategory string `json:"messageCategory"` // Message | Bounce | OutboxFailed
	PersonID        int64  `json:"personId,omitempty"`
	PersonEmail     string `json:"personEmail,omitempty"`
	PersonFullName  string `json:"personFullName,omitempty"`
	CreatedBy       int64  `json:"createdBy,omitempty"` // associate id, for messages the staff wrote
	Important       bool   `json:"important"`
	SearchTitle     string `json:"searchTitle"`
}

// Columns are the archive columns the source asks for by default.
var Columns = []string{"id", "ticketId", "createdAt", "author", "slevel", "type", "body", "htmlBody",
	"messageCategory", "personId", "personEmail", "personFullName", "createdBy", "important", "searchTitle"}

// State is the answer of GET https://{env}.superoffice.com/api/state/{CustNNNNN}.
type State struct {
	Endpoint   string `json:"Endpoint"`
	State      string `json:"State"`
	IsRunning  bool   `json:"IsRunning"`
	ValidUntil string `json:"ValidUntil"`
}

// Error is the body of a non-2xx answer.
type Error struct {
	Error   string `json:"Error"`
	Message string `json:"Message,omitempty"`
}

// Enum names.
var (
	Slevels    = []string{"Unknown", "Internal", "External"}
	Types      = []string{"Unknown", "Plain", "Html"}
	Categories = []string{"Message", "Bounce", "OutboxFailed"}
)
