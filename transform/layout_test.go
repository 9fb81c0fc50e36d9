package transform

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/msg"
)

func TestParseTimeLayout(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	tests := []struct {
		Name   string
		In     any
		Layout string
		Loc    *time.Location
		Want   string
	}{
		{"Go layout, job zone", "01/03/2024 10:15", "02/01/2006 15:04", berlin, "2024-03-01T09:15:00.000Z"},
		{"strftime, job zone", "01/03/2024 10:15", "%d/%m/%Y %H:%M", berlin, "2024-03-01T09:15:00.000Z"},
		{"strftime, UTC by default", "01/03/2024 10:15", "%d/%m/%Y %H:%M", nil, "2024-03-01T10:15:00.000Z"},
		{"strftime, summer time", "01/07/2024 10:15", "%d/%m/%Y %H:%M", berlin, "2024-07-01T08:15:00.000Z"},
		{"strftime reads 1 or 2 digits", "1/3/2024 9:05", "%d/%m/%Y %H:%M", berlin, "2024-03-01T08:05:00.000Z"},
		{"strftime offset wins over the zone", "2024-03-01 10:15 +0500", "%Y-%m-%d %H:%M %z", berlin, "2024-03-01T05:15:00.000Z"},
		{"strftime month name", "1 March 2024", "%d %B %Y", berlin, "2024-02-29T23:00:00.000Z"},
		{"strftime fraction, six digits", "2024-03-01 10:15:00.250000", "%Y-%m-%d %H:%M:%S.%f", nil, "2024-03-01T10:15:00.250Z"},
		{"a fraction after the seconds needs no directive", "2024-03-01 10:15:00.25", "%Y-%m-%d %H:%M:%S", nil, "2024-03-01T10:15:00.250Z"},
		{"Go offset wins over the zone", "2024-03-01 10:15 -07:00", "2006-01-02 15:04 -07:00", berlin, "2024-03-01T17:15:00.000Z"},
		{"Go zone abbreviation of the job's zone", "2024-07-01 10:15 CEST", "2006-01-02 15:04 MST", berlin, "2024-07-01T08:15:00.000Z"},
		{"a number is its digits", int64(20240301), "%Y%m%d", berlin, "2024-02-29T23:00:00.000Z"},
		{"a time is kept", time.Date(2024, 3, 1, 9, 15, 0, 0, time.UTC), "%d/%m/%Y", berlin, "2024-03-01T09:15:00.000Z"},
		// DST, as time.ParseInLocation (time.Date) does it: a wall time in
		// the spring-forward gap is read with the offset before the change
		// (02:30 → 03:30 CEST); one in the fall-back hour, which happens
		// twice, as the later (standard time) instant.
		{"DST gap", "31/03/2024 02:30", "%d/%m/%Y %H:%M", berlin, "2024-03-31T01:30:00.000Z"},
		{"DST overlap", "27/10/2024 02:30", "%d/%m/%Y %H:%M", berlin, "2024-10-27T01:30:00.000Z"},
		{"DST gap, Go layout", "31/03/2024 02:30", "02/01/2006 15:04", berlin, "2024-03-31T01:30:00.000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			v, err := ParseTimeLayout(tt.In, tt.Layout, tt.Loc)
			require.NoError(t, err)
			assert.Equal(t, tt.Want, FormatTime(v.(time.Time)))
		})
	}
	for _, blank := range []any{nil, "", "  "} {
		v, err := ParseTimeLayout(blank, "%Y", berlin)
		assert.NoError(t, err)
		assert.Nil(t, v, "an absent value leaves the field out")
	}
}

func TestParseTimeLayoutErrors(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	tests := []struct {
		Name, In, Layout, Want string
	}{
		{"Out of range", "31/02/2024", "%d/%m/%Y", `cannot parse "31/02/2024" with layout "%d/%m/%Y": day out of range`},
		{"Wrong separators", "01.03.2024", "%d/%m/%Y", `cannot parse "01.03.2024" with layout "%d/%m/%Y" (at ".03.2024")`},
		{"Extra text", "01/03/2024 10:15", "%d/%m/%Y", `cannot parse "01/03/2024 10:15" with layout "%d/%m/%Y": extra text`},
		{"Go layout", "2024-03-01", "02/01/2006", `cannot parse "2024-03-01" with layout "02/01/2006"`},
		{"Unknown abbreviation", "2024-03-01 10:15 XYZ", "2006-01-02 15:04 MST", `the zone abbreviation "XYZ" is not one of Europe/Berlin's`},
		{"strftime %Z", "2024-03-01 CET", "%Y-%m-%d %Z", `%Z reads a zone abbreviation`},
		{"Bad directive", "2024", "%Q", `bad time layout "%Q"`},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			_, err := ParseTimeLayout(tt.In, tt.Layout, berlin)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.Want)
		})
	}
}

// Issue 11 (4): time(v, layout) did not exist, and expr's date(v, layout)
// ignored the job's timezone: an hour off, silently.
func TestTimeWithLayoutInTheJobsZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	row := map[string]any{"id": "1", "d": "D", "c": "C", "b": "x", "t": "01/03/2024 10:15"}
	for _, f := range []string{
		`time(row.t, "%d/%m/%Y %H:%M")`,
		`time(row.t, "02/01/2006 15:04")`,
		`date(row.t, "02/01/2006 15:04")`,
		`date(row.t, "%d/%m/%Y %H:%M")`,
		`date(row.t, "02/01/2006 15:04", "Europe/Berlin")`,
	} {
		t.Run(f, func(t *testing.T) {
			p, err := compile(t, header+"  messageAttributes.body: row.b\n  sentOn: '"+f+"'\n", Options{Location: berlin})
			require.NoError(t, err)
			it, err := p.NewMapper().Map(&msg.Record{Fields: row})
			require.NoError(t, err)
			assert.Contains(t, string(it.Payload), `"sentOn":"2024-03-01T09:15:00.000Z"`, "10:15 in Berlin is 09:15 UTC")
		})
	}
	t.Run("date() of an absent value leaves the field out", func(t *testing.T) {
		p, err := compile(t, header+"  messageAttributes.body: row.b\n  sentOn: date(row.none)\n", Options{Location: berlin})
		require.NoError(t, err)
		it, err := p.NewMapper().Map(&msg.Record{Fields: row})
		require.NoError(t, err)
		assert.NotContains(t, string(it.Payload), "sentOn")
	})
	t.Run("a value that does not match fails the record with the layout", func(t *testing.T) {
		p, err := compile(t, header+"  messageAttributes.body: row.b\n  sentOn: time(row.t, \"%Y-%m-%d\")\n", Options{Location: berlin})
		require.NoError(t, err)
		_, err = p.NewMapper().Map(&msg.Record{Origin: msg.Origin{Source: "m.csv", Line: 7}, Fields: row})
		var me *msg.Error
		require.True(t, errors.As(err, &me))
		assert.Equal(t, `m.csv:7: sentOn: cannot parse "01/03/2024 10:15" with layout "%Y-%m-%d" (at "01/03/2024 10:15")`, err.Error())
	})
}

func TestCompileRefuses(t *testing.T) {
	tests := []struct{ Name, Field, Want string }{
		{"now() makes every run differ", `sentOn: now()`, "m.yaml:9: sentOn: now() is not allowed: a mapping must give the same payload on every run"},
		{"now() in a where", `sentOn: 'row.t > now() ? row.t : nil'`, "now() is not allowed"},
		{"A layout with no element", `sentOn: time(row.t, "dd/MM/yyyy")`, `m.yaml:9: sentOn: time: bad time layout "dd/MM/yyyy": it has no element of Go's reference time`},
		{"An unknown directive", `sentOn: time(row.t, "%d/%m/%Q")`, `m.yaml:9: sentOn: time: bad time layout "%d/%m/%Q"`},
		{"%Z", `sentOn: time(row.t, "%d/%m/%Y %Z")`, `%Z reads a zone abbreviation (CST is three different zones): use %z`},
		{"An unknown zone", `sentOn: date(row.t, "2006", "Mars/Olympus")`, `m.yaml:9: sentOn: date: time zone "Mars/Olympus"`},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			_, err := compile(t, header+"  messageAttributes.body: row.b\n  "+tt.Field+"\n", Options{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.Want)
		})
	}
}

// Issue 11 (9): a lookup miss did not name the table and the key.
func TestLookupMissNamesTableAndKey(t *testing.T) {
	src := strings.Replace(header, "customer: row.c", `customer: lookup("customers", lower(row.email)) ?? lookup("customers", "*")`, 1) +
		"  messageAttributes.body: row.b\n  userUuid: lookup(\"users\", row.agent)\n"
	m, err := ParseMapping("m.yaml", []byte(src), t.TempDir())
	require.NoError(t, err)
	m.Lookups = append(m.Lookups, LookupSpec{Name: "customers", File: "customers.csv"})
	p, err := Compile(m, Options{Tables: map[string]map[string]string{
		"customers": {"ann@example.com": "C-1"},
		"users":     {"bob@example.com": "U-1"},
	}})
	require.NoError(t, err)
	mp := p.NewMapper()
	rec := func(email, agent string) *msg.Record {
		return &msg.Record{Origin: msg.Origin{Source: "m.csv", Line: 3}, Fields: map[string]any{"id": "1", "d": "D", "b": "x", "email": email, "agent": agent}}
	}
	_, err = mp.Map(rec("Cy@Example.com", "bob@example.com"))
	require.Error(t, err)
	assert.Equal(t, `m.csv:3: route.customer: no value (the route parameter is empty): lookup("customers", "cy@example.com"): no such key in table customers; lookup("customers", "*"): no such key in table customers`, err.Error())
	var miss *LookupMiss
	require.True(t, errors.As(err, &miss), "a miss is told apart by type")
	assert.Equal(t, "cy@example.com", miss.Key)

	it, err := mp.Map(rec("ann@example.com", "nobody@example.com"))
	require.NoError(t, err, "a miss is nil: an optional field is left out, and ?? falls through")
	assert.NotContains(t, string(it.Payload), "userUuid")
	assert.Equal(t, "C-1", it.Route[1])

	_, err = mp.Map(rec("cy@example.com", "bob@example.com"))
	assert.ErrorContains(t, err, `lookup("customers", "cy@example.com")`, "the misses are this record's, not an earlier one's")
}

func TestLookupMissNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "customers.csv", "email,uuid\nann@example.com,C-1\n")
	src := strings.Replace(header, "customer: row.c", `customer: lookup("customers", row.email)`, 1) + "  messageAttributes.body: row.b\n"
	m, err := ParseMapping("m.yaml", []byte(src), dir)
	require.NoError(t, err)
	p, err := Compile(m, Options{Lookups: []LookupSpec{{Name: "customers", File: "customers.csv", Key: "email", Value: "uuid", Dir: dir}}})
	require.NoError(t, err)
	_, err = p.NewMapper().Map(&msg.Record{Fields: map[string]any{"id": "1", "d": "D", "b": "x", "email": "cy@example.com"}})
	assert.ErrorContains(t, err, `route.customer: no value (the route parameter is empty): lookup("customers", "cy@example.com"): no such key in table customers (customers.csv)`)
}

// Issue 11 (9): YAML reads an unquoted " #" as a comment; the expression
// it cut off said nothing of it.
func TestCommentHint(t *testing.T) {
	const hint = `YAML reads " #" as the start of a comment`
	tests := []struct {
		Name, Field string
		Hint        bool
	}{
		{"A string cut in two", `messageAttributes.subject: row.kind + " #" + row.id`, true},
		{"A closure cut in two", `messageAttributes.subject: 'x' + string(all(row.tags, # != ""))`, false}, // starts with a quote: YAML's own error
		{"A predicate cut in two", `messageAttributes.subject: string(all(row.tags, # != ""))`, true},
		{"An ordinary comment", `messageAttributes.subject: row.subject   # the subject line`, false},
		{"A comment without a space", `messageAttributes.subject: row.subject #subject`, false},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			_, err := compile(t, header+"  messageAttributes.body: row.b\n  "+tt.Field+"\n", Options{})
			if !tt.Hint {
				if err != nil {
					assert.NotContains(t, err.Error(), hint)
				}
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "m.yaml:9: messageAttributes.subject:")
			assert.Contains(t, err.Error(), hint)
			assert.Contains(t, err.Error(), "quote the whole expression: '")
		})
	}
	t.Run("the suggested quoting compiles", func(t *testing.T) {
		_, err := compile(t, header+"  messageAttributes.body: row.b\n  messageAttributes.subject: 'row.kind + \" #\" + row.id'\n", Options{})
		assert.NoError(t, err)
	})
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
}

func FuzzParseTimeLayout(f *testing.F) {
	for _, c := range [][2]string{
		{"%d/%m/%Y %H:%M", "01/03/2024 10:15"}, {"02/01/2006 15:04", "31/03/2024 02:30"},
		{"%Y-%m-%d %H:%M %z", "2024-03-01 10:15 +0500"}, {"2006-01-02 15:04 MST", "2024-07-01 10:15 CEST"},
		{"%Y%m%d", "20240301"}, {"%Q", "x"}, {"%%z %Y", "%z 2024"}, {"%-", "1"},
	} {
		f.Add(c[0], c[1])
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, layout, value string) {
		v, err := ParseTimeLayout(value, layout, berlin)
		if err != nil {
			msg := err.Error()
			assert.True(t, strings.Contains(msg, "cannot") || strings.Contains(msg, "bad time layout"), "%q", msg)
			return
		}
		if v == nil {
			assert.Empty(t, strings.TrimSpace(value))
			return
		}
		tm := v.(time.Time)
		y := tm.UTC().Year()
		assert.True(t, y >= 1 && y <= 9999, "year %d", y)
		// Whatever parses is sent as RFC 3339 and reads back the same.
		back, err := time.Parse(time.RFC3339Nano, FormatTime(tm))
		require.NoError(t, err)
		assert.True(t, back.Equal(tm.Truncate(time.Millisecond)))
	})
}
