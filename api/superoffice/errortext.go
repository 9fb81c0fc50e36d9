package superoffice

import (
	"encoding/json"
	"strings"
)

// ErrorText is the error and message in a SuperOffice error body, or ""
// when the body is not one: the caller then shows the body itself.
func ErrorText(body []byte) string {
	var e Error
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return ""
	}
	return strings.TrimSpace(e.Error + " " + e.Message)
}
