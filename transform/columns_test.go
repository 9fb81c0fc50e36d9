package transform

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quickstartColumns is the quick start CSV's header.
var quickstartColumns = strings.Split("id,department_uuid,customer_uuid,channel,direction,sent_at,created_at,subject,body_text,body_html,user_uuid,attachment_url", ",")

// Issue 11 (3): a typo in a source column compiled, read nil on every
// record and dropped the field, or switched a where rule off.
func TestCheckColumns(t *testing.T) {
	const head = "version: 1\nsink: mykaarma\n"
	const route = "route:\n  department: row.department_uuid\n  customer: row.customer_uuid\n"
	tests := []struct {
		Name   string
		Src    string
		Known  []string
		Want   []string // the errors, in order
		Unread []string
	}{
		{"Subject typo", head + route + "fields:\n  sourceUuid: uuid5(\"csv\", row.id)\n  messageAttributes.body: row.body_text\n  messageAttributes.subject: row.subjekt\n",
			quickstartColumns,
			[]string{`m.yaml:9: fields.messageAttributes.subject: row.subjekt: the source has no column "subjekt" (did you mean "subject"?)`},
			[]string{"channel", "direction", "sent_at", "created_at", "subject", "body_html", "user_uuid", "attachment_url"}},
		{"Where typo switches the filter off", head + "where: 'row.knd != \"NOTE\"'\n" + route + "fields:\n  sourceUuid: uuid5(\"csv\", row.id)\n  messageAttributes.body: row.body\n",
			[]string{"id", "kind", "department_uuid", "customer_uuid", "body"},
			[]string{`m.yaml:3: where: row.knd: the source has no column "knd" (did you mean "kind"?)`},
			[]string{"kind"}},
		{"Every form of access", head + route + "fields:\n" +
			"  sourceUuid: uuid5(\"csv\", row[\"message id\"])\n" +
			"  messageAttributes.body: 'row?.body ?? row.text ?? get(row, \"html\")'\n" +
			"  messageAttributes.subject: row.meta.subject\n" +
			"  userUuid: 'row.Agent'\n",
			[]string{"message id", "body", "text", "html", "meta", "agent", "department_uuid", "customer_uuid"},
			[]string{`m.yaml:10: fields.userUuid: row.Agent: the source has no column "Agent" (did you mean "agent"?)`},
			[]string{"agent"}},
		{"A name that is no identifier", head + route + "fields:\n  sourceUuid: uuid5(\"csv\", row[\"mesage id\"])\n  messageAttributes.body: row.body\n",
			[]string{"message id", "body", "department_uuid", "customer_uuid"},
			[]string{`m.yaml:7: fields.sourceUuid: row["mesage id"]: the source has no column "mesage id" (did you mean "message id"?)`},
			[]string{"message id"}},
		{"Separators", head + route + "fields:\n  sourceUuid: uuid5(\"csv\", row.id)\n  messageAttributes.body: row.body\n  sentOn: time(row.sentAt)\n",
			[]string{"id", "body", "sent_at", "department_uuid", "customer_uuid"},
			[]string{`m.yaml:9: fields.sentOn: row.sentAt: the source has no column "sentAt" (did you mean "sent_at"?)`}, []string{"sent_at"}},
		{"No suggestion for a name far from all", head + route + "fields:\n  sourceUuid: uuid5(\"csv\", row.id)\n  messageAttributes.body: row.body\n  userUuid: row.zzzzzz\n",
			[]string{"id", "body", "department_uuid", "customer_uuid"},
			[]string{`m.yaml:9: fields.userUuid: row.zzzzzz: the source has no column "zzzzzz"`}, nil},
		{"Route and keep", head + "route:\n  department: row.department\n  customer: row.customer_uuid\nkeep: [ticket_id, tickt_id]\nfields:\n  sourceUuid: uuid5(\"csv\", row.id)\n  messageAttributes.body: row.body\n",
			[]string{"id", "body", "department_uuid", "customer_uuid", "ticket_id"},
			[]string{`m.yaml:4: route.department: row.department: the source has no column "department" (did you mean "department_uuid"?)`,
				`m.yaml:6: keep: the source has no column "tickt_id" (did you mean "ticket_id"?)`},
			[]string{"department_uuid"}},
		{"A computed key reads any column: no unread hint", head + route + "fields:\n  sourceUuid: uuid5(\"csv\", row.id)\n  messageAttributes.body: 'row[row.body_column]'\n",
			[]string{"id", "body_column", "a", "b", "department_uuid", "customer_uuid"}, nil, nil},
		{"The row passed whole: no unread hint", head + route + "fields:\n  sourceUuid: uuid5(\"csv\", row.id)\n  messageAttributes.body: toJSON(row)\n",
			[]string{"id", "a", "department_uuid", "customer_uuid"}, nil, nil},
		{"lookup() does not read the row whole", head + route + "fields:\n  sourceUuid: uuid5(\"csv\", row.id)\n  messageAttributes.body: row.body\n  userUuid: lookup(\"users\", row.agent)\nlookups:\n  users: {file: users.csv, key: email, value: uuid}\n",
			[]string{"id", "body", "agent", "unused", "department_uuid", "customer_uuid"}, nil, []string{"unused"}},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			m, err := ParseMapping("m.yaml", []byte(tt.Src), t.TempDir())
			require.NoError(t, err)
			opts := Options{}
			if strings.Contains(tt.Src, "lookup(") {
				opts.Tables = map[string]map[string]string{"users": {}}
			}
			p, err := Compile(m, opts)
			require.NoError(t, err, "the mapping compiles: only the data shows the typo")
			errs, unread := p.CheckColumns(tt.Known)
			var got []string
			for _, e := range errs {
				var ce *ColumnError
				require.True(t, errors.As(e, &ce), "told apart by type")
				got = append(got, e.Error())
			}
			assert.Equal(t, tt.Want, got)
			assert.Equal(t, tt.Unread, unread)
		})
	}
}

func TestCheckColumnsUnknownSource(t *testing.T) {
	p, err := compile(t, header+"  messageAttributes.body: row.anything\n", Options{})
	require.NoError(t, err)
	errs, unread := p.CheckColumns(nil)
	assert.Empty(t, errs, "a source that does not know its columns is not checked")
	assert.Nil(t, unread)
}

func TestUnreadHint(t *testing.T) {
	assert.Equal(t, "", UnreadHint(nil))
	assert.Equal(t, "hint: no expression reads 2 of the source's columns: legacy_id, notes", UnreadHint([]string{"legacy_id", "notes"}))
}

// validate printed the schema's field count as the mapping's.
func TestFields(t *testing.T) {
	p, err := compile(t, header+"  messageAttributes.body: row.b\n  sentOn: time(row.t)\n", Options{})
	require.NoError(t, err)
	assert.Equal(t, []string{"sourceUuid", "sentOn", "messageAttributes.body"}, p.Fields(), "the fields the mapping sets, in wire order")
}
