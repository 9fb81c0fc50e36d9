package main

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/sandbox"
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

// The sandbox takes the myKaarma fake's credentials from --user/--password
// and refuses others with a 401: a failed login can be rehearsed.
func TestTheSandboxChecksTheCredentialsItIsGiven(t *testing.T) {
	addr := closedPort(t)
	cmd := child(t, "sandbox", "--addr", addr, "--user", "ops", "--password", "s3cret")
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		exitCode(t, cmd)
	}()
	url := "http://" + addr + sandbox.MyKaarmaBase + "/department/d/customer/c/communication/historical"
	put := func(user, password string) int {
		req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(`{"saveMessageRequestList":[]}`))
		require.NoError(t, err)
		req.SetBasicAuth(user, password)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Eventually(t, func() bool { return put("ops", "wrong") != 0 }, 10*time.Second, 10*time.Millisecond, "the sandbox listens")
	assert.Equal(t, http.StatusUnauthorized, put("ops", "wrong"))
	assert.Equal(t, http.StatusUnauthorized, put("sandbox", "sandbox"))
	assert.NotEqual(t, http.StatusUnauthorized, put("ops", "s3cret"))
}
