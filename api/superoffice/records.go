package superoffice

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/msgmigrate/msgmigrate/extract/jsonl"
)

// Row is an archive row as a record's fields: columns named a/b/c nested
// (row.ticket.person.personId), datetime columns as instants, slevel as
// one of Slevels, and the row's id.
type Row struct {
	ID        int64
	CreatedAt time.Time
	Fields    map[string]any
}

// DecodeRow reads one archive row. Dates without an offset are read in
// zone. What cannot be read is an error naming the column.
func DecodeRow(raw json.RawMessage, zone *time.Location) (*Row, error) {
	flat, err := jsonl.Decode(raw)
	if err != nil {
		return nil, err
	}
	r := &Row{Fields: map[string]any{}}
	id, ok := intOf(flat["ticketMessageId"])
	if !ok {
		id, ok = intOf(flat["PrimaryKey"])
	}
	if !ok || id <= 0 {
		return nil, fmt.Errorf("a row without a ticketMessageId (%v)", flat["ticketMessageId"])
	}
	r.ID = id
	for col, v := range flat {
		switch {
		case DateColumns[col]:
			s, isText := v.(string)
			if !isText || s == "" {
				if v != nil && v != "" {
					return nil, fmt.Errorf("%s: %v is not a date-time", col, v)
				}
				break
			}
			t, err := ParseDate(s, zone)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", col, err)
			}
			v = t.UTC()
		case col == "slevel" || strings.HasSuffix(col, "/slevel"):
			if s, isText := v.(string); isText && s != "" {
				level, err := Slevel(s)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", col, err)
				}
				v = level
			}
		}
		setPath(r.Fields, col, v)
	}
	t, _ := r.Fields["createdAt"].(time.Time)
	if t.IsZero() {
		return nil, fmt.Errorf("createdAt: no date-time (%v)", flat["createdAt"])
	}
	r.CreatedAt = t
	return r, nil
}

// setPath sets a/b/c in m as nested objects; a column that is also the
// prefix of another keeps its value under "" (never the case in
// ticketmessage.md's columns).
func setPath(m map[string]any, path string, v any) {
	parts := strings.Split(path, "/")
	for _, p := range parts[:len(parts)-1] {
		child, ok := m[p].(map[string]any)
		if !ok {
			child = map[string]any{}
			if old, had := m[p]; had {
				child[""] = old
			}
			m[p] = child
		}
		m = child
	}
	last := parts[len(parts)-1]
	if child, ok := m[last].(map[string]any); ok {
		child[""] = v
		return
	}
	m[last] = v
}

// Roots are the top-level fields a record has for the columns selected.
func Roots(columns []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range columns {
		root, _, _ := strings.Cut(c, "/")
		if !seen[root] {
			seen[root] = true
			out = append(out, root)
		}
	}
	return out
}

func intOf(v any) (int64, bool) {
	switch t := v.(type) {
	case int64:
		return t, true
	case float64:
		return int64(t), t == float64(int64(t))
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		return n, err == nil
	}
	return 0, false
}

var (
	multiLanguage = regexp.MustCompile(`([A-Za-z]{2,3}):"([^"]*)"`)
	resourceID    = regexp.MustCompile(`^\[SR_[A-Z0-9_]+\]$`)
)

// Slevel reads a security level as the archive shows it: display text in the
// request's language, compared without case; a multi-language string
// (NO:"Intern";US:"Internal") by its English part, in case the header was
// not honoured. A resource id ([SR_…]) or anything else is an error: read
// as External, an internal note would reach the customer.
func Slevel(s string) (string, error) {
	s = strings.TrimSpace(s)
	for _, name := range Slevels {
		if strings.EqualFold(s, name) {
			return name, nil
		}
	}
	if m := multiLanguage.FindAllStringSubmatch(s, -1); m != nil {
		for _, lang := range []string{"US", "EN", "GB", "UK"} {
			for _, part := range m {
				if strings.EqualFold(part[1], lang) {
					for _, name := range Slevels {
						if strings.EqualFold(strings.TrimSpace(part[2]), name) {
							return name, nil
						}
					}
				}
			}
		}
	}
	if resourceID.MatchString(s) {
		return "", fmt.Errorf("%q is a resource id, not a level: the tenant did not translate it (Accept-Language: %s)", s, Language)
	}
	return "", fmt.Errorf("%q is not one of %s", s, strings.Join(Slevels, ", "))
}

// DecodeEntity reads a TicketMessageEntity: CreatedAt as an instant (read
// in zone without an offset), Slevel checked against the enum.
func DecodeEntity(raw []byte, zone *time.Location) (map[string]any, error) {
	e, err := jsonl.Decode(raw)
	if err != nil {
		return nil, err
	}
	if s, ok := e["CreatedAt"].(string); ok && s != "" {
		t, err := ParseDate(s, zone)
		if err != nil {
			return nil, fmt.Errorf("entity CreatedAt: %w", err)
		}
		e["CreatedAt"] = t.UTC()
	}
	if s, ok := e["Slevel"].(string); ok && s != "" {
		level, err := Slevel(s)
		if err != nil {
			return nil, fmt.Errorf("entity Slevel: %w", err)
		}
		e["Slevel"] = level
	}
	return e, nil
}

// Directions a message can have, from its entity.
const (
	Internal  = "internal"  // Slevel Internal: a note among staff
	Outgoing  = "outgoing"  // written by an associate (CreatedBy)
	Incoming  = "incoming"  // from the ticket's person (Person)
	Automatic = "automatic" // neither: the system wrote it (an auto-reply)
	Unknown   = "unknown"   // no entity was read
)

// Direction says who a message is from, by its entity: Internal for an
// internal message; Outgoing when an associate who is a person wrote it
// (CreatedBy with an AssociateId, not the system's or an anonymous
// associate); else Incoming when it has a Person ("if this is an incoming
// message, this will contain the person", seed 004); else Automatic.
// CreatedBy comes before Person: an incoming message may name the system
// user as its creator, and a reply may name the person it went to.
func Direction(entity map[string]any) string {
	if entity == nil {
		return Unknown
	}
	if s, _ := entity["Slevel"].(string); strings.EqualFold(s, "Internal") {
		return Internal
	}
	if by, ok := entity["CreatedBy"].(map[string]any); ok {
		id, _ := intOf(by["AssociateId"])
		kind, _ := by["Type"].(string)
		if id > 0 && !strings.EqualFold(kind, "SystemAssociate") && !strings.EqualFold(kind, "AnonymousAssociate") {
			return Outgoing
		}
	}
	if p, ok := entity["Person"].(map[string]any); ok {
		if id, _ := intOf(p["PersonId"]); id > 0 {
			return Incoming
		}
	}
	return Automatic
}
