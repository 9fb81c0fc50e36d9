package job

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/msgmigrate/msgmigrate/api/mykaarma"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
)

func writeJob(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "job.yaml")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoad(t *testing.T) {
	p := writeJob(t, `source: {kind: csv, path: in/m.csv}
mapping: builtin:csv-to-mykaarma
sink:
  kind: mykaarma
  url: ${URL:-sandbox}
  username: ${USER_NAME}
  password: ${PASS}
  batch: {max_items: 50, max_bytes: 512KB}
  concurrency: 4
  rate: 600/min
timezone: Europe/Berlin
`)
	j, err := Load(p, []string{"sink.concurrency=16"}, env(map[string]string{"USER_NAME": "svc", "PASS": "pw"}))
	require.NoError(t, err)
	assert.Equal(t, "csv", j.SourceKind)
	assert.Equal(t, "mykaarma", j.SinkKind)
	assert.Equal(t, "sandbox", j.SinkValue("url"))
	assert.Equal(t, "svc", j.SinkValue("username"))
	assert.Equal(t, "Europe/Berlin", j.Location.String())
	assert.Equal(t, filepath.Join(filepath.Dir(p), ".msgmigrate", "job.db"), j.State, "state defaults beside the job")

	var c load.HTTPConfig
	require.NoError(t, j.Sink.Decode(&c))
	o := c.Options(0)
	assert.Equal(t, 16, o.Concurrency, "--set overrides the file")
	assert.Equal(t, 50, o.MaxItems)
	assert.Equal(t, 512000, o.MaxBytes)
	assert.InDelta(t, 10.0, float64(c.Rate), 1e-9)
	assert.Zero(t, o.Linger, "no linger unless asked: a partial batch sent early is one more request")
	prog, err := j.Compile()
	require.NoError(t, err)
	assert.Equal(t, "mykaarma", prog.Schema.Sink)
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ Name, Text, Want string }{
		{"UnknownTop", "source: {kind: csv}\nmapping: builtin:csv-to-mykaarma\nsink: {kind: jsonl}\nsatte: x\n", `job.yaml:4: unknown key "satte"`},
		{"UnsetVar", "source: {kind: csv}\nmapping: builtin:csv-to-mykaarma\nsink: {kind: jsonl, path: '${NOPE}'}\n", "job.yaml:3: environment variable NOPE is not set"},
		{"NoMapping", "source: {kind: csv}\nsink: {kind: jsonl}\n", "mapping is required"},
		{"UnknownBuiltin", "source: {kind: csv}\nmapping: builtin:nope\nsink: {kind: jsonl}\n", `unknown built-in mapping "nope" (known: csv-to-mykaarma, `},
		{"BadZone", "source: {kind: csv}\nmapping: builtin:csv-to-mykaarma\nsink: {kind: jsonl}\ntimezone: Mars/Olympus\n", `job.yaml:4: timezone "Mars/Olympus"`},
		{"BadSet", "source: {kind: csv}\nmapping: builtin:csv-to-mykaarma\nsink: {kind: jsonl}\n", "--set"},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			var sets []string
			if tt.Name == "BadSet" {
				sets = []string{"no-equals-sign"}
			}
			_, err := Load(writeJob(t, tt.Text), sets, env(nil))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.Want)
		})
	}
}

func TestSectionRejectsUnknownNestedKeys(t *testing.T) {
	p := writeJob(t, "source: {kind: csv}\nmapping: builtin:csv-to-mykaarma\nsink:\n  kind: mykaarma\n  batch:\n    max_itmes: 5\n")
	j, err := Load(p, nil, env(nil))
	require.NoError(t, err)
	var c load.HTTPConfig
	err = j.Sink.Decode(&c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), p+`:6: unknown key "max_itmes" (known: max_items, max_bytes, linger, max_open_bytes)`)
}

func TestExpandString(t *testing.T) {
	look := env(map[string]string{"A": "x", "EMPTY": ""})
	for in, want := range map[string]string{
		"${A}": "x", "pre-${A}-post": "pre-x-post", "${B:-def}": "def", "${EMPTY:-def}": "def", "$$A": "$A", "$A": "$A", "plain": "plain",
	} {
		got, err := config.ExpandString(in, look)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"${B}", "${A", "${1X}"} {
		_, err := config.ExpandString(bad, look)
		assert.Error(t, err, bad)
	}
}

func TestParseRateAndSize(t *testing.T) {
	for in, want := range map[string]float64{"20/s": 20, "600/min": 10, "3600/h": 1, "40/20s": 2, "5": 5} {
		got, err := config.ParseRate(in)
		require.NoError(t, err, in)
		assert.InDelta(t, want, got, 1e-9, in)
	}
	_, err := config.ParseRate("fast")
	assert.Error(t, err)
	for in, want := range map[string]int{"1MiB": 1 << 20, "512KB": 512000, "100": 100, "2 MB": 2000000} {
		got, err := config.ParseByteSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err = config.ParseByteSize("lots")
	assert.Error(t, err)
}
