// Package superoffice is SuperOffice Service's ticket-message API in one
// place — wire types, authentication and its renewal, the headers every
// request carries, dates, the archive's columns and records, error decoding
// and the sink's schema — shared by the superoffice source, the superoffice
// sink and the sandbox fake.
//
// The tenant's API is https://{env}.superoffice.com/{CustNNNNN}/api/v1; its
// live host comes from GET https://{env}.superoffice.com/api/state/{CustNNNNN}.
//
//   - GET {base}/TicketMessage?$select=…&$filter=…&$orderBy=…&$top=N&$skip=M
//     runs the archive provider "TicketMessage" (SuperOfficeDocs,
//     docs/en/api/archive-providers/reference/ticketmessage.md): rows of the
//     selected columns, and odata.nextLink while there are more.
//   - GET {base}/TicketMessage/{id} is the TicketMessageEntity: CreatedBy
//     (the associate who wrote it) and Person (for an incoming message) are
//     there only (reference/restful/rest/TicketMessage/
//     v1TicketMessageEntity_GetTicketMessageEntity.md; seed 004).
//   - PATCH {base}/TicketMessage/{id} takes a JSON merge patch and honours
//     If-Unmodified-Since with a 412 (v1TicketMessageEntity_PatchTicketMessageEntity.md).
//     PUT saves the whole entity and may notify (seed 004): never used.
package superoffice

import (
	"encoding/json"
	"strings"
)

// Page is an archive answer: follow odata.nextLink until it is absent.
type Page struct {
	NextLink string            `json:"odata.nextLink,omitempty"`
	Value    []json.RawMessage `json:"value"`
}

// Columns are the archive columns the source selects by default: the
// message's own (ticketmessage.md lists no id, type, messageCategory or
// createdBy column), the ticket's title and contact, and the message's
// person.
var Columns = []string{"ticketMessageId", "ticketId", "createdAt", "author", "slevel", "searchTitle", "body", "htmlBody",
	"messageId", "important", "ticket/title", "ticket/person/personId", "person/personId", "person/fullName"}

// KeyColumns are always selected: a record's id and the order the source
// reads in.
var KeyColumns = []string{"ticketMessageId", "createdAt"}

// DateColumns are the archive's datetime columns (ticketmessage.md,
// restriction "datetime") the source reads as instants.
var DateColumns = map[string]bool{
	"createdAt": true, "ticket/createdAt": true, "ticket/lastChanged": true, "ticket/readByOwner": true,
	"ticket/firstReadByOwner": true, "ticket/firstReadByUser": true, "ticket/readByCustomer": true,
	"ticket/repliedAt": true, "ticket/closedAt": true, "ticket/activated": true, "ticket/deadline": true,
}

// OrderBy orders the archive by creation and then by id: with createdAt
// alone, messages created in the same second come back in any order from one
// page to the next, and $skip paging skips some and repeats others.
const OrderBy = "createdAt,ticketMessageId"

// State is the answer of GET https://{env}.superoffice.com/api/state/{CustNNNNN}.
type State struct {
	Endpoint   string `json:"Endpoint"`
	State      string `json:"State"`
	IsRunning  bool   `json:"IsRunning"`
	ValidUntil string `json:"ValidUntil"`
	Api        string `json:"Api,omitempty"`
}

// Error is the body of a non-2xx answer of the API; the token endpoint
// answers OAuth's {error, error_description}.
type Error struct {
	Error            string `json:"Error"`
	ErrorType        string `json:"ErrorType,omitempty"`
	Message          string `json:"Message,omitempty"`
	OAuthError       string `json:"error,omitempty"`
	OAuthDescription string `json:"error_description,omitempty"`
}

// DecodeError reads an error body: the error type (or OAuth error) as the
// code, and the words; all "" when the body is not SuperOffice's.
func DecodeError(body []byte) (code, message, requestID string) {
	var e Error
	if json.Unmarshal(body, &e) != nil {
		return "", "", ""
	}
	if e.OAuthError != "" {
		return e.OAuthError, e.OAuthDescription, ""
	}
	return e.ErrorType, strings.TrimSpace(e.Error + " " + e.Message), ""
}

// Enum names, as the entity carries them (seed 004; VENDORS.md).
var (
	Slevels    = []string{"Unknown", "Internal", "External"}
	Types      = []string{"Unknown", "Plain", "Html"}
	Categories = []string{"Message", "Bounce", "OutboxFailed"}
)

// Language is what every request asks for: without Accept-Language, list
// values come back as resource ids or multi-language strings
// (NO:"Intern";US:"Internal") ("Headers" page, Multiple languages).
const Language = "en"
