package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/msgmigrate/msgmigrate/api/tracezilla"
)

// tzGet reads a path of the tracezilla fake with the token.
func tzGet(t *testing.T, r *Running, path string) (int, map[string]json.RawMessage) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.VendorURL("tracezilla")+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]json.RawMessage
	b, _ := io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(b, &out), "%s", b)
	return resp.StatusCode, out
}

func tzPut(t *testing.T, r *Running, id, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, r.VendorURL("tracezilla")+"/messages/"+id+"/sent", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Each reading serves the keys its source documents.
func TestTracezillaPagingReadings(t *testing.T) {
	cases := map[string]struct {
		links []string
		meta  bool
	}{
		TracezillaPagingNext:     {[]string{"first", "last", "next", "prev"}, true},
		TracezillaPagingNextPage: {[]string{"next_page"}, false},
		TracezillaPagingBoth:     {[]string{"first", "last", "next", "next_page", "prev"}, true},
	}
	for paging, c := range cases {
		t.Run(paging, func(t *testing.T) {
			r := Start(Config{Tracezilla: TracezillaConfig{Token: "tok", Messages: 30, Paging: paging}})
			defer r.Close()
			status, page := tzGet(t, r, "/messages?perPage=10&page=2")
			require.Equal(t, http.StatusOK, status)
			var links map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(page["links"], &links))
			assert.ElementsMatch(t, c.links, keys(links))
			_, hasMeta := page["meta"]
			assert.Equal(t, c.meta, hasMeta)
			if c.meta {
				var m api.Meta
				require.NoError(t, json.Unmarshal(page["meta"], &m))
				assert.Equal(t, api.Meta{CurrentPage: 2, From: ptrInt(11), LastPage: 3, Path: m.Path, PerPage: 10, To: ptrInt(20), Total: 30}, m)
			}
		})
	}
}

func ptrInt(n int) *int { return &n }

// The hazard the source avoids is real in the fake: while messages turn
// from pending to sent, page numbers over updated_at shift, and a reader
// that follows them loses some messages and reads others twice; over
// created_at nothing moves.
func TestTracezillaChurnShiftsPagesByUpdatedAt(t *testing.T) {
	for _, c := range []struct {
		sortBy string
		shifts bool
	}{{"updated_at", true}, {"created_at", false}} {
		t.Run(c.sortBy, func(t *testing.T) {
			r := Start(Config{Tracezilla: TracezillaConfig{Token: "tok", Messages: 300, Churn: 0.05, Seed: 4}})
			defer r.Close()
			seen := map[string]int{}
			for page := 1; ; page++ {
				_, p := tzGet(t, r, fmt.Sprintf("/messages?perPage=20&sortBy=%s&sortDirection=asc&page=%d", c.sortBy, page))
				var data []api.Message
				require.NoError(t, json.Unmarshal(p["data"], &data))
				if len(data) == 0 {
					break
				}
				for _, m := range data {
					seen[m.ID]++
				}
			}
			missed, twice := 0, 0
			for _, m := range r.Tracezilla.Messages() {
				switch seen[m.ID] {
				case 0:
					missed++
				case 1:
				default:
					twice++
				}
			}
			if c.shifts {
				assert.Positive(t, missed+twice, "pages by updated_at shift under churn")
			} else {
				assert.Zero(t, missed+twice, "pages by created_at never shift")
			}
		})
	}
}

// Like the real API, the fake marks a pending or failed message sent when
// asked — and keeps count, so a test can show a write-back never asks.
func TestTracezillaMarkSentDoesWhatItSays(t *testing.T) {
	r := Start(Config{Tracezilla: TracezillaConfig{Token: "tok", Messages: 40}})
	defer r.Close()
	var pending, sent api.Message
	for _, m := range r.Tracezilla.Messages() {
		switch m.Status {
		case api.StatusPending:
			pending = m
		case api.StatusSent:
			sent = m
		}
	}
	require.NotEmpty(t, pending.ID)
	require.NotEmpty(t, sent.ID)

	status, body := tzPut(t, r, sent.ID, `{"sent_at":"`+*sent.SentAt+`","sent_note":"a note"}`)
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"sent_note":"a note"`)
	assert.Empty(t, r.Tracezilla.Damage(), "a note on a sent message, its sent_at kept")

	status, _ = tzPut(t, r, pending.ID, `{"sent_at":"2024-01-01T13:25:32.312Z"}`)
	require.Equal(t, http.StatusOK, status)
	m, _ := r.Tracezilla.Message(pending.ID)
	assert.Equal(t, api.StatusSent, m.Status)
	assert.Equal(t, []string{"message " + pending.ID + ": pending → sent"}, r.Tracezilla.Damage())

	status, _ = tzPut(t, r, sent.ID, `{"sent_at":"2030-01-01T00:00:00Z"}`)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, r.Tracezilla.Damage(), 2, "a sent message's sent_at moved")

	status, body = tzPut(t, r, sent.ID, `{"sent_at":"2024-01-01 13:25:32"}`)
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.Contains(t, body, "ISO-8601 Zulu")
}

// The readings of a single message: status and sent_note shown or not,
// wrapped in data or not.
func TestTracezillaMessageReadings(t *testing.T) {
	cases := map[string]struct {
		cfg          TracezillaConfig
		status, note bool
		wrapped      bool
	}{
		"documented":   {TracezillaConfig{}, true, true, false},
		"no status":    {TracezillaConfig{NoStatus: true}, false, true, false},
		"no sent_note": {TracezillaConfig{HideNote: true}, true, false, false},
		"wrapped":      {TracezillaConfig{Wrap: true}, true, true, true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			c.cfg.Token, c.cfg.Messages = "tok", 3
			r := Start(Config{Tracezilla: c.cfg})
			defer r.Close()
			id := r.Tracezilla.Messages()[0].ID
			status, body := tzGet(t, r, "/messages/"+id)
			require.Equal(t, http.StatusOK, status)
			if c.wrapped {
				require.NoError(t, json.Unmarshal(body["data"], &body))
			}
			_, hasStatus := body["status"]
			_, hasNote := body["sent_note"]
			assert.Equal(t, c.status, hasStatus)
			assert.Equal(t, c.note, hasNote)
			_, secret := body["secret_key"]
			assert.True(t, secret, "the API shows the secret; the source drops it")
		})
	}
}
