package gorgias

import "encoding/json"

// ErrorText is the message in a Gorgias error body, or "" when the body is
// not one (a proxy's page, say): the caller then shows the body itself.
func ErrorText(body []byte) string {
	var e Error
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error
}
