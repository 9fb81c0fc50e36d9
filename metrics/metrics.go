// Package metrics gives a run its Prometheus metrics: served on /metrics while
// the run lasts, pushed to a Pushgateway on an interval and once at exit, and
// written for node_exporter's textfile collector at exit.
//
// Names follow Prometheus's naming guide: the msgmigrate_ prefix, base units,
// counters ending in _total, labels with few values. The one label whose
// values come from outside — a vendor's error code in Records' reason — is
// bounded (see Records).
//
// A nil *Run is valid and does nothing, so a run without a metrics: section
// pays one nil check a call.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// How a run ended, as Finish takes it (and the state label of
// msgmigrate_run_state). Running is the state between Start and Finish.
const (
	Running               = "running"
	Completed             = "completed"               // exit 0
	CompletedWithFailures = "completed_with_failures" // exit 2
	Failed                = "failed"                  // exit 1
	Interrupted           = "interrupted"             // exit 3
)

var states = []string{Running, Completed, CompletedWithFailures, Failed, Interrupted}

// Records' outcomes.
const (
	OutcomeLoaded  = "loaded"
	OutcomeSkipped = "skipped"
	OutcomeFailed  = "failed"
	OutcomeUnsent  = "unsent"
)

// Retry reasons. transport.Pacer (on main) reports its class names, retry
// and outage; the finer four are for a caller that tells them apart.
const (
	RetryRetry       = "retry"  // a 5xx, a 408, a timeout, a reset, an unreadable answer
	RetryOutage      = "outage" // while the circuit is open
	RetryThrottled   = "throttled"
	RetryServerError = "server_error"
	RetryTransport   = "transport"
	RetryUnreadable  = "unreadable"
)

// Other stands for a label value past the bound, or not one of the known ones.
const Other = "other"

const (
	pushTimeout      = 5 * time.Second // one interval push
	finalPushTimeout = 5 * time.Second // the push at exit, whatever the run's context
	shutdownTimeout  = time.Second     // for a scrape in progress when the run ends
)

// Labels identify the run: the Pushgateway's grouping key, and labels on
// every series of /metrics and the textfile (which node_exporter merges with
// other jobs' files, so they must tell runs apart).
type Labels struct {
	Job    string // the job's name; required when pushing
	Shard  string // "" when not sharded, else the index, e.g. "3"
	Shards string // "" when not sharded, else the count, e.g. "8"
}

func (l Labels) pairs() prometheus.Labels {
	p := prometheus.Labels{}
	for name, v := range map[string]string{"job": l.Job, "shard": l.Shard, "shards": l.Shards} {
		if v != "" {
			p[name] = v
		}
	}
	return p
}

// Run holds one run's metrics and outputs. Its instrumentation methods are
// cheap and safe from many goroutines.
type Run struct {
	cfg    Config
	labels Labels
	log    *slog.Logger
	client *http.Client

	records          *prometheus.CounterVec
	expected         prometheus.Gauge
	requests         *prometheus.CounterVec
	requestSeconds   prometheus.Histogram
	inFlight         prometheus.Gauge
	retries          *prometheus.CounterVec
	throttled        prometheus.Counter
	throttledSeconds prometheus.Counter
	batchItems       prometheus.Histogram
	batchBytes       prometheus.Histogram
	startTime        prometheus.Gauge
	state            *prometheus.GaugeVec
	lastSuccess      prometheus.Gauge

	reasons reasonSet
	// Counters already resolved, so the hot path skips label hashing:
	// keyed by the caller's own values, and holding only values that are
	// their own label (bounded, clean), so the caches stay small.
	recordCounters  sync.Map // recordKey → prometheus.Counter
	requestCounters sync.Map // int status → prometheus.Counter

	// core holds every msgmigrate_ series but the last success, without the
	// run's labels (the Pushgateway's grouping key carries them); success
	// holds the last success alone, gathered only when there is one to tell.
	core, success *prometheus.Registry
	// The same series with the run's labels, for /metrics and the textfile;
	// runtime is the Go and process collectors, for /metrics only.
	labelled, labelledSuccess, runtime *prometheus.Registry

	clock   sync.Mutex // began, ended, final: read by the duration gauge
	began   time.Time
	ended   bool
	final   float64
	mu      sync.Mutex // the lifecycle below
	started bool
	done    bool
	srv     *http.Server
	ln      net.Listener
	served  chan struct{}
	stop    context.CancelFunc // ends the push loop
	pushed  chan struct{}      // closed when the push loop has returned
}

// New checks cfg and builds the run's metrics. It returns a nil *Run (which
// does nothing) when cfg enables no output. log may be nil (nothing is logged).
func New(cfg Config, l Labels, log *slog.Logger) (*Run, error) {
	if errs := cfg.check(); len(errs) > 0 {
		return nil, joinConfigErrors(errs)
	}
	if !cfg.enabled() {
		return nil, nil
	}
	if cfg.Push != nil && l.Job == "" {
		return nil, errors.New("metrics.push: the job's name is needed for the Pushgateway's grouping key")
	}
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Run{cfg: cfg, labels: l, log: log, client: &http.Client{}, began: time.Now()}

	r.records = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "msgmigrate_records_total",
		Help: "Records by outcome (loaded, skipped, failed, unsent) and reason (skipped: rule, already_loaded, duplicate, changed; failed: read, map or the target's error code, at most 20 codes, then other).",
	}, []string{"outcome", "reason"})
	r.expected = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "msgmigrate_records_expected",
		Help: "Records the run expects to read, when the source knows it; NaN until then.",
	})
	r.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "msgmigrate_requests_total",
		Help: "Requests to the target by HTTP status; error when no response came (timeout, reset).",
	}, []string{"status"})
	r.requestSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "msgmigrate_request_duration_seconds",
		Help:    "Time from sending a request to the target to reading its answer.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	})
	r.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "msgmigrate_requests_in_flight",
		Help: "Requests to the target sent and not answered yet.",
	})
	r.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "msgmigrate_retries_total",
		Help: "Requests sent again, by reason: retry (a failed or throttled answer), outage (a probe while the circuit is open).",
	}, []string{"reason"})
	r.throttled = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "msgmigrate_throttled_total",
		Help: "Times the target throttled the run (429), each pausing every worker.",
	})
	r.throttledSeconds = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "msgmigrate_throttled_seconds_total",
		Help: "Time every worker spent paused because the target throttled the run.",
	})
	r.batchItems = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "msgmigrate_batch_items",
		Help:    "Items in each batch sent.",
		Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
	})
	r.batchBytes = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "msgmigrate_batch_bytes",
		Help:    "Payload bytes in each batch sent.",
		Buckets: prometheus.ExponentialBuckets(1024, 4, 8), // 1 KiB … 16 MiB
	})
	r.startTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "msgmigrate_run_start_timestamp_seconds",
		Help: "When the run started, in seconds since the epoch.",
	})
	duration := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "msgmigrate_run_duration_seconds",
		Help: "How long the run has lasted, or lasted once it ended.",
	}, r.elapsed)
	r.state = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "msgmigrate_run_state",
		Help: "1 for the run's state (running, completed, completed_with_failures, failed, interrupted), 0 for the others.",
	}, []string{"state"})
	r.lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "msgmigrate_last_success_timestamp_seconds",
		Help: "When a run of this job last completed with every record loaded or skipped (exit 0), in seconds since the epoch.",
	})

	// Every family exists from the start: a push replaces (POST) only the
	// families it carries, so one missing here would leave the previous
	// run's series in the Pushgateway's group as if they were this run's.
	r.records.WithLabelValues(OutcomeLoaded, "")
	r.records.WithLabelValues(OutcomeUnsent, "")
	r.requests.WithLabelValues("200")
	for _, reason := range []string{RetryRetry, RetryOutage} {
		r.retries.WithLabelValues(reason)
	}
	for _, s := range states {
		r.state.WithLabelValues(s)
	}
	r.expected.Set(math.NaN())
	r.startTime.Set(float64(r.began.UnixNano()) / 1e9)
	r.reasons.seen = map[string]struct{}{}

	core := []prometheus.Collector{r.records, r.expected, r.requests, r.requestSeconds, r.inFlight, r.retries,
		r.throttled, r.throttledSeconds, r.batchItems, r.batchBytes, r.startTime, duration, r.state}
	labels := l.pairs()
	r.core = registry(nil, core...)
	r.success = registry(nil, r.lastSuccess)
	r.labelled = registry(labels, core...)
	r.labelledSuccess = registry(labels, r.lastSuccess)
	r.runtime = registry(labels, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r, nil
}

func registry(labels prometheus.Labels, cs ...prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	prometheus.WrapRegistererWith(labels, reg).MustRegister(cs...)
	return reg
}

func (r *Run) elapsed() float64 {
	r.clock.Lock()
	defer r.clock.Unlock()
	if r.ended {
		return r.final
	}
	return time.Since(r.began).Seconds()
}

func (r *Run) setState(state string) {
	for _, s := range states {
		v := 0.0
		if s == state {
			v = 1
		}
		r.state.WithLabelValues(s).Set(v)
	}
}

// ListenError is metrics.listen failing: most often the port is taken.
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	reason := e.Err.Error()
	var se *os.SyscallError
	var oe *net.OpError
	switch {
	case errors.As(e.Err, &se):
		reason = se.Err.Error() // "address already in use", without "listen tcp :9464: bind:"
	case errors.As(e.Err, &oe) && oe.Err != nil:
		reason = oe.Err.Error()
	}
	return "metrics.listen " + e.Addr + ": " + reason
}

func (e *ListenError) Unwrap() error { return e.Err }

// Start serves /metrics (when listen is set) and starts pushing (when push
// is set): once at once, so that even a run shorter than the interval shows
// as running, then every interval until ctx ends or Finish. A port in use is
// a *ListenError. Call Finish whatever Start returned.
func (r *Run) Start(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.done {
		return errors.New("metrics: Start called twice, or after Finish")
	}
	r.started = true
	if r.cfg.Listen != "" {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", r.cfg.Listen)
		if err != nil {
			return &ListenError{Addr: r.cfg.Listen, Err: err}
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{r.labelled, r.runtime}, promhttp.HandlerOpts{
			ErrorLog:      errorLog{r.log},
			ErrorHandling: promhttp.ContinueOnError,
		}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		served := make(chan struct{})
		go func() {
			defer close(served)
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				r.log.Warn("metrics: /metrics stopped serving", "addr", ln.Addr().String(), "err", err)
			}
		}()
		r.srv, r.ln, r.served = srv, ln, served
		r.log.Info("metrics: serving /metrics", "addr", ln.Addr().String())
	}
	now := time.Now()
	r.clock.Lock()
	r.began = now
	r.clock.Unlock()
	r.startTime.Set(float64(now.UnixNano()) / 1e9)
	r.setState(Running)
	if p := r.cfg.Push; p != nil {
		pctx, stop := context.WithCancel(ctx)
		r.stop, r.pushed = stop, make(chan struct{})
		go r.pushLoop(pctx, time.Duration(p.Interval), r.pushed)
	}
	return nil
}

// Addr is the address /metrics is served on ("" when not serving): with
// listen ":0" the port is the system's choice.
func (r *Run) Addr() string {
	if r == nil {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln == nil {
		return ""
	}
	return r.ln.Addr().String()
}

// Finish ends the run's metrics: it sets the run's duration and state, and
// the last success time when outcome is Completed; stops the push loop and
// pushes once more (with its own short timeout, so a cancelled ctx — SIGTERM
// — still gets its final push); writes the textfile; and stops serving
// /metrics. A failed push is logged at WARN, never returned: metrics never
// fail a run. A textfile that cannot be written is returned (naming it) for
// the caller to log. Calls after the first do nothing.
//
// Only Completed counts as a success: a run with failed records ends with
// exit code 2, which a Kubernetes Job counts as a failed pod, and an alert on
// the last success should tell someone records are waiting for a retry.
// Every outcome still sets msgmigrate_run_state.
func (r *Run) Finish(ctx context.Context, outcome string) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	if r.done {
		r.mu.Unlock()
		return nil
	}
	r.done = true
	stop, pushed, srv, served := r.stop, r.pushed, r.srv, r.served
	r.mu.Unlock()

	var errs []error
	switch outcome {
	case Completed, CompletedWithFailures, Failed, Interrupted:
	default:
		errs = append(errs, fmt.Errorf("metrics: unknown outcome %q, counted as %s", outcome, Failed))
		outcome = Failed
	}
	success := outcome == Completed
	end := time.Now()
	r.clock.Lock()
	r.ended, r.final = true, end.Sub(r.began).Seconds()
	r.clock.Unlock()
	r.setState(outcome)
	if success {
		r.lastSuccess.Set(float64(end.UnixNano()) / 1e9)
	}

	// The loop must be gone before the final push: an interval push that
	// reached the Pushgateway after it would put the run back to running.
	if stop != nil {
		stop()
		<-pushed
	}
	if r.cfg.Push != nil {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalPushTimeout)
		if err := r.push(pctx, success); err != nil {
			r.log.Warn("metrics: final push to the Pushgateway failed", "err", err)
		}
		cancel()
	}
	// After the push: writeFile may set the last success gauge to the
	// previous run's value, which the push must not carry.
	if r.cfg.File != "" {
		if err := r.writeFile(success); err != nil {
			errs = append(errs, err)
		}
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close() // a scrape that would not end; the listener is closed already
		}
		cancel()
		<-served
	}
	return errors.Join(errs...)
}

// push sends the run's metrics to its group with POST, which replaces only
// the families it carries: a run that did not succeed leaves the last
// success time an earlier run pushed. (PUT would replace the whole group and
// erase it.) https://github.com/prometheus/pushgateway#post-method
func (r *Run) push(ctx context.Context, withSuccess bool) error {
	p := push.New(r.cfg.Push.URL, r.labels.Job).Client(r.client).Gatherer(r.core)
	if withSuccess {
		p.Gatherer(r.success)
	}
	if r.labels.Shard != "" {
		p.Grouping("shard", r.labels.Shard)
	}
	if r.labels.Shards != "" {
		p.Grouping("shards", r.labels.Shards)
	}
	if r.cfg.Push.Username != "" {
		p.BasicAuth(r.cfg.Push.Username, r.cfg.Push.Password)
	}
	return p.AddContext(ctx)
}

// pushLoop pushes at once, then every interval until ctx ends. A Pushgateway
// that is down is logged once when the pushes start failing and once when
// they work again, not every interval.
func (r *Run) pushLoop(ctx context.Context, every time.Duration, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		pctx, cancel := context.WithTimeout(ctx, pushTimeout)
		err := r.push(pctx, false)
		cancel()
		switch {
		case ctx.Err() != nil: // Finish or the run's end cut the push short: the final push follows
		case err != nil && !failing:
			r.log.Warn("metrics: push to the Pushgateway failed; the run goes on", "err", err)
			failing = true
		case err == nil && failing:
			r.log.Info("metrics: pushing to the Pushgateway again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// writeFile writes the textfile-collector file: to a temporary file in the
// same directory, renamed over the old one, so node_exporter never reads half
// a file (prometheus.WriteToTextfile; the temporary name does not end in
// .prom, so node_exporter skips it meanwhile). A run that did not succeed
// carries over the last success time the file held.
func (r *Run) writeFile(success bool) error {
	g := prometheus.Gatherers{r.labelled}
	if success {
		g = append(g, r.labelledSuccess)
	} else if v, ok := r.previousSuccess(); ok {
		r.lastSuccess.Set(v)
		g = append(g, r.labelledSuccess)
	}
	if err := os.MkdirAll(filepath.Dir(r.cfg.File), 0o755); err != nil {
		return fmt.Errorf("metrics.file: %w", err)
	}
	if err := prometheus.WriteToTextfile(r.cfg.File, g); err != nil {
		return fmt.Errorf("metrics.file %s: %w", r.cfg.File, err)
	}
	return nil
}

// previousSuccess reads the last success time from the file an earlier run
// wrote. No file is no value; a file that cannot be parsed is logged.
func (r *Run) previousSuccess() (float64, bool) {
	f, err := os.Open(r.cfg.File)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("metrics: cannot read the last success time from the previous textfile", "file", r.cfg.File, "err", err)
		}
		return 0, false
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		r.log.Warn("metrics: cannot read the last success time from the previous textfile", "file", r.cfg.File, "err", err)
		return 0, false
	}
	mf := fams["msgmigrate_last_success_timestamp_seconds"]
	if mf == nil {
		return 0, false
	}
	want := r.labels.pairs()
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		match := true
		for _, lp := range m.GetLabel() {
			if want[lp.GetName()] != lp.GetValue() {
				match = false
			}
		}
		if match && m.GetGauge() != nil {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// Records counts n records that ended with outcome (loaded, skipped, failed,
// unsent; anything else is "other") for reason: for skipped rule,
// already_loaded, duplicate or changed; for failed read, map or the code the
// load failed with. A vendor's error code is free text, so reasons are
// bounded: the pipeline's own reasons always count as themselves, the first
// 20 others as themselves, and every later one as "other". A reason is
// also made valid UTF-8 and cut to 64 bytes.
func (r *Run) Records(outcome, reason string, n int) {
	if r == nil || n <= 0 {
		return
	}
	key := recordKey{outcome, reason}
	if c, ok := r.recordCounters.Load(key); ok {
		c.(prometheus.Counter).Add(float64(n))
		return
	}
	switch outcome {
	case OutcomeLoaded, OutcomeSkipped, OutcomeFailed, OutcomeUnsent:
	default:
		outcome = Other
	}
	bounded := r.reasons.bound(reason)
	c := r.records.WithLabelValues(outcome, bounded)
	if outcome == key.outcome && bounded == reason {
		r.recordCounters.Store(key, c)
	}
	c.Add(float64(n))
}

type recordKey struct{ outcome, reason string }

// SetExpected sets how many records the run expects to read; a negative n
// means unknown (NaN).
func (r *Run) SetExpected(n int64) {
	if r == nil {
		return
	}
	if n < 0 {
		r.expected.Set(math.NaN())
		return
	}
	r.expected.Set(float64(n))
}

// Request counts one request to the target by its HTTP status (0: no
// response, counted as "error"; outside 100–599: "other") and observes how
// long it took.
func (r *Run) Request(status int, d time.Duration) {
	if r == nil {
		return
	}
	c, ok := r.requestCounters.Load(status)
	if !ok {
		label := statusLabel(status)
		c = r.requests.WithLabelValues(label)
		if label != Other {
			r.requestCounters.Store(status, c)
		}
	}
	c.(prometheus.Counter).Inc()
	r.requestSeconds.Observe(d.Seconds())
}

func statusLabel(status int) string {
	switch {
	case status == 0:
		return "error"
	case status >= 100 && status <= 599:
		return strconv.Itoa(status)
	}
	return Other
}

// Retry counts a request sent again, by reason: retry or outage (the
// transport's classes), or throttled, server_error, transport, unreadable
// (anything else is "other").
func (r *Run) Retry(reason string) {
	if r == nil {
		return
	}
	switch reason {
	case RetryRetry, RetryOutage, RetryThrottled, RetryServerError, RetryTransport, RetryUnreadable:
	default:
		reason = Other
	}
	r.retries.WithLabelValues(reason).Inc()
}

// Throttled counts a throttling answer and the pause every worker takes.
func (r *Run) Throttled(pause time.Duration) {
	if r == nil {
		return
	}
	r.throttled.Inc()
	r.throttledSeconds.Add(max(pause, 0).Seconds())
}

// InFlight adds delta (+1 sent, -1 answered) to the requests in flight.
func (r *Run) InFlight(delta int) {
	if r == nil {
		return
	}
	r.inFlight.Add(float64(delta))
}

// Batch observes one batch sent: its items and payload bytes.
func (r *Run) Batch(items, bytes int) {
	if r == nil {
		return
	}
	r.batchItems.Observe(float64(items))
	r.batchBytes.Observe(float64(bytes))
}

// errorLog passes promhttp's errors (a collector that failed) to slog.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Println(v ...any) { l.log.Warn("metrics: " + fmt.Sprint(v...)) }
