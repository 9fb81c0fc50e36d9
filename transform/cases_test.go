package transform

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const caseMapping = `version: 1
sink: mykaarma
where: 'row.kind != "note"'
route:
  department: row.d
  customer: lookup("customers", row.email)
fields:
  sourceUuid: uuid5("t", row.id)
  sentOn: time(row.at, "%d/%m/%Y %H:%M")
  messageAttributes.body: row.b
`

func runCases(t *testing.T, suite string) []CaseResult {
	t.Helper()
	m, err := ParseMapping("m.yaml", []byte(caseMapping), t.TempDir())
	require.NoError(t, err)
	s, err := ParseSuite("m.test.yaml", []byte(suite))
	require.NoError(t, err)
	res, err := RunSuite(m, s, Options{})
	require.NoError(t, err)
	return res
}

func TestRunSuite(t *testing.T) {
	key, err := UUID5("t", "1")
	require.NoError(t, err)
	suite := `timezone: Europe/Berlin
lookups:
  customers: {"ann@example.com": C-1}
cases:
  - name: a message
    input: {id: "1", d: D, email: ann@example.com, at: "01/03/2024 10:15", b: hi}
    payload:
      sourceUuid: ` + key + `
      sentOn: 2024-03-01T09:15:00.000Z
      messageAttributes: {body: hi}
    route: {department: D, customer: C-1}
    key: ` + key + `
  - name: a case's own zone
    timezone: UTC
    input: {id: "1", d: D, email: ann@example.com, at: "01/03/2024 10:15", b: hi}
    payload: {sourceUuid: ` + key + `, sentOn: "2024-03-01T10:15:00.000Z", messageAttributes: {body: hi}}
  - name: a case's own table
    lookups: {customers: {"bob@example.com": C-2}}
    input: {id: "1", d: D, email: bob@example.com, b: hi}
    route: {customer: C-2}
  - name: notes are skipped
    input: {kind: note}
    skip: true
  - name: a bad date
    input: {id: "1", d: D, email: ann@example.com, at: "2024-03-01", b: hi}
    error: 'sentOn: cannot parse "2024-03-01" with layout'
  - name: a null is absent
    input: {id: "1", d: D, email: ann@example.com, b: hi, at: null}
    payload: {sourceUuid: ` + key + `, messageAttributes: {body: hi}}
`
	for _, r := range runCases(t, suite) {
		assert.True(t, r.Passed(), "%s: %v", r.Case.Name, r.Failure)
	}
}

// A case that fails says how, a line each difference, so that a user sees
// what to fix without running anything else.
func TestRunSuiteFailures(t *testing.T) {
	suite := `lookups:
  customers: {"ann@example.com": C-1}
cases:
  - name: payload differs
    input: {id: "1", d: D, email: ann@example.com, at: "01/03/2024 10:15", b: hi}
    payload:
      sourceUuid: x
      sentOn: 2024-03-01T10:15:00.000Z
      messageAttributes: {body: hello, subject: Hi}
  - name: route and key differ
    input: {id: "1", d: D, email: ann@example.com, b: hi}
    route: {department: E, customr: C-1}
    key: k
  - name: want a skip
    input: {id: "1", d: D, email: ann@example.com, b: hi}
    skip: true
  - name: want an error
    input: {kind: note}
    error: cannot parse
  - name: another error
    input: {id: "1", d: D, email: cy@example.com, b: hi}
    error: cannot parse
  - name: want a payload
    input: {id: "1", d: D, email: ann@example.com, b: hi, at: "x"}
    payload: {sourceUuid: x}
`
	res := runCases(t, suite)
	require.Len(t, res, 6)
	for _, r := range res {
		assert.False(t, r.Passed(), r.Case.Name)
	}
	key, _ := UUID5("t", "1")
	assert.Equal(t, []string{
		"payload differs:",
		`  messageAttributes.body: want "hello", got "hi"`,
		`  messageAttributes.subject: want "Hi", got nothing (the field is left out)`,
		`  sourceUuid: want "x", got "` + key + `"`,
		`got payload: {"sourceUuid":"` + key + `","sentOn":"2024-03-01T10:15:00.000Z","messageAttributes":{"body":"hi"}}`,
	}, res[0].Failure)
	assert.ElementsMatch(t, []string{
		`route.department: want "E", got "D"`,
		`route: "customr" is not a route parameter of mykaarma (known: department, customer)`,
		`key: want "k", got "` + key + `"`,
	}, res[1].Failure)
	assert.Equal(t, "want: skipped by the where rule", res[2].Failure[0])
	assert.Contains(t, res[2].Failure[1], "got payload: {")
	assert.Equal(t, []string{`want an error containing "cannot parse"`, "got: skipped by the where rule"}, res[3].Failure)
	assert.Equal(t, []string{`want an error containing "cannot parse"`,
		`got error: m.test.yaml:20: route.customer: no value (the route parameter is empty): lookup("customers", "cy@example.com"): no such key in table customers`}, res[4].Failure)
	assert.Equal(t, []string{"want a payload", `got error: m.test.yaml:23: sentOn: cannot parse "x" with layout "%d/%m/%Y %H:%M" (at "x")`}, res[5].Failure)
}

func TestParseSuiteErrors(t *testing.T) {
	tests := []struct{ Name, Src, Want string }{
		{"No cases", "timezone: UTC\n", "m.test.yaml:1: cases: must list the test cases"},
		{"Unknown key", "cases:\n  - name: a\n    input: {}\n    skip: true\n    payload_contains: {}\n", `m.test.yaml:5: unknown key "payload_contains"`},
		{"No expectation", "cases:\n  - name: a\n    input: {}\n", `m.test.yaml:2: case "a": say what must come out`},
		{"Two expectations", "cases:\n  - name: a\n    input: {}\n    skip: true\n    error: x\n", `case "a": expect a payload, a skip or an error, not two of them`},
		{"No name", "cases:\n  - input: {}\n    skip: true\n", "m.test.yaml:2: a case needs a name"},
		{"No input", "cases:\n  - name: a\n    skip: true\n", `case "a": input is required`},
		{"Bad zone", "timezone: Mars/Olympus\ncases:\n  - {name: a, input: {}, skip: true}\n", `m.test.yaml:1: time zone "Mars/Olympus"`},
		{"Input not a record", "cases:\n  - {name: a, input: [1], skip: true}\n", "m.test.yaml:2: input: want a record"},
		{"Bad table", "lookups: {customers: [a]}\ncases:\n  - {name: a, input: {}, skip: true}\n", "m.test.yaml:1: lookups: want table: {key: value, …}"},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			_, err := ParseSuite("m.test.yaml", []byte(tt.Src))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.Want)
		})
	}
}

func TestNodeValueIsWhatASourceGives(t *testing.T) {
	s, err := ParseSuite("m.test.yaml", []byte("cases:\n  - name: a\n    input: {n: 12, big: 9007199254740993, f: 1.5, b: true, t: 2024-03-01, s: x, l: [1, a], o: {k: v}, z: null}\n    skip: true\n"))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"n": int64(12), "big": int64(9007199254740993), "f": 1.5, "b": true, "t": "2024-03-01", "s": "x",
		"l": []any{int64(1), "a"}, "o": map[string]any{"k": "v"}}, s.Cases[0].Input)
}

func TestCasesFile(t *testing.T) {
	assert.Equal(t, "dir/m.test.yaml", CasesFile("dir/m.yaml"))
	assert.Equal(t, "m.mapping.test.yaml", CasesFile("m.mapping.yaml"))
	assert.Equal(t, "m.test.yaml", CasesFile("m.yml"))
}

func TestRunSuiteMappingDoesNotCompile(t *testing.T) {
	m, err := ParseMapping("m.yaml", []byte(caseMapping), t.TempDir())
	require.NoError(t, err)
	s, err := ParseSuite("m.test.yaml", []byte("cases:\n  - {name: a, input: {}, skip: true}\n"))
	require.NoError(t, err)
	_, err = RunSuite(m, s, Options{})
	assert.ErrorContains(t, err, `lookup: no table "customers"`)
}

// lint compiles a mapping without its job: the tables the job must give
// are named, not refused.
func TestTablesFromJob(t *testing.T) {
	m, err := ParseMapping("m.yaml", []byte(caseMapping), t.TempDir())
	require.NoError(t, err)
	_, err = Compile(m, Options{})
	require.ErrorContains(t, err, `lookup: no table "customers"`)
	p, err := Compile(m, Options{TablesFromJob: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"customers"}, p.JobTables)

	m.Lookups = []LookupSpec{{Name: "customers", File: "missing.csv", Key: "k", Value: "v", Dir: t.TempDir()}}
	_, err = Compile(m, Options{TablesFromJob: true})
	assert.ErrorContains(t, err, "missing.csv", "a table the mapping declares is read")
}
