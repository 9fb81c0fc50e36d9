package load_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/msgmigrate/msgmigrate/load"
)

func TestBodyTextIsTrimmedAndCutOnACharacter(t *testing.T) {
	long := strings.Repeat("a", 299) + "é" + strings.Repeat("b", 50) // é straddles byte 300
	cases := map[string]struct{ body, want string }{
		"short":       {"  <html>bad gateway</html>\n", "<html>bad gateway</html>"},
		"exactly 300": {strings.Repeat("x", 300), strings.Repeat("x", 300)},
		"long":        {strings.Repeat("x", 1000), strings.Repeat("x", 300) + "…"},
		"multibyte":   {long, strings.Repeat("a", 299) + "…"},
		"empty":       {"", ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := load.BodyText([]byte(c.body))
			assert.Equal(t, c.want, got)
			assert.True(t, utf8.ValidString(got))
		})
	}
}

func TestErrorMessagePrefersTheVendorsMessage(t *testing.T) {
	vendor := func(body []byte) string {
		if strings.HasPrefix(string(body), "{") {
			return "the vendor's message"
		}
		return ""
	}
	assert.Equal(t, "the vendor's message", load.ErrorMessage(vendor, []byte(`{"error":"x"}`)))
	assert.Equal(t, "Bad Gateway", load.ErrorMessage(vendor, []byte("Bad Gateway\n")), "not the vendor's format: the body")
	assert.Equal(t, "Bad Gateway", load.ErrorMessage(nil, []byte("Bad Gateway")))
}
