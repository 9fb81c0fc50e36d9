package ezimanager

import "encoding/json"

// ErrorText is the message in an EziManager error body, or "" when the body
// is not one: the caller then shows the body itself.
func ErrorText(body []byte) string {
	var e Error
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Message
}
