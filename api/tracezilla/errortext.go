package tracezilla

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// ErrorText is the message in a tracezilla error body with its per-field
// errors (in field order, so the same error reads the same every time), or
// "" when the body is not one: the caller then shows the body itself.
func ErrorText(body []byte) string {
	var e Error
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		return ""
	}
	var sb strings.Builder
	sb.WriteString(e.Message)
	for _, field := range slices.Sorted(maps.Keys(e.Errors)) {
		sb.WriteString("; " + field + ": " + strings.Join(e.Errors[field], ", "))
	}
	return sb.String()
}
