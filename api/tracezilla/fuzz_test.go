package tracezilla_test

import (
	"encoding/json"
	"testing"

	api "github.com/msgmigrate/msgmigrate/api/tracezilla"
)

// The readers of what tracezilla answers never panic, whatever it answers.
// go test ./api/tracezilla -fuzz FuzzAnswers
func FuzzAnswers(f *testing.F) {
	f.Add([]byte(`{"data":[{"id":"x"}],"links":{"next":"http://h/p?page=2","next_page":null},"meta":{"current_page":1,"last_page":2,"total":2}}`))
	f.Add([]byte(`{"data":{"id":"be3233c4-c0a2-4f47-a62a-303492c20ba6","status":"sent","sent_at":"2024-01-01T13:25:32.312Z","sent_note":null}}`))
	f.Add([]byte(`{"links":{"next":2}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var p api.Page
		if json.Unmarshal(body, &p) == nil {
			_, _, _ = p.Next()
		}
		if e, err := api.ReadEcho(body); err == nil {
			_, _ = e.Check("be3233c4-c0a2-4f47-a62a-303492c20ba6", api.SentRequest{SentAt: "2024-01-01T13:25:32.312Z", SentNote: "n"})
		}
		if m, _, err := api.DecodeMessage(body); err == nil {
			_ = api.Sendable(m)
			_, _ = api.SentBody(m, body, false)
		}
	})
}
