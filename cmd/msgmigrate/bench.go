package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/msgmigrate/msgmigrate/internal/gen"
	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/ledger/sqlite"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// benchFlags are the bench command's settings.
type benchFlags struct {
	spec                   gen.Spec
	faults                 sandbox.Faults
	concurrency, batch     int
	input, dir, format     string
	sink                   string
	cpuProfile, memProfile string
	pprofAddr              string
	genOnly, rerun, asJSON bool
}

// benchResult is what bench prints (as text, or as JSON with --json).
type benchResult struct {
	Sink  string `json:"sink"` // the sink's URL, or "in process"
	Input string `json:"input"`
	Job   string `json:"job"`
	// Generated: the input was written by this process, whose peak RSS
	// therefore includes the generator's (a few MB).
	Generated bool `json:"generated"`

	Rows           int64   `json:"rows"`
	Loaded         int64   `json:"loaded"`
	Failed         int64   `json:"failed"`
	WallSeconds    float64 `json:"wall_seconds"`
	ItemsPerSecond float64 `json:"items_per_second"`
	Requests       int64   `json:"requests"`
	// FewestRequests is the fewest the routes allow at this batch size
	// (gen.PerRoute.MinRequests); 0 when the input's routes are unknown.
	FewestRequests int     `json:"fewest_requests,omitempty"`
	MeanBatchFill  float64 `json:"mean_batch_fill"`
	Retried        int64   `json:"retried"`
	Throttled      int64   `json:"throttled"`
	PeakRSSBytes   int64   `json:"peak_rss_bytes"` // getrusage maxrss of this process
	CPUSeconds     float64 `json:"cpu_seconds"`    // user + system, of this process, during the run
	// LedgerBytes is the ledger's size on disk after the run (.db and -wal).
	LedgerBytes          int64   `json:"ledger_bytes"`
	LedgerBytesPerRecord float64 `json:"ledger_bytes_per_record"`

	LatencySeconds float64 `json:"latency_seconds"`
	// Ceiling: the items/s of the fewest requests sent back to back,
	// concurrency at a time, each taking the sink's latency.
	CeilingItemsPerSecond float64           `json:"ceiling_items_per_second,omitempty"`
	SinkStats             sandbox.SinkStats `json:"sink_stats"`
	Rerun                 *benchRerunResult `json:"rerun,omitempty"`
}

// benchRerunResult is the second run over a fully loaded ledger.
type benchRerunResult struct {
	Rows          int64   `json:"rows"`
	Skipped       int64   `json:"skipped"`
	Sent          int64   `json:"sent"` // requests the sink got: 0 when every record is skipped
	WallSeconds   float64 `json:"wall_seconds"`
	RowsPerSecond float64 `json:"rows_per_second"`
}

func benchCmd(g *globals) *cobra.Command {
	var f benchFlags
	c := &cobra.Command{
		Use:   "bench",
		Short: "Run the reference job (generated realistic rows, builtin:csv-to-mykaarma, 8 in flight, batches of 100) and print items/s, requests, batch fill, peak RSS and CPU",
		Long: `Run the reference job and measure it.

With --sink, the job loads into a msgmigrate sandbox you started in another
process (as a user runs it: the sink does not share this process's memory
or garbage collector); without, into a sandbox inside this process, and the
figures say "sink in process".

The input is generated into --dir (realistic rows: ~330 bytes, multi-line,
multi-byte) and reused by later runs with the same spec.`,
		Example: `  msgmigrate sandbox --count-only &                  # in another terminal
  msgmigrate bench --sink http://127.0.0.1:8089 --rows 100000 --dir /tmp/bench
  msgmigrate bench --sink http://127.0.0.1:8089 --rows 1000000 --dir /tmp/bench --rerun --json
  msgmigrate sandbox --count-only --latency 20ms --addr 127.0.0.1:8090 &
  msgmigrate bench --sink http://127.0.0.1:8090 --rows 1000000 --dir /tmp/bench`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.sink != "" {
				for _, name := range faultFlagNames {
					if cmd.Flags().Changed(name) {
						return fmt.Errorf("--%s is the sandbox's flag with --sink: start `msgmigrate sandbox --%s …`", name, name)
					}
				}
			}
			return runBench(cmd.Context(), g, &f)
		},
	}
	fl := c.Flags()
	fl.IntVar(&f.spec.Rows, "rows", 100_000, "rows to generate")
	fl.IntVar(&f.spec.Routes, "routes", 1500, "distinct (department, customer) routes, interleaved")
	fl.Uint64Var(&f.spec.Seed, "gen-seed", 42, "seed of the generated data")
	fl.BoolVar(&f.spec.Short, "short-rows", false, "generate the earlier single-line rows (~245 bytes), to compare with figures measured on them")
	fl.IntVar(&f.concurrency, "concurrency", 8, "requests in flight")
	fl.IntVar(&f.batch, "batch", 100, "items per request")
	fl.StringVar(&f.sink, "sink", "", "base URL of a msgmigrate sandbox in another process (http://127.0.0.1:8089); default: one in this process")
	fl.StringVar(&f.input, "input", "", "use this file instead of generating one")
	fl.StringVar(&f.dir, "dir", "", "work directory: the input, the job, the ledger (default: a temporary one, removed after)")
	fl.StringVar(&f.format, "format", "csv", "what to generate: csv, parquet (one row group) or xlsx")
	fl.BoolVar(&f.genOnly, "gen-only", false, "generate the input and the job file into --dir and stop")
	fl.BoolVar(&f.rerun, "rerun", false, "run the job a second time over the loaded ledger and report its rows/s (everything skipped)")
	fl.BoolVar(&f.asJSON, "json", false, "print the figures as JSON")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the load")
	fl.StringVar(&f.memProfile, "memprofile", "", "write a heap profile after the load")
	fl.StringVar(&f.pprofAddr, "pprof", "", "serve net/http/pprof on this address during the load (e.g. 127.0.0.1:6060), for a heap profile mid-run")
	faultFlags(c, &f.faults)
	c.Flags().Lookup("retry-after").DefValue = "1s"
	return c
}

// faultFlagNames are the flags faultFlags defines.
var faultFlagNames = []string{"latency", "jitter", "throttle", "retry-after", "server-errors", "drop", "garble", "reject", "rate-limit", "seed"}

func runBench(ctx context.Context, g *globals, f *benchFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	info := g.stderr // what is not a figure goes to stderr
	if f.dir == "" {
		d, err := os.MkdirTemp("", "msgmigrate-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		f.dir = d
	} else if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return err
	}
	res := &benchResult{Sink: "in process"}
	input, per, generated, err := benchInput(info, f)
	if err != nil {
		return err
	}
	res.Input, res.Generated = input, generated
	if per != nil {
		res.FewestRequests = per.MinRequests(f.batch)
	}

	// The sink: another process's sandbox, or one started here. Either way
	// the job names its URL, so the job is the same text in both modes.
	base := ""
	if f.sink != "" {
		u, err := url.Parse(strings.TrimSuffix(f.sink, "/"))
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("--sink %q: want the sandbox's base URL, e.g. http://127.0.0.1:8089", f.sink)
		}
		u.Path = strings.TrimSuffix(u.Path, sandbox.MyKaarmaBase)
		base, res.Sink = u.String(), u.String()
	}
	user, pass := envOr("MYKAARMA_USER", "sandbox"), envOr("MYKAARMA_PASSWORD", "sandbox")
	if base == "" && !f.genOnly {
		srv := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{
			Username: user, Password: pass, CountOnly: true, MaxBodyBytes: 8 << 20, Faults: f.faults}})
		defer srv.Close()
		base = srv.URL()
	}
	jobFile, err := benchJob(f, input, base)
	if err != nil {
		return err
	}
	res.Job = jobFile
	if f.genOnly {
		fmt.Fprintf(info, "job: %s (run it with: msgmigrate run %s)\n", jobFile, jobFile)
		return nil
	}
	j, err := job.Load(jobFile, g.sets, os.LookupEnv)
	if err != nil {
		return err
	}
	// Each measurement starts from an empty ledger: the bench's own, in
	// its own directory, and without the earlier report, which the
	// ledger's self-check would take for the trace of a lost ledger.
	if err := sqlite.Remove(j.State); err != nil {
		return err
	}
	for _, p := range []string{j.Report, j.Failures} {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	if _, err := sandbox.ResetStats(ctx, client, base); err != nil {
		return err
	}
	log, err := g.logger()
	if err != nil {
		return err
	}
	opts := pipeline.Options{Log: log, LogEvery: time.Hour, Progress: g.progressWriter()}

	stopProfile, err := startProfiles(f)
	if err != nil {
		return err
	}
	cpu0 := cpuSeconds()
	t0 := time.Now()
	rep, err := pipeline.Run(ctx, ctx, j, opts)
	wall := time.Since(t0).Seconds()
	cpu := cpuSeconds() - cpu0
	stopProfile()
	if err != nil {
		return err
	}
	st, err := sandbox.FetchStats(ctx, client, base)
	if err != nil {
		return err
	}
	res.Rows, res.Loaded, res.Failed = rep.Read, rep.Loaded, rep.Failed
	res.WallSeconds, res.CPUSeconds, res.PeakRSSBytes = wall, cpu, peakRSS()
	res.ItemsPerSecond = float64(rep.Loaded) / wall
	res.Requests, res.MeanBatchFill, res.Retried, res.Throttled = rep.Requests, rep.MeanBatchFill, rep.Retried, rep.Throttled
	res.LedgerBytes = ledgerBytes(j.State)
	if rep.Loaded > 0 {
		res.LedgerBytesPerRecord = float64(res.LedgerBytes) / float64(rep.Loaded)
	}
	res.SinkStats = st
	res.LatencySeconds = st.LatencySeconds
	if res.FewestRequests > 0 && st.LatencySeconds > 0 {
		res.CeilingItemsPerSecond = float64(f.concurrency) * float64(rep.Read) / float64(res.FewestRequests) / st.LatencySeconds
	}

	if f.rerun {
		t0 := time.Now()
		rep2, err := pipeline.Run(ctx, ctx, j, opts)
		if err != nil {
			return err
		}
		wall := time.Since(t0).Seconds()
		st2, err := sandbox.FetchStats(ctx, client, base)
		if err != nil {
			return err
		}
		res.Rerun = &benchRerunResult{Rows: rep2.Read, Skipped: rep2.Skipped, Sent: st2.Requests - st.Requests,
			WallSeconds: wall, RowsPerSecond: float64(rep2.Read) / wall}
	}

	if f.asJSON {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printBench(g.stdout, res)
	}
	if problem := res.eachOnce(); problem != "" {
		return &codeError{code: exitFailed, err: errors.New(problem)}
	}
	return nil
}

// eachOnce says what went wrong if the sink did not get every row exactly
// once.
func (r *benchResult) eachOnce() string {
	switch {
	case r.Failed > 0:
		return fmt.Sprintf("%d records failed (see the failures file beside the job)", r.Failed)
	case r.SinkStats.Duplicates > 0:
		return fmt.Sprintf("the sink acknowledged %d messages more than once", r.SinkStats.Duplicates)
	case r.SinkStats.Unique != r.Loaded:
		return fmt.Sprintf("the ledger says %d loaded, the sink acknowledged %d", r.Loaded, r.SinkStats.Unique)
	case r.Rerun != nil && r.Rerun.Sent > 0:
		return fmt.Sprintf("the rerun of a fully loaded job sent %d requests", r.Rerun.Sent)
	}
	return ""
}

func printBench(w io.Writer, r *benchResult) {
	where := "sink in another process: " + r.Sink
	if r.Sink == "in process" {
		where = "sink in process (shares this process's CPU and memory)"
	}
	fmt.Fprintf(w, "bench: %s\n", where)
	fmt.Fprintf(w, "  rows %d · loaded %d · failed %d · %.1fs\n", r.Rows, r.Loaded, r.Failed, r.WallSeconds)
	fmt.Fprintf(w, "  items/s %.0f\n", r.ItemsPerSecond)
	if r.FewestRequests > 0 {
		fmt.Fprintf(w, "  requests %d = %.3f × the fewest the routes allow (%d) · mean batch fill %.1f\n",
			r.Requests, float64(r.Requests)/float64(r.FewestRequests), r.FewestRequests, r.MeanBatchFill)
	} else {
		fmt.Fprintf(w, "  requests %d (fewest unknown for this input) · mean batch fill %.1f\n", r.Requests, r.MeanBatchFill)
	}
	if r.Retried > 0 || r.Throttled > 0 {
		fmt.Fprintf(w, "  retried %d · throttled %d\n", r.Retried, r.Throttled)
	}
	note := ""
	if r.Generated {
		note = " (this process also generated the input)"
	}
	fmt.Fprintf(w, "  peak RSS %.0f MiB%s · CPU %.1fs (user+sys)\n", float64(r.PeakRSSBytes)/(1<<20), note, r.CPUSeconds)
	fmt.Fprintf(w, "  ledger %.1f MiB on disk (as status counts it): %.0f bytes a record\n", float64(r.LedgerBytes)/(1<<20), r.LedgerBytesPerRecord)
	if r.CeilingItemsPerSecond > 0 {
		fmt.Fprintf(w, "  ceiling at %v: concurrency × rows / fewest requests / latency = %.0f items/s (%.0f%% reached)\n",
			time.Duration(r.LatencySeconds*float64(time.Second)), r.CeilingItemsPerSecond, 100*r.ItemsPerSecond/r.CeilingItemsPerSecond)
	}
	s := r.SinkStats
	fmt.Fprintf(w, "  the sink: %d requests, %d items acknowledged once, %d twice or more, at most %d requests in a second\n",
		s.Requests, s.Unique, s.Duplicates, s.MaxPerSecond)
	if r.Rerun != nil {
		fmt.Fprintf(w, "  rerun over the loaded ledger: %d rows, %d skipped, %d requests, %.1fs = %.0f rows/s\n",
			r.Rerun.Rows, r.Rerun.Skipped, r.Rerun.Sent, r.Rerun.WallSeconds, r.Rerun.RowsPerSecond)
	}
}

// benchInput returns the input file: --input, or the generated file in
// --dir, written again only when its spec changed. per is nil when the
// routes of the input are unknown.
func benchInput(info io.Writer, f *benchFlags) (path string, per gen.PerRoute, generated bool, err error) {
	if f.input != "" {
		path, err = filepath.Abs(f.input)
		if err != nil {
			return "", nil, false, err
		}
		if side, ok := readSidecar(path); ok {
			per = side.PerRoute // generated by an earlier --gen-only
		}
		return path, per, false, nil
	}
	if !slices.Contains([]string{"csv", "parquet", "xlsx"}, f.format) {
		return "", nil, false, fmt.Errorf("--format %q: want csv, parquet or xlsx", f.format)
	}
	path, err = filepath.Abs(filepath.Join(f.dir, "messages."+f.format))
	if err != nil {
		return "", nil, false, err
	}
	want := sidecar{Version: gen.Version, Spec: f.spec, Format: f.format}
	if side, ok := readSidecar(path); ok && side.matches(want, path) {
		fmt.Fprintf(info, "reusing %s: %d rows, %d routes (same spec)\n", path, f.spec.Rows, f.spec.Routes)
		return path, side.PerRoute, false, nil
	}
	// A sidecar is written only once its file is complete: an interrupted
	// generation leaves none, and is not reused.
	if err := os.Remove(sidecarPath(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", nil, false, err
	}
	t0 := time.Now()
	switch f.format {
	case "csv":
		per, err = writeCSV(path, f.spec)
	case "parquet":
		per, err = gen.WriteParquet(path, f.spec)
	case "xlsx":
		per, err = gen.WriteXLSX(path, f.spec)
	}
	if err != nil {
		return "", nil, false, err
	}
	want.Bytes, want.PerRoute = fileSize(path), per
	if err := writeSidecar(path, want); err != nil {
		return "", nil, false, err
	}
	fmt.Fprintf(info, "generated %s: %d rows, %d routes, %.1f MB (%.0f bytes a row) in %.1fs\n", path, f.spec.Rows, f.spec.Routes,
		float64(want.Bytes)/1e6, float64(want.Bytes)/float64(max(f.spec.Rows, 1)), time.Since(t0).Seconds())
	return path, per, true, nil
}

func writeCSV(path string, spec gen.Spec) (gen.PerRoute, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	per, err := gen.Write(f, spec)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return per, err
}

// sidecar describes a generated file, beside it as FILE.spec.json, so a
// later run can reuse the file and still know its routes.
type sidecar struct {
	Version  int          `json:"version"` // gen.Version
	Spec     gen.Spec     `json:"spec"`
	Format   string       `json:"format"`
	Bytes    int64        `json:"bytes"`
	PerRoute gen.PerRoute `json:"per_route"`
}

func sidecarPath(path string) string { return path + ".spec.json" }

func (s sidecar) matches(want sidecar, path string) bool {
	return s.Version == want.Version && s.Spec == want.Spec && s.Format == want.Format && s.Bytes == fileSize(path) && s.Bytes > 0
}

func readSidecar(path string) (sidecar, bool) {
	var s sidecar
	b, err := os.ReadFile(sidecarPath(path))
	if err != nil || json.Unmarshal(b, &s) != nil {
		return s, false
	}
	return s, true
}

func writeSidecar(path string, s sidecar) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return os.WriteFile(sidecarPath(path), b, 0o644)
}

// benchJob writes the reference job for input against the sandbox at base
// (empty with --gen-only and no --sink: the in-process sandbox). The
// credentials are the sandbox's: from the environment, default "sandbox".
func benchJob(f *benchFlags, input, base string) (string, error) {
	kind := strings.TrimPrefix(filepath.Ext(input), ".")
	sinkURL := "sandbox"
	if base != "" {
		sinkURL = base + sandbox.MyKaarmaBase
	}
	dir, err := filepath.Abs(f.dir)
	if err != nil {
		return "", err
	}
	jobFile := filepath.Join(dir, "bench.yaml")
	text := fmt.Sprintf(`# The reference job of msgmigrate bench.
source: {kind: %s, path: %q}
mapping: builtin:csv-to-mykaarma
sink:
  kind: mykaarma
  url: %q
  username: ${MYKAARMA_USER:-sandbox}
  password: ${MYKAARMA_PASSWORD:-sandbox}
  batch: {max_items: %d, max_bytes: 4MiB}
  concurrency: %d
state: %q
report: %q
failures: %q
`, kind, input, sinkURL, f.batch, f.concurrency,
		filepath.Join(dir, "bench.db"), filepath.Join(dir, "bench.report.json"), filepath.Join(dir, "bench.failures.jsonl"))
	return jobFile, os.WriteFile(jobFile, []byte(text), 0o644)
}

// startProfiles starts the profiles asked for; stop writes them.
func startProfiles(f *benchFlags) (stop func(), err error) {
	var cpu *os.File
	if f.cpuProfile != "" {
		if cpu, err = os.Create(f.cpuProfile); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, err
		}
	}
	if f.pprofAddr != "" {
		ln, err := net.Listen("tcp", f.pprofAddr)
		if err != nil {
			return nil, fmt.Errorf("--pprof: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		go http.Serve(ln, mux)
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if f.memProfile != "" {
			if mf, err := os.Create(f.memProfile); err == nil {
				pprof.Lookup("heap").WriteTo(mf, 0)
				mf.Close()
			}
		}
	}, nil
}

// cpuSeconds is the user and system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// peakRSS is getrusage's maxrss: kilobytes on Linux, bytes on macOS.
func peakRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) * 1024
}

// ledgerBytes is what the job's ledger takes on disk, as status counts it
// (for SQLite: the file, its WAL and its key index).
func ledgerBytes(state string) int64 {
	rs, err := ledger.Readers(state)
	if err != nil {
		return 0
	}
	defer closeAll(rs)
	var n int64
	for _, r := range rs {
		n += sizeOf(r)
	}
	return n
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
