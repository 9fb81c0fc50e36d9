package transform

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/msgmigrate/msgmigrate/api/mykaarma"
	"github.com/msgmigrate/msgmigrate/msg"
)

const header = "version: 1\nsink: mykaarma\nroute:\n  department: row.d\n  customer: row.c\nfields:\n  sourceUuid: uuid5(\"t\", row.id)\n"

func compile(t *testing.T, src string, opts Options) (*Program, error) {
	t.Helper()
	m, err := ParseMapping("m.yaml", []byte(src), t.TempDir())
	if err != nil {
		return nil, err
	}
	return Compile(m, opts)
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		Name, Src string
		Want      []string // substrings of the error
	}{
		{"UnknownField", header + "  messageAttributes.bdy: row.b\n",
			[]string{`m.yaml:8: fields: "messageAttributes.bdy" is not a field of mykaarma (did you mean "messageAttributes.body"?)`}},
		{"WrongType", header + "  messageAttributes.body: 'true'\n  messageAttributes.isManual: '\"yes\"'\n",
			[]string{"m.yaml:9: messageAttributes.isManual: the field is bool, the expression is string"}},
		{"BadEnumLiteral", header + "  messageAttributes.body: row.b\n  messageAttributes.protocol: 'row.x ? \"SMS\" : \"TEXT\"'\n",
			[]string{`m.yaml:9: messageAttributes.protocol: "SMS" is not one of TEXT, EMAIL, VOICE_CALL, NONE`}},
		{"BadEnumInEnumCall", header + "  messageAttributes.body: row.b\n  messageAttributes.type: 'enum(row.dir, {\"in\": \"INBOUND\"}, \"NOTE\")'\n",
			[]string{`m.yaml:9: messageAttributes.type: "INBOUND" is not one of DRAFT, OUTGOING, INCOMING, NOTE`}},
		{"LiteralTooLong", header + "  messageAttributes.body: row.b\n  messageAttributes.purpose: '\"FF\"'\n",
			[]string{`"FF" is longer than 1 characters`}},
		{"BadTimeLiteral", header + "  messageAttributes.body: row.b\n  sentOn: '\"31/02/2024\"'\n",
			[]string{`m.yaml:9: sentOn: cannot parse "31/02/2024" as a time`}},
		{"Notifications", header + "  messageAttributes.body: row.b\n  notificationAttributes.sendPhoneNotification: 'true'\n",
			[]string{"may not be mapped: a migration must never notify"}},
		{"UnquotedLiteral", header + "  messageAttributes.body: row.b\n  messageAttributes.purpose: F\n",
			[]string{"m.yaml:9: messageAttributes.purpose:", "unknown name F", `a literal string is an expression too: purpose: '"F"'`}},
		{"BareColumn", header + "  messageAttributes.body: upper(bdy)\n",
			[]string{"m.yaml:8: messageAttributes.body:", "hint: to read a source column write row.bdy;"}},
		{"BareColumnAfterALet", header + "  messageAttributes.body: 'let a = row.b; a + c'\n",
			[]string{"hint: to read a source column write row.c;"}},
		{"DoubleQuotedByYAML", header + "  messageAttributes.body: row.b\n  messageAttributes.purpose: \"F\"\n",
			[]string{"YAML removed the double quotes"}},
		{"YAMLColon", header + "  messageAttributes.body: row.b ? \"a\": \"b\"\n",
			[]string{"m.yaml:", "single quotes"}},
		{"NoKey", "version: 1\nsink: mykaarma\nroute: {department: row.d, customer: row.c}\nfields:\n  messageAttributes.body: row.b\n",
			[]string{"fields.sourceUuid is required: it is the item's idempotency key"}},
		{"NoBodyOrAttachment", header, []string{"map at least one of messageAttributes.body, messageAttributes.attachments"}},
		{"MissingRoute", "version: 1\nsink: mykaarma\nroute: {department: row.d}\nfields:\n  sourceUuid: row.id\n  messageAttributes.body: row.b\n",
			[]string{"route.customer is required by sink mykaarma"}},
		{"UnknownRoute", header + "  messageAttributes.body: row.b\n" + "route2: x\n", []string{`m.yaml:9: unknown key "route2"`}},
		{"UnknownLookup", header + "  messageAttributes.body: lookup(\"nope\", row.x)\n", []string{`lookup: no table "nope"`}},
		{"UnknownSink", "version: 1\nsink: nowhere\nfields: {a: b}\n", []string{`sink "nowhere" has no schema (known: mykaarma)`}},
		{"Overlap", header + "  messageAttributes.body: row.b\n  messageAttributes.metaData: '{\"a\": 1}'\n  messageAttributes.metaData.b: '2'\n",
			[]string{"overlap: map the object or its members, not both"}},
		{"Twice", header + "  messageAttributes.body: row.b\n  messageAttributes:\n    body: row.c\n", []string{"is given twice"}},
		{"Version", strings.Replace(header, "version: 1", "version: 2", 1), []string{"m.yaml:1: version must be 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			_, err := compile(t, tt.Src, Options{})
			require.Error(t, err)
			for _, w := range tt.Want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	// An error with no bare name in it gets no column hint.
	_, err := compile(t, header+"  messageAttributes.body: 'row.b + 1 +'\n", Options{})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "to read a source column")
}

func mapOne(t *testing.T, fields string, row map[string]any) (*msg.Item, error) {
	t.Helper()
	p, err := compile(t, header+fields, Options{})
	require.NoError(t, err)
	return p.NewMapper().Map(&msg.Record{Origin: msg.Origin{Source: "messages.csv", Line: 1235}, Fields: row})
}

func TestMapErrorsNameTheOrigin(t *testing.T) {
	base := map[string]any{"id": "1", "d": "D", "c": "C", "b": "hello"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range base {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		Name, Fields string
		Row          map[string]any
		Want         string
	}{
		{"BadTime", "  messageAttributes.body: row.b\n  sentOn: time(row.t)\n", with("t", "31/02/2024"),
			`messages.csv:1235: sentOn: cannot parse "31/02/2024" as a time`},
		{"NoBody", "  messageAttributes.body: row.b\n", with("b", nil),
			"messages.csv:1235: messageAttributes.body or messageAttributes.attachments: no value: one of them is required"},
		{"NoKey", "  messageAttributes.body: row.b\n", with("id", nil), "messages.csv:1235: sourceUuid: uuid5: the name is empty"},
		{"EmptyRoute", "  messageAttributes.body: row.b\n", with("c", nil), "messages.csv:1235: route.customer: no value (the route parameter is empty)"},
		{"BadEnumValue", "  messageAttributes.body: row.b\n  messageAttributes.protocol: row.p\n", with("p", "SMS"),
			`messages.csv:1235: messageAttributes.protocol: "SMS" is not one of [TEXT EMAIL VOICE_CALL NONE]`},
		{"BadBool", "  messageAttributes.body: row.b\n  messageAttributes.isManual: row.m\n", with("m", "maybe"),
			`messages.csv:1235: messageAttributes.isManual: want true or false, got "maybe"`},
		{"BadAttachment", "  messageAttributes.body: row.b\n  messageAttributes.attachments: '[{\"url\": row.b}]'\n", base,
			`messages.csv:1235: messageAttributes.attachments: [0]: unknown field "url"`},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			_, err := mapOne(t, tt.Fields, tt.Row)
			require.Error(t, err)
			var me *msg.Error
			require.True(t, errors.As(err, &me))
			assert.Equal(t, msg.StageMap, me.Stage)
			assert.Contains(t, err.Error(), tt.Want)
		})
	}
}

func TestMapPayload(t *testing.T) {
	fields := `  sentOn: time(row.sent ?? row.created)
  messageAttributes.body: 'row.text ?? htmlToText(row.html)'
  messageAttributes.type: 'row.out ? "OUTGOING" : "INCOMING"'
  messageAttributes.protocol: 'enum(row.ch, {"email": "EMAIL", "sms": "TEXT"}, "TEXT")'
  messageAttributes.subject: row.subject
  messageAttributes.metaData.origin: '"csv"'
  messageAttributes.tags: '["imported"]'
  voiceCallAttributes.callStatus: row.status
`
	it, err := mapOne(t, fields, map[string]any{"id": int64(7), "d": "D", "c": "C", "created": "2024-01-02 03:04:05.5",
		"html": "<p>Hi &amp; <b>bye</b></p><script>x()</script>", "out": true, "ch": "email", "status": "3"})
	require.NoError(t, err)
	assert.Equal(t, msg.Route{"D", "C"}, it.Route)
	want := `{"sourceUuid":"` + it.Key + `","sentOn":"2024-01-02T03:04:05.500Z","messageAttributes":{"body":"Hi & bye","type":"OUTGOING","protocol":"EMAIL","subject":null,"metaData":{"origin":"csv"},"tags":["imported"]},"voiceCallAttributes":{"callStatus":3}}`
	want = strings.Replace(want, `"subject":null,`, "", 1) // nil fields are left out, never null
	assert.JSONEq(t, want, string(it.Payload))
	assert.Equal(t, want, string(it.Payload), "fields in the sink's order")
	k2, err := UUID5("t", int64(7))
	require.NoError(t, err)
	assert.Equal(t, k2, it.Key, "the key is deterministic")
	src, err := msg.DecodeFields(it.Source)
	require.NoError(t, err)
	assert.Equal(t, "email", src["ch"])
}

func TestWhereSkips(t *testing.T) {
	p, err := compile(t, "where: 'row.ch != \"internal-note\"'\n"+header+"  messageAttributes.body: row.b\n", Options{})
	require.NoError(t, err)
	_, err = p.NewMapper().Map(&msg.Record{Fields: map[string]any{"ch": "internal-note"}})
	assert.ErrorIs(t, err, ErrSkipped)
}

func TestLookups(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "customers.csv"), []byte("email,uuid\na@b.c,C-1\n"), 0o644))
	src := strings.Replace(header, "customer: row.c", `customer: lookup("customers", lower(row.email))`, 1) + "  messageAttributes.body: row.b\n"
	m, err := ParseMapping("m.yaml", []byte(src), dir)
	require.NoError(t, err)
	p, err := Compile(m, Options{Lookups: []LookupSpec{{Name: "customers", File: "customers.csv", Key: "email", Value: "uuid", Dir: dir}}})
	require.NoError(t, err)
	it, err := p.NewMapper().Map(&msg.Record{Fields: map[string]any{"id": "1", "d": "D", "email": "A@B.C", "b": "x"}})
	require.NoError(t, err)
	assert.Equal(t, msg.Route{"D", "C-1"}, it.Route)
	_, err = p.NewMapper().Map(&msg.Record{Fields: map[string]any{"id": "1", "d": "D", "email": "nobody@b.c", "b": "x"}})
	assert.ErrorContains(t, err, "route.customer: no value")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.csv"), []byte("email,uuid\na,1\na,2\n"), 0o644))
	_, err = Compile(m, Options{Lookups: []LookupSpec{{Name: "customers", File: "bad.csv", Key: "email", Value: "uuid", Dir: dir}}})
	assert.ErrorContains(t, err, `key "a" has two values (lines 2 and 3)`)
	_, err = Compile(m, Options{Lookups: []LookupSpec{{Name: "customers", File: "bad.csv", Key: "mail", Value: "uuid", Dir: dir}}})
	assert.ErrorContains(t, err, `bad.csv has no column "mail"`)
}

func TestParseTime(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	tests := []struct {
		In   any
		Loc  *time.Location
		Want string
	}{
		{"2025-03-28T11:34:43.227Z", nil, "2025-03-28T11:34:43.227Z"},
		{"2025-03-28T12:34:43+01:00", nil, "2025-03-28T11:34:43.000Z"},
		{"2025-03-28 11:34:43", nil, "2025-03-28T11:34:43.000Z"},
		{"2025-03-28 12:34:43", berlin, "2025-03-28T11:34:43.000Z"},
		{"2025-03-28T11:34:43.1234567", nil, "2025-03-28T11:34:43.123Z"},
		{"2025-03-28", nil, "2025-03-28T00:00:00.000Z"},
		{"1743161683", nil, "2025-03-28T11:34:43.000Z"},
		{"1743161683227", nil, "2025-03-28T11:34:43.227Z"},
		{int64(1743161683), nil, "2025-03-28T11:34:43.000Z"},
		{float64(1743161683227), nil, "2025-03-28T11:34:43.227Z"},
		{time.Date(2025, 3, 28, 12, 34, 43, 0, berlin), nil, "2025-03-28T11:34:43.000Z"},
	}
	for _, tt := range tests {
		v, err := ParseTime(tt.In, tt.Loc)
		require.NoError(t, err, "%v", tt.In)
		assert.Equal(t, tt.Want, FormatTime(v.(time.Time)), "%v", tt.In)
	}
	for _, bad := range []any{"31/02/2024", "2024-02-31", "yesterday", true} {
		_, err := ParseTime(bad, nil)
		assert.Error(t, err, "%v", bad)
	}
	v, err := ParseTime(nil, nil)
	assert.NoError(t, err)
	assert.Nil(t, v)
}

func TestHTMLToText(t *testing.T) {
	tests := []struct{ In, Want string }{
		{"<p>Hello</p><p>World</p>", "Hello\nWorld"},
		{"a<br>b<br/>c", "a\nb\nc"},
		{"<div>  lots   of\n space </div>", "lots of space"},
		{"<style>p{}</style><script>x</script>text &lt;tag&gt; &amp; &eacute;", "text <tag> & é"},
		{"<ul><li>one</li><li>two</li></ul>", "one\ntwo"},
		{"plain", "plain"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.Want, HTMLToText(tt.In), tt.In)
	}
}

func TestUUID5(t *testing.T) {
	a, err := UUID5("gorgias", "123")
	require.NoError(t, err)
	b, _ := UUID5("gorgias", int64(123))
	c, _ := UUID5("superoffice", "123")
	assert.Equal(t, a, b, "numbers and their text give one key")
	assert.NotEqual(t, a, c, "namespaces separate vendors")
	assert.Equal(t, "5", a[14:15], "version 5")
	_, err = UUID5("", "1")
	assert.Error(t, err)
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t", "\x00\x1f", "👍 مرحبا", "\xff\xfe", "\u2028\u2029", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		require.NoError(t, json.Unmarshal(b, &got), "%q → %s", s, b)
		want := strings.ToValidUTF8(s, "\uFFFD")
		if !strings.ContainsRune(s, 0xFFFD) {
			// Byte-exact round trip for valid UTF-8.
			assert.Equal(t, strings.ToValidUTF8(s, "\uFFFD"), got)
		}
		_ = want
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2025-03-28T11:34:43.227Z", "2025-03-28 11:34:43", "1743161683", "31/02/2024", "2025-03-28T11:34:43+0100"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseTime(s, time.UTC)
		if err != nil {
			assert.Contains(t, err.Error(), "cannot")
			return
		}
		if v == nil {
			assert.Empty(t, strings.TrimSpace(s))
			return
		}
		tm := v.(time.Time)
		// Whatever parses must format and parse back to the same millisecond.
		back, err := time.Parse(time.RFC3339Nano, FormatTime(tm))
		require.NoError(t, err)
		assert.True(t, back.Equal(tm.Truncate(time.Millisecond)), "%q: %v vs %v", s, back, tm)
	})
}

// expr's string(nil) is "<nil>": uuid5(ns, string(row.id)) gave every
// record without an id one and the same key.
func TestUUID5OfStringOfAbsentID(t *testing.T) {
	src := strings.Replace(header, `uuid5("t", row.id)`, `uuid5("t", string(row.id))`, 1) + "  messageAttributes.body: row.b\n"
	p, err := compile(t, src, Options{})
	require.NoError(t, err)
	_, err = p.NewMapper().Map(&msg.Record{Origin: msg.Origin{Source: "m.csv", Line: 4}, Fields: map[string]any{"d": "D", "c": "C", "b": "x"}})
	assert.ErrorContains(t, err, `m.csv:4: sourceUuid: uuid5: the name is empty (string() of an absent value is "<nil>": write uuid5(namespace, row.id)`)
}

// Items of one route share one Route; parts that would join alike with a
// separator are still two routes.
func TestRoutesAreSharedAndNeverConfused(t *testing.T) {
	p, err := compile(t, header+"  messageAttributes.body: row.b\n", Options{})
	require.NoError(t, err)
	m := p.NewMapper()
	item := func(d, c, id string) *msg.Item {
		it, err := m.Map(&msg.Record{Origin: msg.Origin{Source: "m.csv", Line: 2}, Fields: map[string]any{"d": d, "c": c, "id": id, "b": "x"}})
		require.NoError(t, err)
		return it
	}
	a1, a2 := item("a\x00b", "c", "1"), item("a\x00b", "c", "2")
	b := item("a", "b\x00c", "3")
	assert.Equal(t, msg.Route{"a\x00b", "c"}, a1.Route)
	assert.Same(t, &a1.Route[0], &a2.Route[0], "one route, one slice")
	assert.Equal(t, msg.Route{"a", "b\x00c"}, b.Route)
}
