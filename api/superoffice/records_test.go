package superoffice

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSlevel(t *testing.T) {
	for in, want := range map[string]string{
		"Internal": "Internal", "internal": "Internal", " EXTERNAL ": "External", "Unknown": "Unknown",
		`NO:"Intern";US:"Internal"`: "Internal", `US:"External";NO:"Ekstern"`: "External", `GB:"Internal"`: "Internal",
	} {
		got, err := Slevel(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"[SR_SLEVEL_INTERNAL]", "Intern", `NO:"Intern"`, "Internal message"} {
		_, err := Slevel(bad)
		assert.Error(t, err, bad)
	}
	_, err := Slevel("[SR_SLEVEL_INTERNAL]")
	assert.ErrorContains(t, err, "resource id")
}

func TestDirection(t *testing.T) {
	emp := map[string]any{"AssociateId": int64(17), "Type": "Employee"}
	person := map[string]any{"PersonId": int64(5011)}
	cases := []struct {
		name   string
		entity map[string]any
		want   string
	}{
		{"no entity", nil, Unknown},
		{"internal", map[string]any{"Slevel": "Internal", "CreatedBy": emp}, Internal},
		{"an associate wrote it", map[string]any{"Slevel": "External", "CreatedBy": emp}, Outgoing},
		{"a reply that names its person", map[string]any{"Slevel": "External", "CreatedBy": emp, "Person": person}, Outgoing},
		{"from the person, no creator", map[string]any{"Slevel": "External", "CreatedBy": nil, "Person": person}, Incoming},
		{"from the person, associate 0", map[string]any{"CreatedBy": map[string]any{"AssociateId": int64(0)}, "Person": person}, Incoming},
		{"from the person, the system user", map[string]any{"CreatedBy": map[string]any{"AssociateId": int64(1), "Type": "SystemAssociate"}, "Person": person}, Incoming},
		{"person 0", map[string]any{"Person": map[string]any{"PersonId": int64(0)}}, Automatic},
		{"the system alone", map[string]any{"CreatedBy": map[string]any{"AssociateId": int64(1), "Type": "SystemAssociate"}}, Automatic},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Direction(c.entity), c.name)
	}
}

func TestDecodeRow(t *testing.T) {
	oslo, _ := time.LoadLocation("Europe/Oslo")
	r, err := DecodeRow([]byte(`{"PrimaryKey":801,"EntityName":"ticketmessage","ticketMessageId":801,"createdAt":"2024-07-01T11:00:00",
		"slevel":"internal","ticket/title":"Brakes","ticket/person/personId":5011,"person/personId":"","body":"x"}`), oslo)
	require.NoError(t, err)
	assert.Equal(t, int64(801), r.ID)
	assert.Equal(t, time.Date(2024, 7, 1, 9, 0, 0, 0, time.UTC), r.CreatedAt)
	assert.Equal(t, "Internal", r.Fields["slevel"])
	assert.Equal(t, map[string]any{"title": "Brakes", "person": map[string]any{"personId": int64(5011)}}, r.Fields["ticket"])
	assert.Equal(t, map[string]any{"personId": ""}, r.Fields["person"])

	for in, why := range map[string]string{
		`{"createdAt":"2024-07-01T11:00:00"}`:                                       "ticketMessageId",
		`{"ticketMessageId":1,"createdAt":"01.07.2024"}`:                            "createdAt",
		`{"ticketMessageId":1}`:                                                     "createdAt",
		`{"ticketMessageId":1,"createdAt":"2024-07-01T11:00:00","slevel":"[SR_X]"}`: "slevel",
	} {
		_, err := DecodeRow([]byte(in), oslo)
		assert.ErrorContains(t, err, why, in)
	}
}
