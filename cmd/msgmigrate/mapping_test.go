package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/mappings"
	"github.com/msgmigrate/msgmigrate/transform"
)

const quickstartCSV = "../../testdata/quickstart/messages.csv"

// Every built-in mapping's test cases pass; a built-in given cases later
// is picked up here without a change.
func TestBuiltinMappingCases(t *testing.T) {
	withCases := 0
	for _, name := range mappings.Names() {
		if _, ok := mappings.Tests(name); !ok {
			continue
		}
		withCases++
		t.Run(name, func(t *testing.T) {
			code, out, errs := run(t, "test", "builtin:"+name)
			require.Equal(t, 0, code, "%s%s", out, errs)
			assert.Contains(t, out, "ok    builtin:"+name+".test.yaml:")
			assert.NotContains(t, out, "FAIL")
			assert.Regexp(t, `(?m)^[1-9]\d* passed, 0 failed$`, out)
		})
	}
	assert.NotZero(t, withCases, "csv-to-mykaarma has test cases")
}

const userMapping = `version: 1
sink: mykaarma
where: 'row.kind != "note"'
route:
  department: row.dept
  customer: lookup("customers", lower(row.email))
fields:
  sourceUuid: uuid5("crm", row.id)
  sentOn: time(row.sent, "%d/%m/%Y %H:%M")
  messageAttributes.body: row.text
lookups:
  customers: {file: customers.csv, key: email, value: uuid}
`

func TestTestCommand(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "customers.csv", "email,uuid\nann@example.com,C-1\n")
	mapping := write(t, dir, "crm.yaml", userMapping)
	key, err := transform.UUID5("crm", "1")
	require.NoError(t, err)
	write(t, dir, "crm.test.yaml", `timezone: Europe/Berlin
cases:
  - name: a message, in the job's zone, with the mapping's own table
    input: {id: "1", dept: D, email: Ann@Example.com, sent: "01/03/2024 10:15", text: hi}
    payload: {sourceUuid: `+key+`, sentOn: "2024-03-01T09:15:00.000Z", messageAttributes: {body: hi}}
    route: {department: D, customer: C-1}
  - name: an inline table replaces the file
    lookups: {customers: {"bob@example.com": C-2}}
    input: {id: "1", dept: D, email: bob@example.com, text: hi}
    route: {customer: C-2}
  - name: notes are skipped
    input: {kind: note}
    skip: true
  - name: a wrong expectation
    input: {id: "1", dept: D, email: ann@example.com, text: hello}
    payload: {sourceUuid: `+key+`, messageAttributes: {body: hi}}
  - name: an unknown customer
    input: {id: "1", dept: D, email: cy@example.com, text: hi}
    error: 'lookup("customers", "cy@example.com"): no such key in table customers (customers.csv)'
`)
	code, out, errs := run(t, "test", mapping)
	assert.Equal(t, 2, code, "a case failed: finished, with failures\n%s%s", out, errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	cases := filepath.Join(dir, "crm.test.yaml")
	assert.Equal(t, []string{
		"ok    " + cases + ":3  a message, in the job's zone, with the mapping's own table",
		"ok    " + cases + ":7  an inline table replaces the file",
		"ok    " + cases + ":11  notes are skipped",
		"FAIL  " + cases + ":14  a wrong expectation",
		"        payload differs:",
		`          messageAttributes.body: want "hi", got "hello"`,
		`        got payload: {"sourceUuid":"` + key + `","messageAttributes":{"body":"hello"}}`,
		"ok    " + cases + ":17  an unknown customer",
		"4 passed, 1 failed",
	}, lines)

	// The test file named, or its directory, finds the same cases.
	for _, arg := range []string{cases, dir} {
		code, out, _ = run(t, "test", arg)
		assert.Equal(t, 2, code)
		assert.Contains(t, out, "4 passed, 1 failed")
	}
}

func TestTestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "customers.csv", "email,uuid\nann@example.com,C-1\n")
	alone := write(t, dir, "alone.yaml", userMapping)
	code, _, errs := run(t, "test", alone)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, alone+": no test cases: write them in "+filepath.Join(dir, "alone.test.yaml"))

	broken := write(t, dir, "broken.yaml", strings.Replace(userMapping, "row.text", "row.text +", 1))
	write(t, dir, "broken.test.yaml", "cases:\n  - {name: a, input: {}, skip: true}\n")
	code, out, errs := run(t, "test", broken)
	assert.Equal(t, 1, code, "a mapping that does not compile is an error, not a failed case")
	assert.Contains(t, out, "ERROR "+broken)
	assert.Contains(t, errs, broken+":10: messageAttributes.body:")

	code, _, errs = run(t, "test", "builtin:nope")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `unknown built-in mapping "nope"`)
}

// Issue 11 (3): a typo in a source column passed and silently dropped
// data; against the data's columns it is an error naming file, line and
// field, with a did-you-mean.
func TestLintColumnsFrom(t *testing.T) {
	dir := t.TempDir()
	src := strings.Replace(strings.Replace(mustRead(t, "../../mappings/csv-to-mykaarma.yaml"),
		"messageAttributes.subject: row.subject", "messageAttributes.subject: row.subjekt", 1),
		`where: 'row.channel != "internal-note"'`, `where: 'row.chanel != "internal-note"'`, 1)
	mapping := write(t, dir, "m.yaml", src)
	code, _, _ := run(t, "lint", mapping)
	assert.Equal(t, 0, code, "without the data the typo cannot be seen")
	code, out, errs := run(t, "lint", mapping, "--columns-from", quickstartCSV)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, errs, mapping+`:16: where: row.chanel: the source has no column "chanel" (did you mean "channel"?)`)
	assert.Contains(t, errs, mapping+`:26: fields.messageAttributes.subject: row.subjekt: the source has no column "subjekt" (did you mean "subject"?)`)

	// Columns no expression reads are a hint, not an error.
	fixed := write(t, dir, "fixed.yaml", strings.Replace(mustRead(t, "../../mappings/csv-to-mykaarma.yaml"), "  messageAttributes.subject: row.subject\n", "", 1))
	code, out, errs = run(t, "lint", fixed, "--columns-from", quickstartCSV)
	assert.Equal(t, 0, code, errs)
	assert.Contains(t, out, fixed+": ok (sink mykaarma, 13 fields)\n  hint: no expression reads 1 of the source's columns: subject\n")
}

func TestLint(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "customers.csv", "email,uuid\nann@example.com,C-1\n")
	ok := write(t, dir, "ok.yaml", userMapping)
	code, out, errs := run(t, "lint", ok, "builtin:gorgias-to-mykaarma")
	assert.Equal(t, 0, code, errs)
	assert.Contains(t, out, ok+": ok (sink mykaarma, 3 fields)\n")
	assert.Contains(t, out, "builtin:gorgias-to-mykaarma: ok (sink mykaarma, ")
	assert.Contains(t, out, "the job must give the lookup tables departments, customers, users")

	bad := write(t, dir, "bad.yaml", strings.Replace(userMapping, "messageAttributes.body: row.text", "messageAttributes.bdy: row.text", 1))
	code, _, errs = run(t, "lint", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, bad+`:10: fields: "messageAttributes.bdy" is not a field of mykaarma (did you mean "messageAttributes.body"?)`)

	// Issue 11 (9): YAML reads an unquoted " #" as a comment.
	hash := write(t, dir, "hash.yaml", strings.Replace(userMapping, "messageAttributes.body: row.text", `messageAttributes.body: row.text + " #" + row.id`, 1))
	code, _, errs = run(t, "lint", hash)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, hash+":10: messageAttributes.body:")
	assert.Contains(t, errs, `hint: YAML reads " #" as the start of a comment, so the expression ended at "row.text + \"" and "#\" + row.id" was dropped: quote the whole expression: 'row.text + " #" + row.id'`)
	comment := write(t, dir, "comment.yaml", strings.Replace(userMapping, "messageAttributes.body: row.text", `messageAttributes.body: row.text   #the text`, 1))
	code, _, errs = run(t, "lint", comment)
	assert.Equal(t, 0, code, "an ordinary comment is a comment: %s", errs)

	code, _, errs = run(t, "lint", ok, "--timezone", "Mars/Olympus")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `--timezone "Mars/Olympus"`)
}

// Issue 11 (4): dates in a layout of the user's own, read in the job's
// timezone — by time(v, layout), and by date(), which expr would read as UTC.
func TestPreviewTimeLayoutInTheJobsZone(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "m.csv", "id,dept,cust,sent,received,text\n1,D,C,01/03/2024 10:15,01/07/2024 10:15,hi\n")
	write(t, dir, "m.yaml", `version: 1
sink: mykaarma
route: {department: row.dept, customer: row.cust}
fields:
  sourceUuid: uuid5("t", row.id)
  sentOn: time(row.sent, "%d/%m/%Y %H:%M")
  receivedOn: date(row.received, "02/01/2006 15:04")
  messageAttributes.body: row.text
`)
	job := write(t, dir, "job.yaml", "source: {kind: csv, path: m.csv}\nmapping: m.yaml\ntimezone: Europe/Berlin\nsink: {kind: mykaarma, url: sandbox, username: sandbox, password: sandbox}\n")
	code, out, errs := run(t, "preview", job, "-n", "1")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, `"sentOn": "2024-03-01T09:15:00.000Z"`, "10:15 in Berlin in winter")
	assert.Contains(t, out, `"receivedOn": "2024-07-01T08:15:00.000Z"`, "10:15 in Berlin in summer")
}

// Issue 11 (9): a lookup miss names the table and the key.
func TestValidateLookupMiss(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "customers.csv", "email,uuid\nann@example.com,C-1\n")
	write(t, dir, "m.yaml", userMapping)
	write(t, dir, "m.csv", "id,dept,email,text,kind,sent\n1,D,ann@example.com,hi,,\n2,D,cy@example.com,hi,,\n")
	job := write(t, dir, "job.yaml", "source: {kind: csv, path: m.csv}\nmapping: m.yaml\nsink: {kind: mykaarma, url: sandbox, username: sandbox, password: sandbox}\n")
	code, out, _ := run(t, "validate", job)
	assert.Equal(t, 2, code)
	assert.Contains(t, out, `m.csv:3: route.customer: no value (the route parameter is empty): lookup("customers", "cy@example.com"): no such key in table customers (customers.csv)`)
}

func TestSchemaCommand(t *testing.T) {
	code, out, errs := run(t, "schema", "mykaarma")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "route: department, customer")
	assert.Contains(t, out, "key:   sourceUuid")
	assert.Regexp(t, `(?m)^sourceUuid\s+string\s+yes\s+at most 255 characters$`, out)
	assert.Regexp(t, `(?m)^messageAttributes\.type\s+string\s+one of DRAFT, OUTGOING, INCOMING, NOTE$`, out)
	assert.Regexp(t, `(?m)^messageAttributes\.attachments\[\]\.fileURL\s+string\s+yes`, out)
	assert.Regexp(t, `(?m)^notificationAttributes\s+object\s+may not be mapped: a migration must never notify`, out)

	code, out, errs = run(t, "schema", "mykaarma", "-o", "json")
	require.Equal(t, 0, code, errs)
	var s struct {
		Sink   string
		Key    string
		Route  []string
		Fields []struct {
			Path       string
			Type       string
			Required   bool
			Enum       []string
			TimeLayout string `json:"time_layout"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &s))
	assert.Equal(t, "sourceUuid", s.Key)
	assert.Equal(t, []string{"department", "customer"}, s.Route)
	require.NotEmpty(t, s.Fields)
	assert.Equal(t, "sourceUuid", s.Fields[0].Path)
	assert.True(t, s.Fields[0].Required)

	code, out, _ = run(t, "schema")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "gorgias\n")

	code, _, errs = run(t, "schema", "mykarma")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `sink "mykarma" has no schema (known: `)
}

func TestMappingsCommand(t *testing.T) {
	code, out, errs := run(t, "mappings")
	require.Equal(t, 0, code, errs)
	data, ok := mappings.Tests("csv-to-mykaarma")
	require.True(t, ok)
	s, err := transform.ParseSuite("x", data)
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^builtin:csv-to-mykaarma\s+mykaarma\s+`+strconv.Itoa(len(s.Cases))+` cases\s+CSV message exports → myKaarma historical communications\.$`, out)
	assert.Regexp(t, `(?m)^builtin:writeback-gorgias\s+gorgias\s+`, out)
	assert.NotContains(t, out, ".test", "test files are not mappings")

	code, out, _ = run(t, "mappings", "csv-to-mykaarma")
	assert.Equal(t, 0, code)
	want, err := mappings.Read("csv-to-mykaarma")
	require.NoError(t, err)
	assert.Equal(t, string(want), out)

	code, _, errs = run(t, "mappings", "nope")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `unknown built-in mapping "nope"`)
}

// init's mapping for the quick start's CSV compiles as it is, checks
// against the file, and validates every record.
func TestInitQuickstart(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := run(t, "init", "--from", quickstartCSV, "--out", dir)
	require.Equal(t, 0, code, errs)
	jobFile, mapFile := filepath.Join(dir, "messages.job.yaml"), filepath.Join(dir, "messages.mapping.yaml")
	assert.Contains(t, out, "wrote "+jobFile+" and "+mapFile)

	code, out, errs = run(t, "lint", mapFile, "--columns-from", quickstartCSV)
	require.Equal(t, 0, code, errs)
	assert.NotContains(t, out, "hint:", "every column is read")

	code, out, errs = run(t, "validate", jobFile, "--set", "state="+filepath.Join(dir, "s.db"))
	require.Equal(t, 0, code, "%s%s", out, errs)
	assert.Contains(t, out, "12 records: 11 would be sent, 1 skipped by rule, 0 fail")

	mapping := mustRead(t, mapFile)
	for _, want := range []string{
		"route:\n  department: row.department_uuid\n  customer: row.customer_uuid\n",
		`sourceUuid: 'uuid5("messages", row.id)'`,
		`sentOn: 'time(row.sent_at ?? row.created_at)'`,
		`messageAttributes.body: 'row.body_text ?? htmlToText(row.body_html)'`,
		"messageAttributes.subject: row.subject\n",
		`where: 'row.channel != "internal-note"'   # TODO:`,
	} {
		assert.Contains(t, mapping, want)
	}

	// Never overwrite.
	before := mustRead(t, jobFile)
	code, _, errs = run(t, "init", "--from", quickstartCSV, "--out", dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, jobFile+" exists: init never overwrites a file")
	assert.Equal(t, before, mustRead(t, jobFile))
}

func TestInitGuessesLayoutsAndLeavesTODOs(t *testing.T) {
	dir := t.TempDir()
	data := write(t, dir, "crm.csv", "Message ID;Sent Date;From Agent;Text;Kind\n17;01.03.2024 09:15;true;Hallo;sms\n18;13.03.2024 10:00;false;Danke;note\n")
	code, _, errs := run(t, "init", "--from", data, "--out", dir)
	require.Equal(t, 0, code, errs)
	mapFile := filepath.Join(dir, "crm.mapping.yaml")
	mapping := mustRead(t, mapFile)
	assert.Contains(t, mapping, `sourceUuid: 'uuid5("crm", row["Message ID"])'`)
	assert.Contains(t, mapping, `sentOn: 'time(row["Sent Date"], "%d.%m.%Y %H:%M")'`)
	assert.Contains(t, mapping, `where: 'row.Kind != "note"'`)
	assert.Contains(t, mapping, "  department: TODO   # TODO:")
	assert.Contains(t, mapping, "  customer: TODO   # TODO:")
	assert.Contains(t, mustRead(t, filepath.Join(dir, "crm.job.yaml")), "path: crm.csv\n")

	// Lint fails until the TODOs are done, naming the line.
	code, _, errs = run(t, "lint", mapFile)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, mapFile+":8: department:")
	done := strings.NewReplacer("department: TODO", "department: '\"D\"'", "customer: TODO", "customer: '\"C\"'").Replace(mapping)
	require.NoError(t, os.WriteFile(mapFile, []byte(done), 0o644))
	code, _, errs = run(t, "lint", mapFile, "--columns-from", data)
	assert.Equal(t, 0, code, errs)
}

func TestInitErrors(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := run(t, "init")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "--from FILE is required")
	odd := write(t, dir, "x.dat", "a,b\n")
	code, _, errs = run(t, "init", "--from", odd, "--out", dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "cannot tell the file's kind from its name")
	code, _, errs = run(t, "init", "--from", quickstartCSV, "--sink", "nowhere", "--out", dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `--sink "nowhere" has no schema`)
}

// Every new command says how to use it and what its exit codes mean.
func TestMappingCommandsHelp(t *testing.T) {
	for _, c := range []string{"test", "lint", "schema", "mappings", "init"} {
		t.Run(c, func(t *testing.T) {
			code, out, _ := run(t, c, "--help")
			assert.Equal(t, 0, code)
			assert.Contains(t, out, "Examples:\n  msgmigrate "+c)
			assert.Contains(t, out, "Exit codes: 0")
		})
	}
}
