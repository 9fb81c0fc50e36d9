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
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/transform"
)

// Options shape one run.
type Options struct {
	DryRun bool // map and check every record; send nothing, write no ledger
	Limit  int  // read at most this many records; 0 = all
	Log    *slog.Logger
	// Progress, when set, gets a live progress bar (a terminal); otherwise
	// progress goes to Log every LogEvery.
	Progress io.Writer
	LogEvery time.Duration
	// URLs resolves the connectors' url: keys (nil: as written).
	URLs URLResolver
	// RateShare is the fraction of each connector's rate this process takes
	// (1/P when P processes of one job run at once); 0 = all of it.
	RateShare float64
}

func (o *Options) defaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.LogEvery <= 0 {
		o.LogEvery = 10 * time.Second
	}
}

// counters are the run's live counts.
type counters struct {
	read, loaded, failed, wouldSend            atomic.Int64
	skipRule, skipLoaded, skipDup, skipChanged atomic.Int64
	skipSource                                 atomic.Int64
	srcMu                                      sync.Mutex
	skipBySource                               map[string]int64
	failRead, failMap, failLoad                atomic.Int64
}

func (c *counters) skipped() int64 {
	return c.skipRule.Load() + c.skipLoaded.Load() + c.skipDup.Load() + c.skipChanged.Load() + c.skipSource.Load()
}

// run is one execution's shared state.
type run struct {
	job     *job.Job
	opts    Options
	prog    *transform.Program
	store   store
	runID   int64
	c       counters
	loader  *load.Loader
	open    *openKeys
	rec     *recorder
	spill   *spill
	fail    func(error) // stops the run for a fatal error
	changed []Ref
	chMu    sync.Mutex

	lastOrigin atomic.Pointer[string]
}

// Run runs a job. ctx stops everything at once; when drain is done the run
// stops reading, lets requests in flight finish and records them, and
// returns a report whose State is "interrupted".
func Run(ctx, drain context.Context, j *job.Job, opts Options) (*Report, error) {
	opts.defaults()
	prog, err := j.Compile()
	if err != nil {
		return nil, err
	}
	r := &run{job: j, opts: opts, prog: prog, open: newOpenKeys()}
	src, err := extract.Open(ctx, j.SourceKind, j.Source, extract.Env{ResolveURL: opts.resolver(j.SourceKind), RateShare: opts.RateShare, Log: opts.Log})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	items := make(chan *msg.Item, 1024)
	produce := func(ctx context.Context) error { return r.readAndMap(ctx, drain, src, items) }
	return r.execute(ctx, drain, "run", src, produce, items)
}

// Retry resends the items the ledger holds as failed, from their stored
// payloads, without reading the source again.
func Retry(ctx, drain context.Context, j *job.Job, opts Options) (*Report, error) {
	opts.defaults()
	if opts.DryRun {
		return nil, errors.New("retry has no dry run: use validate")
	}
	prog, err := j.Compile()
	if err != nil {
		return nil, err
	}
	r := &run{job: j, opts: opts, prog: prog, open: newOpenKeys()}
	items := make(chan *msg.Item, 1024)
	produce := func(ctx context.Context) error {
		defer close(items)
		led, ok := r.store.(*ledgerStore)
		if !ok {
			return errors.New("retry needs the ledger")
		}
		// Collect first: the recorder rewrites these rows while we send.
		var entries []ledger.Entry
		if err := led.l.Failed(func(e ledger.Entry) error {
			entries = append(entries, e)
			return nil
		}); err != nil {
			return err
		}
		for _, e := range entries {
			if drain.Err() != nil {
				return nil
			}
			it := &msg.Item{Key: e.Key, Route: e.Route, Payload: e.Payload, Origin: msg.Origin{Source: e.Origin}}
			copy(it.Hash[:], e.Hash)
			r.c.read.Add(1)
			select {
			case items <- it:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	return r.execute(ctx, drain, "retry", nil, produce, items)
}

func (r *run) execute(ctx, drain context.Context, command string, src extract.Source, produce func(context.Context) error, items chan *msg.Item) (*Report, error) {
	started := time.Now()
	j := r.job
	var sink load.Sink
	var err error
	if r.opts.DryRun {
		r.store = newMemStore()
	} else {
		led, err := ledger.Open(j.State)
		if err != nil {
			return nil, err
		}
		defer led.Close()
		ls, err := newLedgerStore(led)
		if err != nil {
			return nil, err
		}
		r.store = ls
		if r.runID, err = led.StartRun(j.File, command); err != nil {
			return nil, err
		}
		if inc, ok := src.(extract.Incremental); ok {
			if err := r.startFromWatermark(led, inc); err != nil {
				return nil, err
			}
		}
		if sink, err = load.Open(ctx, j.SinkKind, j.Sink, load.Env{Schema: r.prog.Schema, ResolveURL: r.opts.resolver(j.SinkKind), RateShare: r.opts.RateShare, Log: r.opts.Log}); err != nil {
			led.FinishRun(r.runID, "failed", "", nil)
			return nil, err
		}
		r.loader = load.NewLoader(sink)
	}
	r.spill = newSpill(filepath.Dir(j.State))
	defer r.spill.Close()
	fw, err := newFailureWriter(j.Failures, r.opts.DryRun)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.fail = cancel
	rec := newRecorder(r, fw, cancel)
	r.rec = rec

	stopProgress := r.startProgress(src)
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan *load.Batch, 16)
	g.Go(func() error { return produce(gctx) })
	g.Go(func() error { return r.gate(gctx, drain, items, batches, rec) })
	if r.loader != nil {
		g.Go(func() error {
			return r.loader.Run(gctx, drain, batches, func(res load.Result) { rec.result(res) })
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
	if err := r.store.Finish(); err != nil && recErr == nil {
		recErr = err
	}
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
	rep := r.report(command, started)
	rep.FailuresFile = fw.path
	if drain.Err() != nil {
		rep.State = "interrupted"
	}
	if runErr == nil {
		runErr = errors.Join(recErr, ferr)
	}
	if ls, ok := r.store.(*ledgerStore); ok {
		rep.LedgerFile = j.State
		state := rep.State
		if runErr != nil {
			state = "failed"
		}
		if err := ls.l.FinishRun(r.runID, state, rep.LastOrigin, rep); err != nil && runErr == nil {
			runErr = err
		}
		// A trial (--limit) read only part of what is there: the watermark
		// stays, or a newest-first listing would skip what it did not read.
		if inc, ok := src.(extract.Incremental); ok && runErr == nil && rep.State == "completed" && rep.Unsent == 0 && r.opts.Limit == 0 {
			if err := r.advanceWatermark(ls.l, inc); err != nil {
				runErr = err
			}
		}
	}
	if runErr != nil {
		return rep, runErr
	}
	if !r.opts.DryRun && j.Report != "" {
		rep.ReportFile = j.Report
		if err := rep.Write(j.Report); err != nil {
			return rep, fmt.Errorf("report: %w", err)
		}
	}
	return rep, nil
}

// chunk is a run of consecutive records mapped by one worker; chunks are
// put back in input order, so that of two records with one key the first in
// the file always wins, whatever the scheduling.
type chunk struct {
	recs  []*msg.Record
	items []*msg.Item // items[i] for recs[i]; nil when skipped or failed
	done  chan struct{}
}

const (
	chunkSize = 256
	chunkAge  = 50 * time.Millisecond // a slow source's records do not wait for a full chunk
)

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
	flush := func() bool {
		if len(c.recs) == 0 {
			return true
		}
		ok := send(c)
		c = &chunk{done: make(chan struct{})}
		started = time.Now()
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
		if errors.Is(err, io.EOF) {
			return nil
		}
		var me *msg.Error
		if errors.As(err, &me) {
			n++
			r.c.read.Add(1)
			r.recordFailure(me, nil)
			continue
		}
		var skip *msg.Skip
		if errors.As(err, &skip) {
			n++
			r.c.read.Add(1)
			r.c.skipSource.Add(1)
			r.c.srcMu.Lock()
			if r.c.skipBySource == nil {
				r.c.skipBySource = map[string]int64{}
			}
			r.c.skipBySource[skip.Reason]++
			r.c.srcMu.Unlock()
			continue
		}
		if err != nil {
			if ctx.Err() == nil && drain.Err() == nil {
				return fmt.Errorf("reading %s: %w", r.job.SourceKind, err)
			}
			return nil
		}
		n++
		r.c.read.Add(1)
		c.recs = append(c.recs, rec)
		if len(c.recs) >= chunkSize || time.Since(started) > chunkAge {
			if !flush() {
				return nil
			}
		}
	}
}

func (r *run) mapChunk(m *transform.Mapper, c *chunk) {
	c.items = make([]*msg.Item, len(c.recs))
	for i, rec := range c.recs {
		it, err := m.Map(rec)
		switch {
		case errors.Is(err, transform.ErrSkipped):
			r.c.skipRule.Add(1)
		case err != nil:
			var me *msg.Error
			if !errors.As(err, &me) {
				me = &msg.Error{Origin: rec.Origin, Stage: msg.StageMap, Err: err}
			}
			r.recordFailure(me, recordJSON(rec))
		default:
			c.items[i] = it
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
	}
	r.c.failed.Add(1)
	r.rec.failure(failure{err: e, record: record})
}

func (r *run) report(command string, started time.Time) *Report {
	now := time.Now()
	rep := &Report{
		Job: r.job.File, Command: command, State: "completed", DryRun: r.opts.DryRun,
		StartedAt: started.UTC(), FinishedAt: now.UTC(),
		Read: r.c.read.Load(), Loaded: r.c.loaded.Load(), Failed: r.c.failed.Load(),
		Skipped: r.c.skipped(), WouldSend: r.c.wouldSend.Load(),
		SkippedBy:       SkippedBy{Rule: r.c.skipRule.Load(), AlreadyLoaded: r.c.skipLoaded.Load(), Duplicate: r.c.skipDup.Load(), Changed: r.c.skipChanged.Load()},
		FailedBy:        FailedBy{Read: r.c.failRead.Load(), Map: r.c.failMap.Load(), Load: r.c.failLoad.Load()},
		DurationSeconds: now.Sub(started).Seconds(),
		PeakRSSBytes:    PeakRSS(),
	}
	r.c.srcMu.Lock()
	if len(r.c.skipBySource) > 0 {
		rep.SkippedBy.Source = maps.Clone(r.c.skipBySource)
	}
	r.c.srcMu.Unlock()
	rep.Unsent = rep.Read - rep.Loaded - rep.Skipped - rep.Failed - rep.WouldSend
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
	r.chMu.Unlock()
	return rep
}
