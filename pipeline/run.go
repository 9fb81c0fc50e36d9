// Package pipeline runs a job: source → mapper → gate (ledger, duplicates)
// → batcher → loader → recorder (ledger, failures file, report). Stages are
// goroutines joined by bounded channels, so memory stays flat whatever the
// input's size.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/ledger"
	_ "github.com/msgmigrate/msgmigrate/ledger/all" // the backends a state: may name
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/metrics"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transform"
	"github.com/msgmigrate/msgmigrate/transport"
)

// Options shape one run.
type Options struct {
	DryRun bool // map and check every record; send nothing, write no ledger
	Limit  int  // read at most this many records; 0 = all
	Log    *slog.Logger
	// Progress, when set, gets a live progress display (a terminal);
	// otherwise progress goes to Log every LogEvery.
	Progress io.Writer
	LogEvery time.Duration
	// URLs resolves the connectors' url: keys (nil: as written).
	URLs URLResolver
	// RateShare is the fraction of each connector's rate this process takes
	// (1/P when P processes of one job run at once); 0 = all of it.
	RateShare float64
	// Shard keeps only the records whose route falls to this shard — or,
	// ShardByFile, only the part files that do.
	Shard       ledger.Shard
	ShardByFile bool
	// NewLedger starts over on purpose when the ledger is damaged or lost.
	NewLedger bool
	// Codes limits a retry to the failures with these codes.
	Codes []string
	// ResendChanged sends again the records changed since they were
	// loaded — only to a sink that updates by key (load.UpdatesByKey).
	ResendChanged bool
	// Metrics, when set, is told about the run (nil: no metrics).
	Metrics *metrics.Run
}

func (o *Options) defaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.LogEvery <= 0 {
		o.LogEvery = 10 * time.Second
	}
}

// counters are the run's live counts.
type counters struct {
	read, loaded, failed, wouldSend, otherShards atomic.Int64
	skipRule, skipLoaded, skipDup, skipChanged   atomic.Int64
	skipSource, skipSink                         atomic.Int64
	failRead, failMap, failLoad                  atomic.Int64
	readEnded                                    atomic.Bool // the source was read to its end

	mu           sync.Mutex
	skipBySource map[string]int64
	skipBySink   map[string]int64
	byCode       map[string]int64
	byRoute      map[string]int64 // load failures by route (parts joined by /)
}

func (c *counters) skipped() int64 {
	return c.skipRule.Load() + c.skipLoaded.Load() + c.skipDup.Load() + c.skipChanged.Load() + c.skipSource.Load() + c.skipSink.Load()
}

// run is one execution's shared state.
type run struct {
	job      *job.Job
	command  string
	opts     Options
	prog     *transform.Program
	store    store
	led      ledger.Ledger // nil in a dry run
	runID    int64
	c        counters
	loader   *load.Loader
	open     *openKeys
	rec      *recorder
	spill    *spill
	fail     func(error) // stops the run for a fatal error
	changed  []Ref
	chMu     sync.Mutex
	warnings []string
	// failedOrigins are the records that failed to read or map in an
	// earlier run: reading one correctly now clears its failure.
	failedOrigins map[msg.Origin]bool

	lastOrigin atomic.Pointer[string]
}

// Run runs a job. ctx stops everything at once; when drain is done the run
// stops reading, lets requests in flight finish and records them, and
// returns a report whose State is "interrupted".
func Run(ctx, drain context.Context, j *job.Job, opts Options) (*Report, error) {
	opts.defaults()
	started := time.Now()
	j = forShard(j, opts.Shard)
	prog, err := j.Compile()
	if err != nil {
		return nil, err
	}
	r := &run{job: j, command: "run", opts: opts, prog: prog, open: newOpenKeys()}
	env := extract.Env{ResolveURL: opts.resolver(j.SourceKind), RateShare: opts.RateShare, Log: opts.Log}
	if opts.ShardByFile && opts.Shard.Count > 0 {
		env.Files = &extract.Shard{Index: opts.Shard.Index, Count: opts.Shard.Count}
	}
	src, err := extract.Open(ctx, j.SourceKind, j.Source, env)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if env.Files != nil {
		if b, ok := src.(extract.ByFile); !ok || !b.ShardedByFile() {
			return nil, fmt.Errorf("%s: shard.by: file needs a source that reads part files (csv or parquet, with a directory or a glob as its path); %s shards by route", j.File, j.SourceKind)
		}
	}
	if err := CheckColumns(src, prog, opts.Log); err != nil {
		return nil, err
	}
	items := make(chan *msg.Item, 1024)
	produce := func(ctx context.Context) error { return r.readAndMap(ctx, drain, src, items) }
	return r.execute(ctx, drain, started, src, produce, items)
}

// Retry resends the items the ledger holds as failed (those with one of
// opts.Codes, when given), from their stored payloads, without reading the
// source again. Records that failed to read or map stay failed: only a run
// that reads them correctly clears them.
func Retry(ctx, drain context.Context, j *job.Job, opts Options) (*Report, error) {
	opts.defaults()
	started := time.Now()
	if opts.DryRun {
		return nil, errors.New("retry has no dry run: use validate")
	}
	j = forShard(j, opts.Shard)
	if _, err := ledger.Readers(j.State); err != nil {
		return nil, fmt.Errorf("retry: %w", err)
	}
	prog, err := j.Compile()
	if err != nil {
		return nil, err
	}
	r := &run{job: j, command: "retry", opts: opts, prog: prog, open: newOpenKeys()}
	items := make(chan *msg.Item, 1024)
	produce := func(ctx context.Context) error {
		defer close(items)
		// Collect first: the recorder rewrites these rows while we send.
		var entries []ledger.Entry
		if err := r.led.Failed(opts.Codes, func(e ledger.Entry) error {
			entries = append(entries, ledger.Entry{Key: e.Key, Route: e.Route, Origin: e.Origin, Hash: e.Hash, Payload: e.Payload, Kept: e.Kept})
			return nil
		}); err != nil {
			return err
		}
		if len(entries) == 0 && len(opts.Codes) > 0 {
			if err := r.noFailuresWith(opts.Codes); err != nil {
				return err
			}
		}
		for _, e := range entries {
			if drain.Err() != nil {
				return nil
			}
			it := &msg.Item{Key: e.Key, Route: e.Route, Payload: e.Payload, Origin: e.Origin, Hash: e.Hash, Kept: e.Kept}
			r.c.read.Add(1)
			select {
			case items <- it:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	return r.execute(ctx, drain, started, nil, produce, items)
}

// noFailuresWith says, when retry --code matched nothing, which codes the
// ledger's failures do have: a misspelt code must not read as success.
func (r *run) noFailuresWith(codes []string) error {
	groups, err := r.led.Breakdown("code")
	if err != nil {
		return err
	}
	var have []string
	var n int64
	for _, g := range groups {
		if g.Failed > 0 {
			have = append(have, fmt.Sprintf("%s %d", g.Name, g.Failed))
			n += g.Failed
		}
	}
	if n > 0 {
		r.c.mu.Lock()
		if r.c.byCode == nil {
			r.c.byCode, r.c.byRoute = map[string]int64{}, map[string]int64{}
		}
		r.c.byCode["STILL_load"] += n
		r.c.mu.Unlock()
	}
	w := fmt.Sprintf("no failed items with code %s", strings.Join(codes, " or "))
	if len(have) > 0 {
		w += "; the ledger's failures by code: " + strings.Join(have, ", ")
	}
	r.warnings = append(r.warnings, w)
	return nil
}

// CheckColumns checks the mapping's row.X against the columns the source
// knows before reading (a header, a schema, a vendor's record type): a typo
// would read nothing on every record, silently. Columns nothing reads are a
// hint, logged.
func CheckColumns(src extract.Source, prog *transform.Program, log *slog.Logger) error {
	c, ok := src.(extract.Columns)
	if !ok {
		return nil
	}
	errs, unread := prog.CheckColumns(c.Columns())
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if h := transform.UnreadHint(unread); h != "" && log != nil {
		log.Info(h)
	}
	return nil
}

// workDir is where a run keeps its scratch files (the spill): beside a
// file ledger, else the system's temporary directory.
func (r *run) workDir() string {
	if filepath.IsAbs(r.job.State) || !containsScheme(r.job.State) {
		return filepath.Dir(r.job.State)
	}
	return os.TempDir()
}

func containsScheme(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i:i+3] == "://" {
			return true
		}
	}
	return false
}

func (r *run) execute(ctx, drain context.Context, started time.Time, src extract.Source, produce func(context.Context) error, items chan *msg.Item) (*Report, error) {
	j := r.job
	var sink load.Sink
	var err error
	if r.opts.DryRun {
		// The sink section is checked as a run would (nothing is sent).
		s, err := load.Open(ctx, j.SinkKind, j.Sink, load.Env{Schema: r.prog.Schema, ResolveURL: func(string) (string, error) { return "http://dry-run.invalid", nil }})
		if err != nil {
			return nil, err
		}
		s.Close()
		ds, err := newDryStore(j.SourceKind)
		if err != nil {
			return nil, err
		}
		defer ds.Close()
		r.store = ds
	} else {
		led, err := openLedger(j.State, ledger.Options{Shard: r.opts.Shard, Traces: []string{j.Report}, NewLedger: r.opts.NewLedger, Log: r.opts.Log})
		if err != nil {
			return nil, err
		}
		defer led.Close()
		r.led, r.store = led, led
		if err := r.loadFailedOrigins(); err != nil {
			return nil, err
		}
		if r.command == "retry" {
			r.warnUnsent()
		}
		if r.runID, err = led.StartRun(j.File, r.command); err != nil {
			return nil, err
		}
		if inc, ok := src.(extract.Incremental); ok {
			if err := r.startFromWatermark(inc); err != nil {
				return nil, err
			}
		}
		if sink, err = load.Open(ctx, j.SinkKind, j.Sink, load.Env{Schema: r.prog.Schema, ResolveURL: r.opts.resolver(j.SinkKind), RateShare: r.opts.RateShare, Log: r.opts.Log}); err != nil {
			led.FinishRun(r.runID, "failed", "", nil)
			return nil, err
		}
		if r.opts.ResendChanged && !load.CanUpdateByKey(sink) {
			sink.Close()
			led.FinishRun(r.runID, "failed", "", nil)
			return nil, fmt.Errorf("--resend-changed: the %s sink does not update a message by its key (a resend could duplicate it in the target); it works with the sinks that write to a record by its id: gorgias, superoffice, tracezilla, ezimanager", j.SinkKind)
		}
		r.loader = load.NewLoader(sink)
		if r.opts.Metrics != nil {
			r.loader.Pacer().SetObserver(r.opts.Metrics)
		}
	}
	maxOpen := 0
	if r.loader != nil {
		maxOpen = r.loader.Options().MaxOpen
	}
	r.spill = newSpill(r.workDir(), maxOpen)
	defer r.spill.Close()
	fw, err := newFailureWriter(j.Failures, r.opts.DryRun)
	if err != nil {
		return nil, err
	}
	if r.command == "retry" {
		// The failures file is written anew: the records that still fail
		// to read or map stay in it.
		if err := r.rewriteRecordFailures(fw); err != nil {
			fw.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.fail = cancel
	rec := newRecorder(r, fw, cancel)
	r.rec = rec

	stopProgress := r.startProgress(src)
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan *load.Batch, 16)
	g.Go(func() error {
		err := produce(gctx)
		if err == nil && drain.Err() == nil && gctx.Err() == nil {
			r.c.readEnded.Store(true)
		}
		return err
	})
	g.Go(func() error { return r.gate(gctx, drain, items, batches, rec) })
	if r.loader != nil {
		g.Go(func() error {
			return r.loader.Run(gctx, drain, batches, rec.results)
		})
	} else {
		g.Go(func() error {
			for range batches {
			}
			return nil
		})
	}
	runErr := g.Wait()
	recErr := rec.close()
	if cause := context.Cause(ctx); runErr != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		runErr = cause // the recorder's failure is the reason, not the cancellation it caused
	}
	stopProgress()
	if sink != nil {
		if err := sink.Close(); err != nil && runErr == nil {
			runErr = err
		}
	}
	ferr := fw.Close()
	rep := r.report(started)
	if m := r.opts.Metrics; m != nil && rep.Unsent > 0 {
		m.Records("unsent", "", int(rep.Unsent))
	}
	if h, ok := src.(extract.Hints); ok {
		rep.Hints = h.Hints()
		for _, line := range rep.Hints {
			r.opts.Log.Warn(line)
		}
	}
	if n := rep.SkippedBy.Changed; n > 0 {
		r.opts.Log.Warn("records changed since they were loaded were not resent", "changed", n, "listed_in_report", rep.ChangedListed,
			"what_to_do", "check the mapping or the source; with a sink that updates by key, run again with --resend-changed")
	}
	rep.FailuresFile = fw.path
	// An outage stops the run resumably: what was not sent stays unsent.
	var outage *transport.OutageError
	if errors.As(runErr, &outage) {
		rep.StoppedBy = outage.Error()
		runErr = nil
	}
	switch {
	case rep.StoppedBy != "" || drain.Err() != nil:
		rep.State = "interrupted"
	case runErr != nil:
		rep.State = "failed"
	}
	// Every error is reported: the ledger's own (a full disk) as much as
	// the one that stopped the run.
	runErr = errors.Join(runErr, recErr, ferr)
	if r.led != nil {
		rep.LedgerFile = r.led.Where()
		state := rep.State
		if runErr != nil {
			state = "failed"
		}
		if err := r.led.FinishRun(r.runID, state, rep.LastOrigin, rep); err != nil {
			runErr = errors.Join(runErr, err)
		}
		// A trial (--limit) read only part of what is there: the watermark
		// stays, or a newest-first listing would skip what it did not read.
		if inc, ok := src.(extract.Incremental); ok && runErr == nil && rep.State == "completed" && rep.Unsent == 0 && r.opts.Limit == 0 {
			if err := r.advanceWatermark(inc); err != nil {
				runErr = err
			}
		}
	}
	if r.opts.DryRun || j.Report == "" {
		return rep, runErr
	}
	rep.ReportFile = j.Report
	if err := rep.Write(j.Report); err != nil {
		rep.ReportFile = ""
		runErr = errors.Join(runErr, fmt.Errorf("report: %w", err))
	}
	return rep, runErr
}

// openLedger opens a job's ledger; a variable so that a test can make the
// ledger fail as a full disk would.
var openLedger = ledger.Open

// loadFailedOrigins reads which records failed to read or map before.
func (r *run) loadFailedOrigins() error {
	r.failedOrigins = map[msg.Origin]bool{}
	return r.led.RecordFailures(func(f ledger.RecordFailure) error {
		r.failedOrigins[f.Origin] = true
		return nil
	})
}

// warnUnsent notes, for a retry, that the last run did not finish: retry
// resends failures only; what that run never sent needs a run.
func (r *run) warnUnsent() {
	runs, err := r.led.Runs(20)
	if err != nil {
		return
	}
	for _, run := range runs {
		if run.Command != "run" {
			continue
		}
		if run.State == "completed" {
			return
		}
		var c struct{ Unsent int64 }
		_ = json.Unmarshal([]byte(run.Counts), &c)
		w := fmt.Sprintf("the last run (#%d) ended %s", run.ID, run.State)
		if c.Unsent > 0 {
			w += fmt.Sprintf(" with %d records unsent", c.Unsent)
		}
		r.warnings = append(r.warnings, w+": retry resends only what failed; `msgmigrate run` sends the rest")
		return
	}
}

// rewriteRecordFailures writes the records that still fail to read or map
// to a retry's failures file, and counts them.
func (r *run) rewriteRecordFailures(fw *failureWriter) error {
	return r.led.RecordFailures(func(f ledger.RecordFailure) error {
		var rec []byte
		if json.Valid([]byte(f.Raw)) {
			rec = []byte(f.Raw)
		} else if f.Raw != "" {
			rec, _ = json.Marshal(map[string]string{"raw": f.Raw})
		}
		r.c.stillFailed(f.Stage)
		return fw.writeLine(FailureLine{Origin: f.Origin.String(), Stage: f.Stage, Error: f.Error, Record: rec, Earlier: true})
	})
}

func (c *counters) stillFailed(stage string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byCode == nil {
		c.byCode = map[string]int64{}
	}
	c.byCode["STILL_"+stage]++
}

// skippedBySink counts an item the sink left alone by its own rule.
func (r *run) skippedBySink(reason string) {
	r.c.skipSink.Add(1)
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	if r.c.skipBySink == nil {
		r.c.skipBySink = map[string]int64{}
	}
	r.c.skipBySink[reason]++
	if r.opts.Metrics != nil {
		r.opts.Metrics.Records("skipped", reason, 1)
	}
}

// countCode counts a load failure by the vendor's code, for the report.
func (r *run) countCode(code string, route msg.Route) {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	if r.c.byCode == nil {
		r.c.byCode, r.c.byRoute = map[string]int64{}, map[string]int64{}
	}
	if _, ok := r.c.byCode[code]; !ok && len(r.c.byCode) >= maxCodes {
		code = "other"
	}
	r.c.byCode[code]++
	if r.opts.Metrics != nil {
		r.opts.Metrics.Records("failed", code, 1)
	}
	if route == nil {
		return // a failure before batching (a key used twice) has no route
	}
	rt := strings.Join(route, "/")
	if _, ok := r.c.byRoute[rt]; !ok && len(r.c.byRoute) >= maxCodes {
		rt = "other"
	}
	r.c.byRoute[rt]++
}

// maxCodes bounds the codes a report breaks failures down by.
const maxCodes = 50

// chunk is a run of consecutive records mapped by one worker; chunks are
// put back in input order, so that of two records with one key the first in
// the file always wins, whatever the scheduling.
type chunk struct {
	recs    []*msg.Record
	items   []*msg.Item // items[i] for recs[i]; nil when skipped or failed
	cleared []msg.Origin
	done    chan struct{}
}

const (
	chunkSize  = 256
	chunkBytes = 4 << 20               // big records (a 15 MiB cell) make small chunks: memory stays bounded
	chunkAge   = 50 * time.Millisecond // a slow source's records do not wait for a full chunk
)

// recordSize estimates the memory a record's values hold.
func recordSize(rec *msg.Record) int {
	n := 0
	for k, v := range rec.Fields {
		n += len(k) + 16
		if s, ok := v.(string); ok {
			n += len(s)
		}
	}
	return n
}

// readAndMap reads records and maps them with one mapper per CPU, keeping
// the input's order.
func (r *run) readAndMap(ctx, drain context.Context, src extract.Source, items chan<- *msg.Item) error {
	defer close(items)
	workers := max(1, runtime.GOMAXPROCS(0))
	work := make(chan *chunk, workers)
	order := make(chan *chunk, 2*workers)
	var fatal error
	go func() {
		defer close(work)
		defer close(order)
		fatal = r.read(ctx, drain, src, func(c *chunk) bool {
			select {
			case order <- c:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- c:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := r.prog.NewMapper()
			for c := range work {
				r.mapChunk(m, c)
				close(c.done)
			}
		}()
	}
	defer wg.Wait()
	for c := range order {
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil
		}
		if n := len(c.recs); n > 0 {
			r.lastOrigin.Store(ptr(c.recs[n-1].Origin.String()))
		}
		if len(c.cleared) > 0 && r.rec != nil {
			r.rec.clear(c.cleared)
		}
		for _, it := range c.items {
			if it == nil {
				continue
			}
			select {
			case items <- it:
			case <-ctx.Done():
				return nil
			}
		}
	}
	return fatal
}

// read reads records into chunks and hands each to send; read failures go
// straight to the recorder.
func (r *run) read(ctx, drain context.Context, src extract.Source, send func(*chunk) bool) error {
	c := &chunk{done: make(chan struct{})}
	started := time.Now()
	size := 0
	flush := func() bool {
		if len(c.recs) == 0 {
			return true
		}
		ok := send(c)
		c = &chunk{done: make(chan struct{})}
		started, size = time.Now(), 0
		return ok
	}
	defer flush()
	n := 0
	for {
		if drain.Err() != nil || ctx.Err() != nil {
			return nil
		}
		if r.opts.Limit > 0 && n >= r.opts.Limit {
			return nil
		}
		rec, err := src.Next(ctx)
		// A record's failure first: one that wraps io.EOF is not the end
		// of the source.
		var me *msg.Error
		var skip *msg.Skip
		switch {
		case errors.Is(err, io.EOF) && !errors.As(err, &me):
			return nil
		case errors.As(err, &me):
			n++
			if !r.mine(me.Origin) {
				r.c.read.Add(1)
				r.c.otherShards.Add(1)
				continue
			}
			r.c.read.Add(1)
			r.recordFailure(me, nil)
			continue
		case errors.As(err, &skip):
			n++
			r.c.read.Add(1)
			r.c.skipSource.Add(1)
			r.c.mu.Lock()
			if r.c.skipBySource == nil {
				r.c.skipBySource = map[string]int64{}
			}
			r.c.skipBySource[skip.Reason]++
			r.c.mu.Unlock()
			continue
		case err != nil:
			if ctx.Err() == nil && drain.Err() == nil {
				return fmt.Errorf("reading %s: %w", r.job.SourceKind, err)
			}
			return nil
		}
		n++
		r.c.read.Add(1)
		c.recs = append(c.recs, rec)
		size += recordSize(rec)
		if len(c.recs) >= chunkSize || size >= chunkBytes || time.Since(started) > chunkAge {
			if !flush() {
				return nil
			}
		}
	}
}

// mine reports whether a record without a route (it failed to read or map)
// falls to this shard: by its origin.
func (r *run) mine(o msg.Origin) bool {
	if r.opts.Shard.Count == 0 || r.opts.ShardByFile {
		return true
	}
	return ShardOf(o.String(), r.opts.Shard.Count) == r.opts.Shard.Index
}

func (r *run) mapChunk(m *transform.Mapper, c *chunk) {
	c.items = make([]*msg.Item, len(c.recs))
	for i, rec := range c.recs {
		it, err := m.Map(rec)
		switch {
		case errors.Is(err, transform.ErrSkipped):
			if !r.mine(rec.Origin) {
				r.c.otherShards.Add(1)
				continue
			}
			r.c.skipRule.Add(1)
		case err != nil:
			if !r.mine(rec.Origin) {
				r.c.otherShards.Add(1)
				continue
			}
			var me *msg.Error
			if !errors.As(err, &me) {
				me = &msg.Error{Origin: rec.Origin, Stage: msg.StageMap, Err: err}
			}
			r.recordFailure(me, recordJSON(rec))
			continue
		default:
			if r.opts.Shard.Count > 0 && !r.opts.ShardByFile && ShardOf(it.Route.String(), r.opts.Shard.Count) != r.opts.Shard.Index {
				r.c.otherShards.Add(1)
				continue
			}
			c.items[i] = it
		}
		if r.failedOrigins[rec.Origin] {
			c.cleared = append(c.cleared, rec.Origin)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// recordJSON renders a source record for the failures file.
func recordJSON(rec *msg.Record) []byte {
	if rec == nil || rec.Fields == nil {
		return nil
	}
	b, err := json.Marshal(rec.Fields)
	if err != nil {
		return nil
	}
	return b
}

// recordFailure counts a read, map or gate failure and hands it to the
// recorder.
func (r *run) recordFailure(e *msg.Error, record []byte) {
	switch e.Stage {
	case msg.StageRead:
		r.c.failRead.Add(1)
	case msg.StageMap:
		r.c.failMap.Add(1)
	default:
		r.c.failLoad.Add(1)
		r.countCode(e.Code, nil)
	}
	r.c.failed.Add(1)
	if r.opts.Metrics != nil && e.Stage != msg.StageLoad {
		r.opts.Metrics.Records("failed", string(e.Stage), 1)
	}
	r.rec.failure(failure{err: e, record: record})
}

func (r *run) report(started time.Time) *Report {
	now := time.Now()
	rep := &Report{
		Job: r.job.File, Command: r.command, State: "completed", DryRun: r.opts.DryRun, Shard: r.opts.Shard.String(),
		StartedAt: started.UTC(), FinishedAt: now.UTC(),
		Read: r.c.read.Load(), Loaded: r.c.loaded.Load(), Failed: r.c.failed.Load(),
		Skipped: r.c.skipped(), WouldSend: r.c.wouldSend.Load(), OtherShards: r.c.otherShards.Load(),
		SkippedBy:       SkippedBy{Rule: r.c.skipRule.Load(), AlreadyLoaded: r.c.skipLoaded.Load(), Duplicate: r.c.skipDup.Load(), Changed: r.c.skipChanged.Load()},
		FailedBy:        FailedBy{Read: r.c.failRead.Load(), Map: r.c.failMap.Load(), Load: r.c.failLoad.Load()},
		DurationSeconds: now.Sub(started).Seconds(),
		PeakRSSBytes:    PeakRSS(),
	}
	r.c.mu.Lock()
	if len(r.c.skipBySource) > 0 {
		rep.SkippedBy.Source = maps.Clone(r.c.skipBySource)
	}
	if len(r.c.skipBySink) > 0 {
		rep.SkippedBy.Sink = maps.Clone(r.c.skipBySink)
	}
	if len(r.c.byRoute) > 0 {
		rep.FailedByRoute = maps.Clone(r.c.byRoute)
	}
	if len(r.c.byCode) > 0 {
		rep.FailedByCode = maps.Clone(r.c.byCode)
	}
	r.c.mu.Unlock()
	rep.Warnings = r.warnings
	rep.Unsent = rep.Read - rep.Loaded - rep.Skipped - rep.Failed - rep.WouldSend - rep.OtherShards
	if r.loader != nil {
		s, ps := &r.loader.Stats, &r.loader.Pacer().Stats
		rep.Requests, rep.Retried, rep.Throttled, rep.Splits = ps.Requests.Load(), ps.Retries.Load(), ps.Throttled.Load(), s.Splits.Load()
		if n := s.Batches.Load(); n > 0 {
			rep.MeanBatchFill = float64(s.ItemsSent.Load()) / float64(n)
		}
	}
	if rep.DurationSeconds > 0 {
		rep.RecordsPerSecond = float64(rep.Read) / rep.DurationSeconds
	}
	if p := r.lastOrigin.Load(); p != nil {
		rep.LastOrigin = *p
	}
	r.chMu.Lock()
	rep.Changed = r.changed
	rep.ChangedListed = len(r.changed)
	r.chMu.Unlock()
	return rep
}
