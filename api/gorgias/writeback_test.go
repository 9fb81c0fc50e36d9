package gorgias_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "github.com/msgmigrate/msgmigrate/api/gorgias"
)

// A message as GET answers it.
const current = `{"id": 1002, "ticket_id": 5334, "public": true, "channel": "email", "via": "email", "from_agent": true,
 "sender": {"id": 9, "email": "agent@shop.example"}, "receiver": {"id": 702, "email": "c@example.com"},
 "source": {"type": "email", "from": {"address": "agent@shop.example"}}, "subject": "Order 1002",
 "body_text": "Where is my order?", "body_html": "<p>Where is my order?</p>", "stripped_text": "Where",
 "attachments": [], "message_id": "<m@x>", "external_id": null, "created_datetime": "2024-05-01T09:01:00.000000",
 "sent_datetime": "2024-05-01T09:01:02.000000+00:00", "failed_datetime": null, "deleted_datetime": null,
 "opened_datetime": "2024-05-02T10:00:00", "uri": "/api/tickets/5334/messages/1002", "integration_id": 12}`

func with(t *testing.T, changes map[string]any) map[string]json.RawMessage {
	t.Helper()
	m, err := api.DecodeObject([]byte(current))
	require.NoError(t, err)
	for k, v := range changes {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		m[k] = b
	}
	return m
}

func TestPlanUpdate(t *testing.T) {
	cases := []struct {
		name      string
		changes   map[string]any
		mapped    string
		overwrite bool
		refusal   string // the Refusal's code, or ""
		noop      bool
	}{
		{name: "stamps external_id", mapped: `{"external_id": "mk-1"}`},
		{name: "already stamped: nothing to send", changes: map[string]any{"external_id": "mk-1"}, mapped: `{"external_id": "mk-1"}`, noop: true},
		{name: "another integration's id", changes: map[string]any{"external_id": "aircall-1"}, mapped: `{"external_id": "mk-1"}`, refusal: api.CodeConflict},
		{name: "another integration's id, overwrite", changes: map[string]any{"external_id": "aircall-1"}, mapped: `{"external_id": "mk-1"}`, overwrite: true},
		{name: "an empty external_id is free", changes: map[string]any{"external_id": ""}, mapped: `{"external_id": "mk-1"}`},
		{name: "no sent_datetime: an update may send it", changes: map[string]any{"sent_datetime": nil}, mapped: `{"external_id": "mk-1"}`, refusal: api.CodeUnsent},
		{name: "no sent_datetime, but the mapping gives one", changes: map[string]any{"sent_datetime": nil}, mapped: `{"sent_datetime": "2024-05-01T09:01:02.000Z"}`},
		{name: "deleted", changes: map[string]any{"deleted_datetime": "2024-05-03T00:00:00"}, mapped: `{"external_id": "mk-1"}`, refusal: api.CodeDeleted},
		{name: "no via to send back", changes: map[string]any{"via": nil}, mapped: `{"external_id": "mk-1"}`, refusal: api.CodeBadMessage},
		{name: "the mapping gives via", changes: map[string]any{"via": nil}, mapped: `{"via": "api", "external_id": "mk-1"}`},
		{name: "a correction of the body", mapped: `{"body_text": "Where is my order #1002?"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cur := with(t, c.changes)
			up, err := api.PlanUpdate(cur, []byte(c.mapped), c.overwrite)
			if c.refusal != "" {
				var r *api.Refusal
				require.ErrorAs(t, err, &r)
				assert.Equal(t, c.refusal, r.Code)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.noop, up.Noop)
			if c.noop {
				assert.Nil(t, up.Body)
				return
			}
			body, err := api.DecodeObject(up.Body)
			require.NoError(t, err)
			mapped, _ := api.DecodeObject([]byte(c.mapped))
			for _, f := range api.Writable {
				want, mappedIt := mapped[f]
				if !mappedIt {
					want = cur[f]
				}
				if string(want) == "null" || want == nil {
					assert.NotContains(t, body, f, "a null field is left out")
					continue
				}
				assert.JSONEq(t, string(want), string(body[f]), "%s: mapped over the message as read", f)
			}
			for f := range body {
				assert.Contains(t, api.Writable, f, "only writable fields are sent")
			}
			assert.NotContains(t, body, "action")
		})
	}
}

// A payload that carries action — a ledger written by an older version, a
// retry — never sends it.
func TestPlanUpdateNeverSendsAction(t *testing.T) {
	up, err := api.PlanUpdate(with(t, nil), []byte(`{"external_id": "mk-1", "action": "cancel"}`), false)
	require.NoError(t, err)
	assert.NotContains(t, string(up.Body), "action")
	assert.NotContains(t, string(up.Body), "cancel")
}

func TestVerify(t *testing.T) {
	cur := with(t, nil)
	up, err := api.PlanUpdate(cur, []byte(`{"external_id": "mk-1"}`), false)
	require.NoError(t, err)
	cases := []struct {
		name    string
		answer  map[string]any
		applied bool
		why     string
	}{
		{name: "applied", answer: map[string]any{"external_id": "mk-1"}, applied: true},
		{name: "applied, datetimes rewritten", answer: map[string]any{"external_id": "mk-1", "sent_datetime": "2024-05-01 09:01:02"}, applied: true},
		{name: "ignored", answer: map[string]any{}, why: `external_id is null, not "mk-1"`},
		{name: "sent again", answer: map[string]any{"external_id": "mk-1", "sent_datetime": "2026-12-01T00:00:00"}, why: `sent_datetime is "2026-12-01T00:00:00", not "2024-05-01T09:01:02.000000+00:00"`},
		{name: "replaced: body cleared", answer: map[string]any{"external_id": "mk-1", "body_text": nil}, why: "body_text was cleared"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			applied, why := api.Verify(up.Body, []byte(`{"external_id": "mk-1"}`), with(t, c.answer))
			assert.Equal(t, c.applied, applied)
			assert.Equal(t, c.why, why)
		})
	}
}
