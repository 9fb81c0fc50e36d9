package pipeline_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	_ "github.com/msgmigrate/msgmigrate/extract/all"
	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/ledger"
	_ "github.com/msgmigrate/msgmigrate/load/all"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

const (
	dept  = "3f2b8c1e-6d4a-4f0e-9b7a-1c2d3e4f5a6b"
	cust  = "0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b"
	cust2 = "1c2d3e4f-5061-4728-9bac-1d2e3f4a5b6c"
)

// harness is a job in a temporary directory, loading into a sandbox the
// test can inspect.
type harness struct {
	t    *testing.T
	dir  string
	job  string
	fake *sandbox.Running
	logs strings.Builder
}

func newHarness(t *testing.T, csv string, faults sandbox.Faults, sinkExtra string) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir()}
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "messages.csv"), []byte(csv), 0o644))
	h.fake = sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p", Faults: faults}})
	t.Cleanup(h.fake.Close)
	h.job = filepath.Join(h.dir, "job.yaml")
	jobText := fmt.Sprintf(`source: {kind: csv, path: messages.csv}
mapping: builtin:csv-to-mykaarma
sink:
  kind: mykaarma
  url: sandbox
  username: u
  password: p
  retry: {max_attempts: 10, base_delay: 1ms, max_delay: 10ms}
%s`, sinkExtra)
	require.NoError(t, os.WriteFile(h.job, []byte(jobText), 0o644))
	return h
}

func (h *harness) load(sets ...string) *job.Job {
	h.t.Helper()
	j, err := job.Load(h.job, sets, func(string) (string, bool) { return "", false })
	require.NoError(h.t, err)
	return j
}

func (h *harness) opts() pipeline.Options {
	return pipeline.Options{URLs: h.fake, Log: slog.New(slog.NewTextHandler(&h.logs, nil))}
}

func (h *harness) run(opts ...func(*pipeline.Options)) *pipeline.Report {
	h.t.Helper()
	return h.runSets(nil, opts...)
}

// runSets runs the job with --set overrides.
func (h *harness) runSets(sets []string, opts ...func(*pipeline.Options)) *pipeline.Report {
	h.t.Helper()
	o := h.opts()
	for _, f := range opts {
		f(&o)
	}
	rep, err := pipeline.Run(context.Background(), context.Background(), h.load(sets...), o)
	require.NoError(h.t, err)
	return rep
}

// failures reads the failures file.
func (h *harness) failures() []pipeline.FailureLine {
	h.t.Helper()
	f, err := os.Open(h.load().Failures)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(h.t, err)
	defer f.Close()
	var out []pipeline.FailureLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l pipeline.FailureLine
		require.NoError(h.t, json.Unmarshal(sc.Bytes(), &l))
		out = append(out, l)
	}
	return out
}

// ledgerView is what the tests look at in a job's ledger, every shard's.
type ledgerView struct {
	rs      []ledger.Reader
	entries map[string]ledger.Entry
}

func openView(t *testing.T, state string) *ledgerView {
	t.Helper()
	rs, err := ledger.Readers(state)
	require.NoError(t, err)
	v := &ledgerView{rs: rs, entries: map[string]ledger.Entry{}}
	for _, r := range rs {
		keep := func(e ledger.Entry) error { v.entries[e.Key] = e; return nil }
		require.NoError(t, r.Loaded(keep))
		require.NoError(t, r.Failed(nil, keep))
	}
	return v
}

func (v *ledgerView) close() {
	for _, r := range v.rs {
		r.Close()
	}
}

// Counts are the items by outcome.
func (v *ledgerView) Counts() (map[string]int, error) {
	out := map[string]int{}
	for _, e := range v.entries {
		out[e.Status]++
	}
	return out, nil
}

func (v *ledgerView) Entry(key string) (ledger.Entry, bool, error) {
	e, ok := v.entries[key]
	return e, ok, nil
}

func (v *ledgerView) Runs(n int) ([]ledger.Run, error) { return v.rs[0].Runs(n) }

// withLedger reads the job's ledger, as status does.
func (h *harness) withLedger(fn func(*ledgerView)) {
	h.t.Helper()
	v := openView(h.t, h.load().State)
	defer v.close()
	fn(v)
}

const csvHeader = "id,department_uuid,customer_uuid,channel,direction,sent_at,created_at,subject,body_text,body_html,user_uuid,attachment_url\n"

func row(id int, body string) string {
	return fmt.Sprintf("%d,%s,%s,sms,inbound,2024-03-01T09:15:00Z,,,%s,,,\n", id, dept, cust, body)
}
