package tracezilla

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestErrorText(t *testing.T) {
	cases := map[string]struct{ body, want string }{
		"message":      {`{"message":"Unauthenticated."}`, "Unauthenticated."},
		"field errors": {`{"message":"The given data was invalid.","errors":{"sent_note":["too long"],"sent_at":["not a date","required"]}}`, "The given data was invalid.; sent_at: not a date, required; sent_note: too long"},
		"not json":     {`<html>502</html>`, ""},
		"other json":   {`{"error":"x"}`, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { assert.Equal(t, c.want, ErrorText([]byte(c.body))) })
	}
}
