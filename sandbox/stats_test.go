package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/msgmigrate/msgmigrate/api/mykaarma"
)

func items(ids ...string) string {
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = fmt.Sprintf(`{"sourceUuid":%q,"sentOn":"2024-01-01T00:00:00.000Z","messageAttributes":{"body":"x","type":"INCOMING","protocol":"TEXT"}}`, id)
	}
	return `{"saveMessageRequestList":[` + strings.Join(list, ",") + `]}`
}

// What a benchmark checks of a run in another process: every message once,
// and what each request did — in the count-only mode as in the full one.
func TestStatsCountEachMessageOnce(t *testing.T) {
	for _, countOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("CountOnly=%v", countOnly), func(t *testing.T) {
			s := Start(Config{MyKaarma: MyKaarmaConfig{Username: "u", Password: "p", CountOnly: countOnly, Faults: Faults{Latency: time.Millisecond}}})
			defer s.Close()
			url := s.MyKaarmaURL() + api.Path(dept, cust)
			batch := strings.Replace(items("a", "b", "c", "bad"), `"protocol":"TEXT"}}]}`, `"protocol":"SMS"}}]}`, 1)
			for range 2 { // the second time, a loader that forgot what it sent
				resp, body := put(t, url, "u", "p", "application/json", batch)
				require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			}
			resp, _ := put(t, url, "u", "wrong", "application/json", items("d"))
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			resp, _ = put(t, url, "u", "p", "application/json", items("d"))
			require.Equal(t, http.StatusOK, resp.StatusCode)

			st, err := FetchStats(t.Context(), http.DefaultClient, s.URL())
			require.NoError(t, err)
			assert.Equal(t, int64(4), st.Requests)
			assert.Equal(t, int64(9), st.Items)
			assert.Equal(t, int64(7), st.Accepted)
			assert.Equal(t, int64(2), st.Rejected)
			assert.Equal(t, int64(4), st.Unique, "a, b, c, d")
			assert.Equal(t, int64(3), st.Duplicates, "a, b, c again")
			assert.Equal(t, countOnly, st.CountOnly)
			assert.Equal(t, 0.001, st.LatencySeconds)
			var perSecond int64
			for _, c := range st.PerSecond {
				perSecond += c.Requests
			}
			assert.Equal(t, st.Requests, perSecond)
			require.NotNil(t, st.FirstRequest)
			assert.False(t, st.LastRequest.Before(*st.FirstRequest))
		})
	}
}

// The count-only fake answers every request as the full one does: it keeps
// less, it checks the same.
func TestCountOnlyIsAsStrict(t *testing.T) {
	bodies := []struct{ Name, Type, Body string }{
		{"OK", "application/json", items("a", "b")},
		{"NotJSON", "text/plain", items("a")},
		{"Malformed", "application/json", `{"saveMessageRequestList":[`},
		{"Empty", "application/json", `{"saveMessageRequestList":[]}`},
		{"TooMany", "application/json", items("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")},
		{"UnknownTopLevel", "application/json", `{"saveMessageRequestList":[{"sourceUuid":"a","messageAttributes":{"body":"x"}}],"extra":1}`},
		{"Items", "application/json", `{"saveMessageRequestList":[` + strings.Join([]string{
			`{"sourceUuid":"ok","sentOn":"2024-01-01T00:00:00.000Z","messageAttributes":{"body":"x","purpose":"F"}}`,
			`{"sourceUuid":"date","sentOn":"yesterday","messageAttributes":{"body":"x"}}`,
			`{"sourceUuid":"proto","messageAttributes":{"body":"x","protocol":"SMS"}}`,
			`{"sourceUuid":"nobody","messageAttributes":{"type":"NOTE"}}`,
			`{"sourceUuid":"purpose","messageAttributes":{"body":"x","purpose":"FF"}}`,
			`{"sourceUuid":"attach","messageAttributes":{"attachments":[{}]}}`,
			`{"sourceUuid":"notify","messageAttributes":{"body":"x"},"notificationAttributes":{"sendPhoneNotification":true}}`,
			`{"messageAttributes":{"body":"x"}}`,
			`{"sourceUuid":"ok","messageAttributes":{"body":"again"}}`,
		}, ",") + `]}`},
		{"UnknownItemField", "application/json", `{"saveMessageRequestList":[{"sourceUuid":"u","bodyText":"x"},{"sourceUuid":"v","messageAttributes":{"body":"x"}}]}`},
		{"WrongType", "application/json", `{"saveMessageRequestList":[{"sourceUuid":"w","messageAttributes":{"body":1}}]}`},
	}
	// answer is what a client learns: the status, the request's error code,
	// and each item's outcome.
	answer := func(countOnly bool, typ, body string) string {
		s := Start(Config{MyKaarma: MyKaarmaConfig{Username: "u", Password: "p", MaxItems: 9, CountOnly: countOnly}})
		defer s.Close()
		resp, b := put(t, s.MyKaarmaURL()+api.Path(dept, cust), "u", "p", typ, body)
		out := fmt.Sprint(resp.StatusCode)
		if resp.StatusCode != http.StatusOK {
			var e api.APIError
			require.NoError(t, json.Unmarshal(b, &e))
			return out + " " + e.Errors[0].ErrorCode
		}
		var r api.Response
		require.NoError(t, json.Unmarshal(b, &r))
		for _, it := range r.SaveMessageResponse {
			code := "ok"
			if len(it.Errors) > 0 {
				code = it.Errors[0].ErrorCode
			}
			out += " " + it.SourceUUID + "=" + code
		}
		return out
	}
	for _, tt := range bodies {
		t.Run(tt.Name, func(t *testing.T) {
			full := answer(false, tt.Type, tt.Body)
			assert.Equal(t, full, answer(true, tt.Type, tt.Body))
			if tt.Name == "Items" {
				assert.Equal(t, "200 ok=ok date=INVALID_DATE proto=INVALID_PROTOCOL nobody=MISSING_BODY purpose=INVALID_PURPOSE "+
					"attach=INVALID_ATTACHMENT notify=NOTIFICATION_NOT_ALLOWED #7=MISSING_SOURCE_UUID ok=DUPLICATE_SOURCE_UUID", full)
			}
		})
	}
}

// A 200 cut short acknowledges nothing: the client could not read it, and
// sending its items again is no duplicate.
func TestCutShortAnswerAcknowledgesNothing(t *testing.T) {
	s := Start(Config{MyKaarma: MyKaarmaConfig{Username: "u", Password: "p", CountOnly: true, Faults: Faults{Garble: 1}}})
	defer s.Close()
	resp, body := put(t, s.MyKaarmaURL()+api.Path(dept, cust), "u", "p", "application/json", items("a", "b"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Error(t, json.Unmarshal(body, new(api.Response)), "the answer is cut short")
	st := s.SinkStats()
	assert.Equal(t, int64(2), st.Accepted)
	assert.Equal(t, int64(1), st.Faulted)
	assert.Zero(t, st.Unique)
}

// A dropped connection still drops through the meter.
func TestDropGoesThroughTheMeter(t *testing.T) {
	s := Start(Config{MyKaarma: MyKaarmaConfig{Username: "u", Password: "p", Faults: Faults{Drop: 1}}})
	defer s.Close()
	req, err := http.NewRequest(http.MethodPut, s.MyKaarmaURL()+api.Path(dept, cust), strings.NewReader(items("a")))
	require.NoError(t, err)
	req.SetBasicAuth("u", "p")
	req.Header.Set("Content-Type", "application/json")
	_, err = http.DefaultClient.Do(req)
	require.Error(t, err)
	st := s.SinkStats()
	assert.Equal(t, int64(1), st.Requests)
	assert.Equal(t, int64(1), st.Faulted)
}

func TestResetForgetsEverything(t *testing.T) {
	s := Start(Config{MyKaarma: MyKaarmaConfig{Username: "u", Password: "p"}})
	defer s.Close()
	url := s.MyKaarmaURL() + api.Path(dept, cust)
	put(t, url, "u", "p", "application/json", items("a", "b"))
	_, ok := s.MyKaarma.Stored("a")
	require.True(t, ok)

	st, err := ResetStats(t.Context(), http.DefaultClient, s.URL()+"/")
	require.NoError(t, err)
	assert.Equal(t, SinkStats{PerSecond: []SecondCount{}}, st)
	_, ok = s.MyKaarma.Stored("a")
	assert.False(t, ok, "the fake is empty again")
	assert.Zero(t, s.MyKaarma.Unique())

	put(t, url, "u", "p", "application/json", items("a"))
	st = s.SinkStats()
	assert.Equal(t, int64(1), st.Requests)
	assert.Equal(t, int64(1), st.Unique)
	assert.Zero(t, st.Duplicates, "what was sent before the reset is forgotten")

	resp, _ := put(t, s.URL()+StatsPath, "u", "p", "application/json", "{}")
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "stats are read with GET, reset with POST")
}

// Requests are counted by the wall-clock second they arrive in, so a test
// can check a job's rate from outside.
func TestRequestsPerSecond(t *testing.T) {
	s := Start(Config{MyKaarma: MyKaarmaConfig{Username: "u", Password: "p", CountOnly: true}})
	defer s.Close()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	arrivals := []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 999 * time.Millisecond, 1200 * time.Millisecond, 3 * time.Second, 3900 * time.Millisecond}
	next := 0
	s.meter.now = func() time.Time { // requests are sent one at a time
		at := t0.Add(arrivals[next])
		next++
		return at
	}
	url := s.MyKaarmaURL() + api.Path(dept, cust)
	for i := range arrivals {
		put(t, url, "u", "p", "application/json", items(fmt.Sprint(i)))
	}
	st := s.SinkStats()
	sec := t0.Unix()
	assert.Equal(t, []SecondCount{{sec, 3}, {sec + 1, 1}, {sec + 3, 2}}, st.PerSecond)
	assert.Equal(t, int64(3), st.MaxPerSecond)
	assert.Equal(t, t0.Add(100*time.Millisecond), *st.FirstRequest)
	assert.Equal(t, t0.Add(3900*time.Millisecond), *st.LastRequest)
}

func TestFetchStatsSaysWhatIsWrong(t *testing.T) {
	s := Start(Config{})
	defer s.Close()
	_, err := FetchStats(t.Context(), http.DefaultClient, s.URL()+"/nothing-here")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "404")
	assert.Contains(t, err.Error(), "is it a msgmigrate sandbox?")
}

// Whatever the cut, only a complete answer acknowledges: even one cut after
// its list of acknowledged sourceUuids.
func TestOnlyCompleteAnswersAcknowledge(t *testing.T) {
	full, err := json.Marshal(api.Response{SaveMessageResponse: []api.ItemResponse{{SourceUUID: "a"}, {SourceUUID: "b"}},
		SuccesfullySubmittedSourceUuids: []string{"a", "b"}, FailedSourceUuids: []string{}})
	require.NoError(t, err)
	full = append(full, '\n') // as writeJSON's encoder ends it
	list := `"succesfullySubmittedSourceUuids":["a","b"]`
	afterList := strings.Index(string(full), list) + len(list)
	require.Greater(t, afterList, len(list))
	for _, tt := range []struct {
		Name   string
		Body   []byte
		Unique int
	}{
		{"Complete", full, 2},
		{"CutAfterTheList", full[:afterList], 0},
		{"CutAtTheEnd", full[:len(full)-1], 0},
		{"Half", full[:len(full)/2], 0},
		{"Empty", nil, 0},
	} {
		t.Run(tt.Name, func(t *testing.T) {
			m := newMeter()
			m.acknowledged(tt.Body)
			assert.Len(t, m.seen, tt.Unique)
		})
	}
}
