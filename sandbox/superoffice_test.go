package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func soDo(t *testing.T, method, url, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer t")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// The fake writes dates as each reading of SO-TimeZone says, in a base zone
// that is not UTC.
func TestSuperOfficeDates(t *testing.T) {
	cases := map[SODates]map[string]string{
		SODatesOffset:   {"": "2024-03-04T09:30:00", "NO, includeTZOffset": "2024-03-04T09:30:00+0100", "US-NY, includeTZOffset": "2024-03-04T03:30:00-0500", "US-NY": "2024-03-04T03:30:00"},
		SODatesColon:    {"NO, includeTZOffset": "2024-03-04T09:30:00.0000000+01:00"},
		SODatesNoOffset: {"US-NY, includeTZOffset": "2024-03-04T03:30:00"},
		SODatesIgnored:  {"US-NY, includeTZOffset": "2024-03-04T09:30:00"},
	}
	for reading, want := range cases {
		s := Start(Config{SuperOffice: SuperOfficeConfig{Token: "t", Messages: 1, Dates: reading}})
		for tz, date := range want {
			_, b := soDo(t, "GET", s.VendorURL("superoffice")+"/TicketMessage?$select=ticketMessageId,createdAt", "", map[string]string{"SO-TimeZone": tz})
			var p struct{ Value []map[string]any }
			require.NoError(t, json.Unmarshal(b, &p), "%s", b)
			assert.Equal(t, date, p.Value[0]["createdAt"], "reading %d, SO-TimeZone %q", reading, tz)
		}
		s.Close()
	}
}

// Strict where the pages leave it open: unknown columns, a literal with an
// offset, a JSON Patch array; lists untranslated without Accept-Language.
func TestSuperOfficeIsStrict(t *testing.T) {
	s := Start(Config{SuperOffice: SuperOfficeConfig{Token: "t", Messages: 40}})
	defer s.Close()
	base := s.VendorURL("superoffice")
	for _, q := range []string{"$select=id,createdAt", "$select=type", "$filter=createdAt%20after%20'2024-03-04T09:30:00Z'", "$orderBy=author"} {
		resp, b := soDo(t, "GET", base+"/TicketMessage?"+q, "", nil)
		assert.Equal(t, 400, resp.StatusCode, "%s: %s", q, b)
	}
	_, b := soDo(t, "GET", base+"/TicketMessage?$select=slevel&$top=40", "", nil)
	assert.Contains(t, string(b), `US:\"External\"`, "no Accept-Language: multi-language strings")
	id := s.SuperOffice.Rows()[0].ID
	resp, _ := soDo(t, "PATCH", base+"/TicketMessage/"+itoa(id), `[{"op":"replace","path":"Body","value":"x"}]`, map[string]string{"Content-Type": "application/json-patch+json"})
	assert.Equal(t, 400, resp.StatusCode, "a JSON Patch array is not faked: refused")
	resp, _ = soDo(t, "PATCH", base+"/TicketMessage/"+itoa(id), `{"Nonsense":1}`, map[string]string{"Content-Type": "application/merge-patch+json"})
	assert.Equal(t, 400, resp.StatusCode)
}

// Ordered by createdAt alone, messages of the same second come in a new
// order on every request — why the source orders by the id too.
func TestSuperOfficeTiesAreUnstableWithoutTheID(t *testing.T) {
	s := Start(Config{SuperOffice: SuperOfficeConfig{Token: "t", Messages: 60}})
	defer s.Close()
	order := func(ob string) string {
		_, b := soDo(t, "GET", s.VendorURL("superoffice")+"/TicketMessage?$select=ticketMessageId&$top=60&$orderBy="+ob, "", nil)
		return string(b)
	}
	changed := false
	for range 5 {
		changed = changed || order("createdAt") != order("createdAt")
	}
	assert.True(t, changed, "ties shuffle")
	assert.Equal(t, order("createdAt,ticketMessageId"), order("createdAt,ticketMessageId"))
}

// PUT saves the whole entity: what it does not carry is cleared. PATCH
// changes what it names, and refuses with 412 a change since the time given.
func TestSuperOfficeSaves(t *testing.T) {
	s := Start(Config{SuperOffice: SuperOfficeConfig{Token: "t", Messages: 3}})
	defer s.Close()
	base := s.VendorURL("superoffice")
	id := s.SuperOffice.Rows()[0].ID
	resp, b := soDo(t, "PATCH", base+"/TicketMessage/"+itoa(id), `{"CustomFields":{"x_mykaarma_message_id":"m"},"Important":true}`, map[string]string{"Content-Type": "application/merge-patch+json"})
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	e, saves, _ := s.SuperOffice.Entity(id)
	assert.Equal(t, 1, saves)
	assert.NotEmpty(t, e["Body"])
	assert.Equal(t, "m", e["CustomFields"].(map[string]any)["x_mykaarma_message_id"])

	resp, _ = soDo(t, "PATCH", base+"/TicketMessage/"+itoa(id), `{"Important":false}`, map[string]string{"Content-Type": "application/merge-patch+json",
		"If-Unmodified-Since": time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)})
	assert.Equal(t, 412, resp.StatusCode)

	resp, _ = soDo(t, "PUT", base+"/TicketMessage/"+itoa(id)+"?notify=false", `{"Important":true}`, nil)
	require.Equal(t, 200, resp.StatusCode)
	e, _, _ = s.SuperOffice.Entity(id)
	assert.Empty(t, e["Body"], "PUT cleared what it did not carry")
	assert.Nil(t, e["CustomFields"].(map[string]any)["x_mykaarma_message_id"])
	resp, _ = soDo(t, "PUT", base+"/TicketMessage/"+itoa(id)+"?notify=true", `{}`, nil)
	assert.Equal(t, 400, resp.StatusCode)
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
