package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msgmigrate/msgmigrate/config"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	// The tests push every few milliseconds; TestConfigErrors puts the real
	// minimum back for the one case that checks it.
	minPushInterval = time.Millisecond
	os.Exit(m.Run())
}

// logBuffer collects a run's log lines; the push loop writes from its own
// goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLog() (*slog.Logger, *logBuffer) {
	var b logBuffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

// value finds the series of name whose labels include want (a label absent
// from the series counts as ""): a counter's or gauge's value, or a
// histogram's count.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	mf := fams[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if have[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.GetUntyped() != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	v, ok := value(t, fams, name, want)
	require.True(t, ok, "no series %s%v", name, want)
	return v
}

func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	fams := map[string]*dto.MetricFamily{}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if err != nil {
			require.ErrorIs(t, err, io.EOF)
			return fams
		}
		fams[mf.GetName()] = mf
	}
}

// instrument records what a small run does.
func instrument(r *Run) {
	r.SetExpected(12)
	r.Records(OutcomeLoaded, "", 7)
	r.Records(OutcomeSkipped, "already_loaded", 3)
	r.Records(OutcomeFailed, "map", 1)
	r.Records(OutcomeFailed, "INVALID_DATE", 1)
	for range 3 {
		r.Request(200, 20*time.Millisecond)
	}
	r.Request(503, 40*time.Millisecond)
	r.Request(0, 2*time.Second)
	r.Retry(RetryServerError)
	r.Retry(RetryTransport)
	r.Throttled(1500 * time.Millisecond)
	r.InFlight(+3)
	r.InFlight(-1)
	r.Batch(4, 3000)
	r.Batch(4, 5000)
}

func TestServesMetricsDuringRun(t *testing.T) {
	log, _ := newLog()
	r, err := New(Config{Listen: "127.0.0.1:0"}, Labels{Job: "gorgias-migration", Shard: "3", Shards: "8"}, log)
	require.NoError(t, err)
	require.NoError(t, r.Start(t.Context()))
	instrument(r)

	fams := scrape(t, r.Addr())
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"msgmigrate_records_total", map[string]string{"outcome": "loaded", "reason": ""}, 7},
		{"msgmigrate_records_total", map[string]string{"outcome": "skipped", "reason": "already_loaded"}, 3},
		{"msgmigrate_records_total", map[string]string{"outcome": "failed", "reason": "map"}, 1},
		{"msgmigrate_records_total", map[string]string{"outcome": "failed", "reason": "INVALID_DATE"}, 1},
		{"msgmigrate_records_total", map[string]string{"outcome": "unsent", "reason": ""}, 0},
		{"msgmigrate_records_expected", nil, 12},
		{"msgmigrate_requests_total", map[string]string{"status": "200"}, 3},
		{"msgmigrate_requests_total", map[string]string{"status": "503"}, 1},
		{"msgmigrate_requests_total", map[string]string{"status": "error"}, 1},
		{"msgmigrate_request_duration_seconds", nil, 5},
		{"msgmigrate_requests_in_flight", nil, 2},
		{"msgmigrate_retries_total", map[string]string{"reason": "server_error"}, 1},
		{"msgmigrate_retries_total", map[string]string{"reason": "transport"}, 1},
		{"msgmigrate_retries_total", map[string]string{"reason": "retry"}, 0},
		{"msgmigrate_retries_total", map[string]string{"reason": "outage"}, 0},
		{"msgmigrate_throttled_total", nil, 1},
		{"msgmigrate_throttled_seconds_total", nil, 1.5},
		{"msgmigrate_batch_items", nil, 2},
		{"msgmigrate_batch_bytes", nil, 2},
		{"msgmigrate_run_state", map[string]string{"state": "running"}, 1},
		{"msgmigrate_run_state", map[string]string{"state": "completed"}, 0},
	} {
		t.Run(fmt.Sprintf("%s%v", tt.name, tt.labels), func(t *testing.T) {
			assert.Equal(t, tt.want, mustValue(t, fams, tt.name, tt.labels))
		})
	}

	// The histograms' sums, in base units.
	assert.InDelta(t, 3*0.02+0.04+2, fams["msgmigrate_request_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleSum(), 1e-9)
	assert.Equal(t, 8000.0, fams["msgmigrate_batch_bytes"].GetMetric()[0].GetHistogram().GetSampleSum())
	// The run is running: its start is set and its duration grows from it.
	assert.InDelta(t, float64(time.Now().Unix()), mustValue(t, fams, "msgmigrate_run_start_timestamp_seconds", nil), 60)
	assert.GreaterOrEqual(t, mustValue(t, fams, "msgmigrate_run_duration_seconds", nil), 0.0)
	// Not before a success.
	_, ok := value(t, fams, "msgmigrate_last_success_timestamp_seconds", nil)
	assert.False(t, ok)
	// Every series carries the run's labels; the Go and process collectors are served too.
	for name, mf := range fams {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			assert.Equal(t, "gorgias-migration", labels["job"], name)
			assert.Equal(t, "3", labels["shard"], name)
			assert.Equal(t, "8", labels["shards"], name)
		}
	}
	assert.Contains(t, fams, "go_goroutines")
	assert.Contains(t, fams, "process_resident_memory_bytes")

	require.NoError(t, r.Finish(t.Context(), Completed))
	// The listener does not outlive Finish.
	_, err = net.DialTimeout("tcp", r.Addr(), time.Second)
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "dial after Finish: %v", err)
}

func TestListenPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	addr := taken.Addr().String()

	r, err := New(Config{Listen: addr}, Labels{Job: "j"}, nil)
	require.NoError(t, err)
	err = r.Start(t.Context())
	require.Error(t, err)
	assert.Equal(t, "metrics.listen "+addr+": address already in use", err.Error())
	var le *ListenError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, addr, le.Addr)
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	require.NoError(t, r.Finish(t.Context(), Failed))
}

// pushConfig pushes to g every millisecond.
func pushConfig(g *pushgateway) *PushConfig {
	return &PushConfig{URL: g.srv.URL, Interval: config.Duration(time.Millisecond)}
}

func TestPushesOnIntervalAndAtFinish(t *testing.T) {
	g := newPushgateway(t)
	log, _ := newLog()
	cfg := Config{Push: pushConfig(g)}
	cfg.Push.Username, cfg.Push.Password = "pusher", "s3cret-pw"
	r, err := New(cfg, Labels{Job: "gorgias/eu", Shard: "3", Shards: "8"}, log)
	require.NoError(t, err)
	require.NoError(t, r.Start(t.Context()))
	key := map[string]string{"job": "gorgias/eu", "shard": "3", "shards": "8"}

	// One push at Start, then on the interval: wait for three.
	for range 3 {
		p := g.next(t)
		assert.Equal(t, http.MethodPost, p.method)
		assert.Equal(t, key, p.group)
		assert.Equal(t, "pusher", p.user)
		assert.Equal(t, "s3cret-pw", p.password)
		assert.Equal(t, 1.0, mustValue(t, p.families, "msgmigrate_run_state", map[string]string{"state": "running"}))
	}
	instrument(r)
	require.NoError(t, r.Finish(t.Context(), Completed))

	ps := g.drain()
	require.NotEmpty(t, ps, "Finish pushed nothing")
	last := ps[len(ps)-1]
	assert.Equal(t, http.MethodPost, last.method)
	assert.Equal(t, key, last.group)
	assert.Equal(t, 1.0, mustValue(t, last.families, "msgmigrate_run_state", map[string]string{"state": "completed"}))
	assert.Equal(t, 0.0, mustValue(t, last.families, "msgmigrate_run_state", map[string]string{"state": "running"}))
	assert.Equal(t, 7.0, mustValue(t, last.families, "msgmigrate_records_total", map[string]string{"outcome": "loaded"}))
	assert.Equal(t, 1.0, mustValue(t, last.families, "msgmigrate_requests_total", map[string]string{"status": "error"}))
	success := mustValue(t, last.families, "msgmigrate_last_success_timestamp_seconds", nil)
	assert.InDelta(t, float64(time.Now().Unix()), success, 60)
	// Only the final push carries the success, and the runtime collectors
	// are never pushed: they would outlive the process in the group.
	for _, p := range ps[:len(ps)-1] {
		_, ok := value(t, p.families, "msgmigrate_last_success_timestamp_seconds", nil)
		assert.False(t, ok, "an interval push carried the last success")
	}
	for name := range last.families {
		assert.True(t, strings.HasPrefix(name, "msgmigrate_"), "pushed %s", name)
	}
	// Nothing is pushed after Finish.
	assert.Empty(t, g.drain())
}

// TestFailedRunKeepsLastSuccess: the group a failed run pushes to keeps the
// last success an earlier run pushed, and no series of the earlier run is
// left looking like the failed run's.
func TestFailedRunKeepsLastSuccess(t *testing.T) {
	g := newPushgateway(t)
	labels := Labels{Job: "nightly"}
	key := map[string]string{"job": "nightly"}

	first, err := New(Config{Push: pushConfig(g)}, labels, nil)
	require.NoError(t, err)
	require.NoError(t, first.Start(t.Context()))
	instrument(first) // a 503, retries, a vendor code
	require.NoError(t, first.Finish(t.Context(), Completed))
	success := mustValue(t, g.group(key), "msgmigrate_last_success_timestamp_seconds", nil)

	// The second run fails before its first request, and its context is
	// cancelled (SIGTERM) before Finish: the final push still goes.
	ctx, cancel := context.WithCancel(t.Context())
	second, err := New(Config{Push: pushConfig(g)}, labels, nil)
	require.NoError(t, err)
	require.NoError(t, second.Start(ctx))
	second.Records(OutcomeFailed, "read", 2)
	cancel()
	g.drain()
	require.NoError(t, second.Finish(ctx, Failed))
	ps := g.drain()
	require.NotEmpty(t, ps, "no final push after the run's context was cancelled")
	assert.Equal(t, 1.0, mustValue(t, ps[len(ps)-1].families, "msgmigrate_run_state", map[string]string{"state": "failed"}))

	got := g.group(key)
	assert.Equal(t, success, mustValue(t, got, "msgmigrate_last_success_timestamp_seconds", nil), "the failed run erased the last success")
	assert.Equal(t, 1.0, mustValue(t, got, "msgmigrate_run_state", map[string]string{"state": "failed"}))
	assert.Equal(t, 2.0, mustValue(t, got, "msgmigrate_records_total", map[string]string{"outcome": "failed", "reason": "read"}))
	for _, stale := range []struct {
		name   string
		labels map[string]string
	}{
		{"msgmigrate_requests_total", map[string]string{"status": "503"}},
		{"msgmigrate_requests_total", map[string]string{"status": "200"}},
		{"msgmigrate_records_total", map[string]string{"reason": "INVALID_DATE"}},
		{"msgmigrate_retries_total", map[string]string{"reason": "server_error"}},
		{"msgmigrate_retries_total", map[string]string{"reason": "transport"}},
		{"msgmigrate_throttled_total", nil},
		{"msgmigrate_batch_items", nil},
	} {
		v, ok := value(t, got, stale.name, stale.labels)
		assert.False(t, ok && v != 0, "the first run's %s%v = %v is still in the group", stale.name, stale.labels, v)
	}
	assert.True(t, math.IsNaN(mustValue(t, got, "msgmigrate_records_expected", nil)), "records_expected of the first run is still in the group")

	// A later success moves it on.
	third, err := New(Config{Push: pushConfig(g)}, labels, nil)
	require.NoError(t, err)
	require.NoError(t, third.Finish(t.Context(), Completed))
	assert.GreaterOrEqual(t, mustValue(t, g.group(key), "msgmigrate_last_success_timestamp_seconds", nil), success)
}

func TestOnlyCompletedIsSuccess(t *testing.T) {
	for _, tt := range []struct {
		outcome string
		success bool
	}{
		{Completed, true},
		{CompletedWithFailures, false},
		{Failed, false},
		{Interrupted, false},
	} {
		t.Run(tt.outcome, func(t *testing.T) {
			g := newPushgateway(t)
			r, err := New(Config{Push: pushConfig(g)}, Labels{Job: "j"}, nil)
			require.NoError(t, err)
			require.NoError(t, r.Finish(t.Context(), tt.outcome))
			ps := g.drain()
			require.Len(t, ps, 1)
			_, ok := value(t, ps[0].families, "msgmigrate_last_success_timestamp_seconds", nil)
			assert.Equal(t, tt.success, ok)
			assert.Equal(t, 1.0, mustValue(t, ps[0].families, "msgmigrate_run_state", map[string]string{"state": tt.outcome}))
		})
	}
}

func TestPushFailureOnlyWarns(t *testing.T) {
	g := newPushgateway(t)
	g.refuse(http.StatusInternalServerError)
	log, logs := newLog()
	cfg := Config{Push: pushConfig(g)}
	cfg.Push.Username, cfg.Push.Password = "pusher", "s3cret-pw"
	r, err := New(cfg, Labels{Job: "j"}, log)
	require.NoError(t, err)
	require.NoError(t, r.Start(t.Context()))
	for range 3 {
		assert.True(t, g.next(t).refused)
	}
	require.NoError(t, r.Finish(t.Context(), Completed), "a push that failed must not fail the run")

	out := logs.String()
	assert.Contains(t, out, "level=WARN")
	assert.Contains(t, out, "final push to the Pushgateway failed")
	assert.Contains(t, out, "500")
	assert.NotContains(t, out, "s3cret-pw")
	// However many interval pushes failed, the loop warned once.
	assert.Equal(t, 1, strings.Count(out, "push to the Pushgateway failed; the run goes on"))
}

func TestPushUnreachableOnlyWarns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	log, logs := newLog()
	r, err := New(Config{Push: &PushConfig{URL: "http://" + addr}}, Labels{Job: "j"}, log)
	require.NoError(t, err)
	require.NoError(t, r.Finish(t.Context(), Interrupted))
	assert.Contains(t, logs.String(), "final push to the Pushgateway failed")
}

func readTextfile(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(f)
	require.NoError(t, err)
	return fams
}

func TestTextfile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "textfile", "nightly.prom") // the directory is made
	labels := Labels{Job: "nightly", Shard: "0", Shards: "2"}
	run := func(outcome string, records int) {
		t.Helper()
		r, err := New(Config{File: path}, labels, nil)
		require.NoError(t, err)
		require.NoError(t, r.Start(t.Context()))
		r.Records(OutcomeLoaded, "", records)
		require.NoError(t, r.Finish(t.Context(), outcome))
	}

	run(Completed, 5)
	fams := readTextfile(t, path)
	want := map[string]string{"job": "nightly", "shard": "0", "shards": "2"}
	assert.Equal(t, 5.0, mustValue(t, fams, "msgmigrate_records_total", map[string]string{"job": "nightly", "shard": "0", "outcome": "loaded"}))
	assert.Equal(t, 1.0, mustValue(t, fams, "msgmigrate_run_state", map[string]string{"job": "nightly", "state": "completed"}))
	success := mustValue(t, fams, "msgmigrate_last_success_timestamp_seconds", want)
	assert.InDelta(t, float64(time.Now().Unix()), success, 60)
	for name := range fams {
		// node_exporter has its own go_ and process_ series; ours would clash.
		assert.True(t, strings.HasPrefix(name, "msgmigrate_"), "textfile holds %s", name)
	}

	// A failed run rewrites the file and keeps the last success.
	run(Failed, 2)
	fams = readTextfile(t, path)
	assert.Equal(t, 2.0, mustValue(t, fams, "msgmigrate_records_total", map[string]string{"outcome": "loaded"}))
	assert.Equal(t, 1.0, mustValue(t, fams, "msgmigrate_run_state", map[string]string{"state": "failed"}))
	assert.Equal(t, success, mustValue(t, fams, "msgmigrate_last_success_timestamp_seconds", want), "the failed run lost the last success")

	// Written by rename: nothing else is left in the directory.
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "nightly.prom", entries[0].Name())
}

func TestTextfileFirstRunFailed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.prom")
	r, err := New(Config{File: path}, Labels{Job: "j"}, nil)
	require.NoError(t, err)
	require.NoError(t, r.Finish(t.Context(), Interrupted))
	fams := readTextfile(t, path)
	_, ok := value(t, fams, "msgmigrate_last_success_timestamp_seconds", nil)
	assert.False(t, ok, "a run that never succeeded has no last success")
	assert.Equal(t, 1.0, mustValue(t, fams, "msgmigrate_run_state", map[string]string{"state": "interrupted"}))
}

func TestTextfileUnwritable(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	path := filepath.Join(blocker, "j.prom")
	r, err := New(Config{File: path}, Labels{Job: "j"}, nil)
	require.NoError(t, err)
	err = r.Finish(t.Context(), Completed)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "metrics.file")
	assert.Contains(t, err.Error(), blocker)
}

func TestNilRunDoesNothing(t *testing.T) {
	var r *Run
	require.NoError(t, r.Start(t.Context()))
	r.Records(OutcomeLoaded, "", 1)
	r.SetExpected(3)
	r.Request(200, time.Second)
	r.Retry(RetryThrottled)
	r.Throttled(time.Second)
	r.InFlight(1)
	r.Batch(1, 2)
	assert.Equal(t, "", r.Addr())
	require.NoError(t, r.Finish(t.Context(), Completed))
}

func TestNoOutputIsNilRun(t *testing.T) {
	r, err := New(Config{}, Labels{Job: "j"}, nil)
	require.NoError(t, err)
	assert.Nil(t, r)
}

func TestFinishTwiceAndStartAfterFinish(t *testing.T) {
	g := newPushgateway(t)
	r, err := New(Config{Push: pushConfig(g)}, Labels{Job: "j"}, nil)
	require.NoError(t, err)
	require.NoError(t, r.Finish(t.Context(), Completed))
	require.NoError(t, r.Finish(t.Context(), Failed))
	assert.Len(t, g.drain(), 1, "the second Finish pushed")
	assert.Error(t, r.Start(t.Context()))
}

func TestUnknownOutcomeCountsAsFailed(t *testing.T) {
	g := newPushgateway(t)
	r, err := New(Config{Push: pushConfig(g)}, Labels{Job: "j"}, nil)
	require.NoError(t, err)
	err = r.Finish(t.Context(), "done")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown outcome "done"`)
	ps := g.drain()
	require.Len(t, ps, 1)
	assert.Equal(t, 1.0, mustValue(t, ps[0].families, "msgmigrate_run_state", map[string]string{"state": "failed"}))
}

func TestLabelsAreBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.prom")
	r, err := New(Config{File: path}, Labels{Job: "j"}, nil)
	require.NoError(t, err)
	for i := range maxReasons + 5 {
		r.Records(OutcomeFailed, "VENDOR_CODE_"+strconv.Itoa(i), 1)
	}
	r.Records(OutcomeFailed, "VENDOR_CODE_0", 1)  // admitted before the bound: still itself
	r.Records(OutcomeFailed, "VENDOR_CODE_24", 1) // past it, the second time too
	r.Records(OutcomeFailed, "map", 1)            // the pipeline's own: never "other"
	r.Records(OutcomeSkipped, "rule", 1)
	r.Records(OutcomeFailed, "RETRIES_EXHAUSTED", 1)
	r.Records(OutcomeFailed, "\xff\xfeBAD", 1) // invalid UTF-8 would make the client panic
	r.Records("exploded", "", 1)
	r.Request(0, 0)
	r.Request(999, 0)
	r.Request(999, 0)
	r.Request(429, 0)
	r.Retry("cosmic_ray")
	r.Retry(RetryOutage)
	require.NoError(t, r.Finish(t.Context(), Completed))

	fams := readTextfile(t, path)
	reasons := map[string]bool{}
	for _, m := range fams["msgmigrate_records_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "reason" {
				reasons[l.GetValue()] = true
			}
		}
	}
	vendor := 0
	for reason := range reasons {
		if strings.HasPrefix(reason, "VENDOR_CODE_") {
			vendor++
		}
	}
	assert.Equal(t, maxReasons, vendor, "distinct vendor codes kept")
	assert.Equal(t, 2.0, mustValue(t, fams, "msgmigrate_records_total", map[string]string{"reason": "VENDOR_CODE_0"}))
	// The 5 codes past the bound (one of them twice), and the invalid one.
	assert.Equal(t, 7.0, mustValue(t, fams, "msgmigrate_records_total", map[string]string{"outcome": "failed", "reason": "other"}))
	assert.Equal(t, 1.0, mustValue(t, fams, "msgmigrate_records_total", map[string]string{"outcome": "failed", "reason": "map"}))
	assert.Equal(t, 1.0, mustValue(t, fams, "msgmigrate_records_total", map[string]string{"outcome": "skipped", "reason": "rule"}))
	assert.Equal(t, 1.0, mustValue(t, fams, "msgmigrate_records_total", map[string]string{"outcome": "failed", "reason": "RETRIES_EXHAUSTED"}))
	assert.Equal(t, 1.0, mustValue(t, fams, "msgmigrate_records_total", map[string]string{"outcome": "other"}))
	assert.Equal(t, 1.0, mustValue(t, fams, "msgmigrate_requests_total", map[string]string{"status": "error"}))
	assert.Equal(t, 2.0, mustValue(t, fams, "msgmigrate_requests_total", map[string]string{"status": "other"}))
	assert.Equal(t, 1.0, mustValue(t, fams, "msgmigrate_requests_total", map[string]string{"status": "429"}))
	assert.Equal(t, 1.0, mustValue(t, fams, "msgmigrate_retries_total", map[string]string{"reason": "other"}))
	assert.Equal(t, 1.0, mustValue(t, fams, "msgmigrate_retries_total", map[string]string{"reason": "outage"}))
}

// The caches behind Records and Request hold only values that are their own
// label, however many distinct values callers send.
func TestCachesStayBounded(t *testing.T) {
	r, err := New(Config{File: filepath.Join(t.TempDir(), "j.prom")}, Labels{Job: "j"}, nil)
	require.NoError(t, err)
	for i := range 1000 {
		r.Records(OutcomeFailed, "CODE_"+strconv.Itoa(i), 1)
		r.Records(OutcomeFailed, " padded ", 1)
		r.Request(1000+i, 0)
	}
	count := func(m *sync.Map) int {
		n := 0
		m.Range(func(any, any) bool { n++; return true })
		return n
	}
	// "padded" took one of the 20 places, but its callers write " padded ":
	// it is bounded on every call rather than cached under a key that is not a label.
	assert.Equal(t, maxReasons-1, count(&r.recordCounters))
	assert.Equal(t, 0, count(&r.requestCounters))
}

func TestCleanReason(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"INVALID_DATE", "INVALID_DATE"},
		{"  padded ", "padded"},
		{"\xffBAD", "\uFFFDBAD"},
		{strings.Repeat("x", 100), strings.Repeat("x", 64)},
		{strings.Repeat("x", 63) + "é", strings.Repeat("x", 63)}, // not cut inside a character
	} {
		assert.Equal(t, tt.want, cleanReason(tt.in), "cleanReason(%q)", tt.in)
	}
}

func TestNewNeedsJobToPush(t *testing.T) {
	_, err := New(Config{Push: &PushConfig{URL: "http://pgw:9091"}}, Labels{}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "grouping key")
}
