package metrics

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/msgmigrate/msgmigrate/config"
)

// section parses src (the job file's text) and returns its metrics: section,
// as the job package hands it over.
func section(t *testing.T, src string) config.Section {
	t.Helper()
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(src), &doc))
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "metrics" {
			return config.Section{File: "jobs/nightly.yaml", Node: root.Content[i+1], Dir: "jobs"}
		}
	}
	return config.Section{File: "jobs/nightly.yaml", Dir: "jobs"}
}

func TestDecode(t *testing.T) {
	for _, tt := range []struct {
		name string
		src  string
		want Config
	}{
		{"absent", "source: {kind: csv}\n", Config{}},
		{"listen", "metrics: {listen: \":9464\"}\n", Config{Listen: ":9464"}},
		{"push with default interval", "metrics:\n  push: {url: \"http://pgw:9091\"}\n",
			Config{Push: &PushConfig{URL: "http://pgw:9091", Interval: config.Duration(DefaultPushInterval)}}},
		{"push with interval and auth", "metrics:\n  push: {url: \"pgw:9091\", interval: 1m, username: u, password: p}\n",
			Config{Push: &PushConfig{URL: "pgw:9091", Interval: config.Duration(time.Minute), Username: "u", Password: "p"}}},
		{"file relative to the job file", "metrics: {file: textfile/nightly.prom}\n",
			Config{File: filepath.Join("jobs", "textfile", "nightly.prom")}},
		{"file absolute", "metrics: {file: /var/lib/node_exporter/nightly.prom}\n",
			Config{File: "/var/lib/node_exporter/nightly.prom"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(section(t, tt.src))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		src  string
		want string
	}{
		{"unknown key", "metrics:\n  listen: \":9464\"\n  pushgateway: x\n",
			`jobs/nightly.yaml:3: unknown key "pushgateway" (known: listen, push, file)`},
		{"unknown push key", "metrics:\n  push:\n    url: http://pgw\n    every: 10s\n",
			`jobs/nightly.yaml:4: unknown key "every" (known: url, interval, username, password)`},
		{"listen without port", "metrics:\n  listen: \"9464\"\n",
			`jobs/nightly.yaml:2: metrics.listen: "9464" is not host:port (e.g. ":9464", "127.0.0.1:9464")`},
		{"push without url", "metrics:\n  push: {interval: 30s}\n",
			`jobs/nightly.yaml:2: metrics.push.url: is required (the Pushgateway, e.g. http://pushgateway:9091)`},
		{"credentials in the url", "metrics:\n  push:\n    url: https://bob:hunter2@pgw:9091\n",
			`jobs/nightly.yaml:3: metrics.push.url: credentials in the URL are refused: give username and password, from the environment (${VAR})`},
		{"scheme", "metrics:\n  push:\n    url: ftp://pgw\n",
			`jobs/nightly.yaml:3: metrics.push.url: scheme "ftp": want http or https`},
		{"the group's path", "metrics:\n  push:\n    url: http://pgw:9091/metrics/job/x\n",
			`jobs/nightly.yaml:3: metrics.push.url: "http://pgw:9091/metrics/job/x": give the Pushgateway's base URL; /metrics/job/… is added from the job's name`},
		{"interval too short", "metrics:\n  push:\n    url: http://pgw\n    interval: 10ms\n",
			`jobs/nightly.yaml:4: metrics.push.interval: 10ms: at least 1s`},
		{"half the basic auth", "metrics:\n  push:\n    url: http://pgw\n    username: u\n",
			`jobs/nightly.yaml:4: metrics.push.username: basic auth needs both username and password`},
		{"not a .prom file", "metrics:\n  file: out/nightly.txt\n",
			`jobs/nightly.yaml:2: metrics.file: "jobs/out/nightly.txt": node_exporter's textfile collector reads only *.prom files`},
		{"bad duration", "metrics:\n  push: {url: http://pgw, interval: often}\n",
			`jobs/nightly.yaml: line 2: "often" is not a duration (e.g. 30s, 500ms, 2m)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			minPushInterval = time.Second
			t.Cleanup(func() { minPushInterval = time.Millisecond })
			_, err := Decode(section(t, tt.src))
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
}

func TestConfigErrorsAllAtOnce(t *testing.T) {
	_, err := Decode(section(t, "metrics:\n  listen: nope\n  file: x.txt\n"))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "metrics.listen", ce.Key)
	assert.Equal(t, 2, ce.Line)
	var all interface{ Unwrap() []error }
	require.True(t, errors.As(err, &all))
	assert.Len(t, all.Unwrap(), 2)
}

func TestNewChecksConfig(t *testing.T) {
	_, err := New(Config{Listen: "nope"}, Labels{Job: "j"}, nil)
	require.Error(t, err)
	assert.Equal(t, `metrics.listen: "nope" is not host:port (e.g. ":9464", "127.0.0.1:9464")`, err.Error())
	var ce *ConfigError
	assert.ErrorAs(t, err, &ce)
}
