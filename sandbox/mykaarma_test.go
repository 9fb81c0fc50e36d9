package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/msgmigrate/msgmigrate/api/mykaarma"
)

const (
	dept = "3f2b8c1e-6d4a-4f0e-9b7a-1c2d3e4f5a6b"
	cust = "0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b"
)

func put(t *testing.T, url, user, pass, ctype, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	require.NoError(t, err)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// The fake is as strict as the vendor: it never accepts whatever it gets.
func TestMyKaarmaIsStrict(t *testing.T) {
	s := Start(Config{MyKaarma: MyKaarmaConfig{Username: "u", Password: "p", MaxItems: 2}})
	defer s.Close()
	url := s.MyKaarmaURL() + api.Path(dept, cust)
	good := `{"saveMessageRequestList":[{"sourceUuid":"a","messageAttributes":{"body":"x","type":"INCOMING","protocol":"TEXT"}}]}`
	tests := []struct {
		Name, URL, User, Pass, Type, Body string
		Status                            int
		Code                              string
	}{
		{"NoAuth", url, "", "", "application/json", good, 401, "UNAUTHORIZED"},
		{"WrongPassword", url, "u", "x", "application/json", good, 401, "UNAUTHORIZED"},
		{"NotJSON", url, "u", "p", "text/plain", good, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"BadRoute", s.MyKaarmaURL() + api.Path("dept", cust), "u", "p", "application/json", good, 400, "INVALID_DEPARTMENT_UUID"},
		{"Malformed", url, "u", "p", "application/json", `{"saveMessageRequestList":[`, 400, "MALFORMED_JSON"},
		{"Empty", url, "u", "p", "application/json", `{"saveMessageRequestList":[]}`, 400, "EMPTY_REQUEST"},
		{"TooMany", url, "u", "p", "application/json", `{"saveMessageRequestList":[{},{},{}]}`, 400, "REQUEST_TOO_LARGE"},
		{"UnknownPath", s.MyKaarmaURL() + "/nope", "u", "p", "application/json", good, 404, "NOT_FOUND"},
		{"OK", url, "u", "p", "application/json; charset=utf-8", good, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			resp, body := put(t, tt.URL, tt.User, tt.Pass, tt.Type, tt.Body)
			assert.Equal(t, tt.Status, resp.StatusCode, string(body))
			if tt.Code != "" {
				var e api.APIError
				require.NoError(t, json.Unmarshal(body, &e))
				assert.Equal(t, tt.Code, e.Errors[0].ErrorCode)
				assert.NotEmpty(t, e.APIRequestID)
			}
		})
	}
}

func TestMyKaarmaValidatesEachItem(t *testing.T) {
	s := Start(Config{MyKaarma: MyKaarmaConfig{Username: "u", Password: "p"}})
	defer s.Close()
	items := []string{
		`{"sourceUuid":"ok","sentOn":"2024-01-01T00:00:00.000Z","messageAttributes":{"body":"x","purpose":"F"}}`,
		`{"sourceUuid":"date","sentOn":"yesterday","messageAttributes":{"body":"x"}}`,
		`{"sourceUuid":"proto","messageAttributes":{"body":"x","protocol":"SMS"}}`,
		`{"sourceUuid":"nobody","messageAttributes":{"type":"NOTE"}}`,
		`{"sourceUuid":"unknown","bodyText":"x"}`,
		`{"sourceUuid":"notify","messageAttributes":{"body":"x"},"notificationAttributes":{"sendPhoneNotification":true}}`,
		`{"sourceUuid":"ok","messageAttributes":{"body":"again"}}`,
	}
	resp, body := put(t, s.MyKaarmaURL()+api.Path(dept, cust), "u", "p", "application/json",
		`{"saveMessageRequestList":[`+strings.Join(items, ",")+`]}`)
	require.Equal(t, 200, resp.StatusCode)
	var out api.Response
	require.NoError(t, json.NewDecoder(bytes.NewReader(body)).Decode(&out))
	assert.Equal(t, []string{"ok"}, out.SuccesfullySubmittedSourceUuids)
	codes := map[string]string{}
	for _, r := range out.SaveMessageResponse {
		if len(r.Errors) > 0 {
			codes[r.SourceUUID] = r.Errors[0].ErrorCode
		}
	}
	assert.Equal(t, map[string]string{
		"date": "INVALID_DATE", "proto": "INVALID_PROTOCOL", "nobody": "MISSING_BODY",
		"unknown": "INVALID_MESSAGE", "notify": "NOTIFICATION_NOT_ALLOWED", "ok": "DUPLICATE_SOURCE_UUID",
	}, codes)
	st, ok := s.MyKaarma.Stored("ok")
	require.True(t, ok)
	assert.Equal(t, out.SaveMessageResponse[0].MessageUUID, st.MessageUUID)
}

func TestMyKaarmaRateLimitSaysWhenToComeBack(t *testing.T) {
	s := Start(Config{MyKaarma: MyKaarmaConfig{Username: "u", Password: "p", Faults: Faults{RateLimit: 1}}})
	defer s.Close()
	good := `{"saveMessageRequestList":[{"sourceUuid":"a","messageAttributes":{"body":"x"}}]}`
	url := s.MyKaarmaURL() + api.Path(dept, cust)
	resp, _ := put(t, url, "u", "p", "application/json", good)
	require.Equal(t, 200, resp.StatusCode)
	resp, _ = put(t, url, "u", "p", "application/json", good)
	require.Equal(t, 429, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
}
