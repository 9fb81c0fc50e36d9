package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// families decodes an exposition (a scrape or a push) by its Content-Type.
func families(r io.Reader, h http.Header) (map[string]*dto.MetricFamily, error) {
	fams := map[string]*dto.MetricFamily{}
	dec := expfmt.NewDecoder(r, expfmt.ResponseFormat(h))
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); errors.Is(err, io.EOF) {
			return fams, nil
		} else if err != nil {
			return nil, err
		}
		fams[mf.GetName()] = mf
	}
}

// sample is the value of name's series whose labels include want, and
// whether there is one.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, m := range fams[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && have[k] == v
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
		}
	}
	return 0, false
}

// pushed is what a stand-in Pushgateway received: each push's path and
// families, decoded as the real one decodes them (by Content-Type).
type pushed struct {
	mu     sync.Mutex
	pushes []push
}

type push struct {
	path string
	fams map[string]*dto.MetricFamily
}

func (p *pushed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fams, err := families(r.Body, r.Header)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.pushes = append(p.pushes, push{r.URL.Path, fams})
	p.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// groupOf reads a push's grouping key from its path, /metrics/job/J/L/V….
func groupOf(t *testing.T, path string) map[string]string {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(path, "/metrics/"), "/")
	require.Zero(t, len(parts)%2, path)
	g := map[string]string{}
	for i := 0; i < len(parts); i += 2 {
		g[parts[i]] = parts[i+1]
	}
	return g
}

func (p *pushed) last() push {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pushes) == 0 {
		return push{}
	}
	return p.pushes[len(p.pushes)-1]
}

// A scheduled run's metrics, as Prometheus sees them: scraped from /metrics
// while the run goes, and pushed to a Pushgateway on the interval and at
// exit — after a SIGTERM (state interrupted, no success) and after the run
// that completes (the success time, every record counted) — grouped by job
// and shard.
func TestMetricsOfARealRun(t *testing.T) {
	const rows = 1500
	job, fake := slowJob(t, rows)
	gw := &pushed{}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	addr := closedPort(t)
	f, err := os.OpenFile(job, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = fmt.Fprintf(f, "metrics:\n  listen: %q\n  push: {url: %q, interval: 1s}\n", addr, srv.URL)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	group := map[string]string{"job": "job", "shard": "0", "shards": "1"}

	cmd := child(t, "run", job, "--no-progress", "--shard", "0/1")
	// Scraped while it runs: it is running, and records are counted.
	var fams map[string]*dto.MetricFamily
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false // not listening yet
		}
		defer resp.Body.Close()
		fams, err = families(resp.Body, resp.Header)
		require.NoError(t, err)
		loaded, _ := sample(fams, "msgmigrate_records_total", map[string]string{"outcome": "loaded"})
		return loaded >= 100
	}, time.Minute, 5*time.Millisecond)
	running, _ := sample(fams, "msgmigrate_run_state", map[string]string{"state": "running"})
	assert.Equal(t, 1.0, running)
	ok, _ := sample(fams, "msgmigrate_requests_total", map[string]string{"status": "200"})
	assert.Positive(t, ok)
	_, has := sample(fams, "msgmigrate_request_duration_seconds", nil)
	assert.True(t, has, "request durations")
	_, has = sample(fams, "msgmigrate_batch_items", nil)
	assert.True(t, has, "batch fill")
	_, has = sample(fams, "msgmigrate_last_success_timestamp_seconds", nil)
	assert.False(t, has, "no success before the end")

	// A node drain: SIGTERM. The run drains, exits 3, and pushes once more.
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 3, exitCode(t, cmd))
	last := gw.last()
	assert.Equal(t, group, groupOf(t, last.path))
	state, _ := sample(last.fams, "msgmigrate_run_state", map[string]string{"state": "interrupted"})
	assert.Equal(t, 1.0, state, "the push at exit says interrupted")
	_, has = sample(last.fams, "msgmigrate_last_success_timestamp_seconds", nil)
	assert.False(t, has, "an interrupted run is no success")
	firstLoaded, _ := sample(last.fams, "msgmigrate_records_total", map[string]string{"outcome": "loaded"})
	require.Positive(t, firstLoaded)
	assert.Less(t, firstLoaded, float64(rows))

	// The same command finishes the job: the last push has the success and
	// counts what this run loaded and skipped.
	cmd = child(t, "run", job, "--no-progress", "--shard", "0/1")
	require.Equal(t, 0, exitCode(t, cmd))
	last = gw.last()
	assert.Equal(t, group, groupOf(t, last.path))
	state, _ = sample(last.fams, "msgmigrate_run_state", map[string]string{"state": "completed"})
	assert.Equal(t, 1.0, state)
	success, has := sample(last.fams, "msgmigrate_last_success_timestamp_seconds", nil)
	require.True(t, has, "the success is pushed")
	assert.InDelta(t, float64(time.Now().Unix()), success, 120)
	loaded, _ := sample(last.fams, "msgmigrate_records_total", map[string]string{"outcome": "loaded"})
	skipped, _ := sample(last.fams, "msgmigrate_records_total", map[string]string{"outcome": "skipped", "reason": "already_loaded"})
	assert.Equal(t, float64(rows), loaded+skipped, "every record counted once")
	assert.Equal(t, int64(rows), fake.MyKaarma.Unique())
	for name := range last.fams {
		assert.True(t, strings.HasPrefix(name, "msgmigrate_"), "pushed %s: the runtime's metrics would outlive the run in the group", name)
	}
}
