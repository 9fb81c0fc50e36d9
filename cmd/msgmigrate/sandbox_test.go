package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A reading the sandbox does not know is refused before it listens, naming
// the flag and the readings it has.
func TestTheSandboxRefusesAnUnknownReading(t *testing.T) {
	for _, tt := range []struct{ flag, value, want string }{
		{"--mykaarma-answer", "maybe", `--mykaarma-answer "maybe": want both, lists or entries`},
		{"--tracezilla-paging", "cursor", `--tracezilla-paging "cursor": want next, next_page or both`},
		{"--gorgias-update", "merge", `--gorgias-update "merge": want partial or replace`},
	} {
		t.Run(tt.flag, func(t *testing.T) {
			code, _, errs := run(t, "sandbox", "--addr", "127.0.0.1:0", tt.flag, tt.value)
			assert.Equal(t, 1, code)
			assert.Contains(t, errs, tt.want)
		})
	}
}
