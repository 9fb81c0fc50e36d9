package gorgias_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/msgmigrate/msgmigrate/api/gorgias"
	"github.com/msgmigrate/msgmigrate/transform"
	"github.com/msgmigrate/msgmigrate/transport"
)

func TestParseTimeReadsEveryLayoutGorgiasWrites(t *testing.T) {
	want := time.Date(2024, 5, 1, 9, 0, 2, 123456000, time.UTC)
	for _, s := range []string{
		"2024-05-01T09:00:02.123456+00:00", // events
		"2024-05-01T09:00:02.123456",       // the ticket object: no offset, UTC
		"2024-05-01 09:00:02.123456+00:00", // a space instead of T
		"2024-05-01 09:00:02.123456",
		"2024-05-01T11:00:02.123456+02:00",
		"2024-05-01T09:00:02.123456Z",
	} {
		got, err := api.ParseTime(s)
		require.NoError(t, err, s)
		assert.True(t, want.Equal(got), "%s: %v", s, got)
	}
	got, err := api.ParseTime("2024-05-01T09:00:02+00:00")
	require.NoError(t, err)
	assert.True(t, want.Truncate(time.Second).Equal(got), "without fractions")
	_, err = api.ParseTime("yesterday")
	assert.Error(t, err)
}

func TestDecodeErrorReadsBothShapes(t *testing.T) {
	cases := []struct{ body, want string }{
		{`{"error": "invalid credentials"}`, "invalid credentials"},
		{`{"error": {"msg": "Invalid request", "data": {"channel": ["Unknown channel."]}}}`, `Invalid request: {"channel": ["Unknown channel."]}`},
		{`{"error": {"msg": "Not found"}}`, "Not found"},
		{`{"message": "Bad gateway"}`, "Bad gateway"},
		{`<html>502</html>`, ""},
	}
	for _, c := range cases {
		code, msg, rid := api.DecodeError([]byte(c.body))
		assert.Empty(t, code, "Gorgias gives no codes: the status decides")
		assert.Empty(t, rid)
		assert.Equal(t, c.want, msg, c.body)
	}
}

func FuzzDecodeError(f *testing.F) {
	f.Add([]byte(`{"error": {"msg": "x", "data": {"a": ["b"]}}}`))
	f.Add([]byte(`{"error": "x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = api.DecodeError(b) // never panics
	})
}

func TestParseCallLimit(t *testing.T) {
	cases := []struct {
		in          string
		used, limit int
		ok          bool
	}{
		{"10/40", 10, 40, true}, {" 38 / 40 ", 38, 40, true}, {"0/80", 0, 80, true},
		{"40", 0, 0, false}, {"a/40", 0, 0, false}, {"10/0", 0, 0, false}, {"-1/40", 0, 0, false}, {"", 0, 0, false},
	}
	for _, c := range cases {
		u, l, ok := api.ParseCallLimit(c.in)
		assert.Equal(t, c.ok, ok, c.in)
		if ok {
			assert.Equal(t, []int{c.used, c.limit}, []int{u, l}, c.in)
		}
	}
}

func FuzzParseCallLimit(f *testing.F) {
	f.Add("10/40")
	f.Add("x/y/z")
	f.Fuzz(func(t *testing.T, s string) {
		u, l, ok := api.ParseCallLimit(s)
		if ok && (l <= 0 || u < 0) {
			t.Fatalf("%q: %d/%d accepted", s, u, l)
		}
	})
}

// The budget holds requests back from a tenth of the limit below it, for
// as long as the bucket takes to leak back there — other apps share it.
func TestBudgetWait(t *testing.T) {
	b := api.NewBudget(transport.NewPacer("source gorgias", 0, 1, transport.DefaultPolicy, nil), 20*time.Second, -1, nil)
	cases := []struct {
		used, limit int
		want        time.Duration
	}{
		{0, 40, 0}, {35, 40, 0}, {36, 40, 500 * time.Millisecond}, {40, 40, 2500 * time.Millisecond},
		{71, 80, 0}, {72, 80, 250 * time.Millisecond},
		{1 << 40, 40, 20 * time.Second}, // more than the bucket holds: never longer than its window
	}
	for _, c := range cases {
		assert.Equal(t, c.want, b.Wait(c.used, c.limit), "%d/%d", c.used, c.limit)
	}
	b.Reserve = 0
	assert.Zero(t, b.Wait(39, 40), "no reserve: room for one more")
}

func TestBudgetPausesEveryRequestFromTheHeader(t *testing.T) {
	p := transport.NewPacer("source gorgias", 0, 1, transport.DefaultPolicy, nil)
	b := api.NewBudget(p, time.Hour, -1, nil)
	b.Observe(http.Header{api.CallLimitHeader: {"12/40"}})
	assert.Zero(t, p.Paused(), "room left")
	b.Observe(http.Header{api.CallLimitHeader: {"garbled"}})
	assert.Zero(t, p.Paused())
	b.Observe(http.Header{api.CallLimitHeader: {"38/40"}})
	// (38 - 36 + 1) calls at an hour / 40 each.
	assert.Greater(t, p.Paused(), 4*time.Minute)
	assert.EqualValues(t, 1, b.Stats.Pauses.Load())
	assert.EqualValues(t, 2, b.Stats.Answers.Load())
}

func TestSameReadsValuesAsGorgiasWritesThemBack(t *testing.T) {
	cases := []struct {
		field, want, got string
		same             bool
	}{
		{"sent_datetime", `"2024-05-01T09:00:02.000Z"`, `"2024-05-01T09:00:02.000000+00:00"`, true},
		{"sent_datetime", `"2024-05-01T09:00:02Z"`, `"2024-05-01 09:00:02"`, true},
		{"sent_datetime", `"2024-05-01T09:00:02Z"`, `"2024-05-01T09:00:03Z"`, false},
		{"external_id", `"2024-05-01T09:00:02Z"`, `"2024-05-01 09:00:02"`, false},
		{"external_id", `"a"`, `"a"`, true},
		{"external_id", `"a"`, `null`, false},
		{"external_id", `"a"`, ``, false},
		{"sender", `{"email": "a@b"}`, `{"id": 9, "email": "a@b", "name": "A"}`, true},
		{"sender", `{"email": "a@b"}`, `{"id": 9}`, false},
		{"attachments", `[{"url": "u"}]`, `[{"url": "u", "size": 3}]`, true},
		{"attachments", `[{"url": "u"}]`, `[]`, false},
		{"from_agent", `true`, `true`, true},
		{"from_agent", `true`, `"true"`, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.same, api.Same(c.field, json.RawMessage(c.want), json.RawMessage(c.got)), "%s %s %s", c.field, c.want, c.got)
	}
}

// The write-back's schema: action is refused (it sends or deletes); a
// channel the API does not list yet compiles (channels are an open set);
// channel, via and from_agent need not be mapped (the sink sends the
// message's own).
func TestSchema(t *testing.T) {
	compile := func(fields string) error {
		m, err := transform.ParseMapping("wb.yaml", []byte("version: 1\nsink: gorgias\nroute:\n  ticket_id: row.t\n  id: row.id\nfields:\n"+fields), ".")
		require.NoError(t, err)
		_, err = transform.Compile(m, transform.Options{})
		return err
	}
	err := compile("  external_id: row.x\n  action: '\"force\"'\n")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `wb.yaml:8: fields: "action" may not be mapped`)
	assert.Contains(t, err.Error(), "sends the message")
	assert.NoError(t, compile("  external_id: row.x\n"))
	assert.NoError(t, compile("  channel: '\"tiktok-shop\"'\n  external_id: row.x\n"))
	err = compile("  stripped_text: row.x\n")
	assert.ErrorContains(t, err, `"stripped_text" is not a field of gorgias`, "not a parameter of the update")
}
