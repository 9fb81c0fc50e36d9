package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// screen is a terminal of a given width that keeps what was written to it.
type screen struct {
	width   int
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed at every write
}

func newScreen(width int) *screen { return &screen{width: width, changed: make(chan struct{})} }

func (s *screen) Width() int { return s.width }

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

// text is what was written, and a channel closed at the next write.
func (s *screen) text() (string, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String(), s.changed
}

// lines are the lines drawn, one per redraw.
func (s *screen) lines() []string {
	text, _ := s.text()
	return drawn(text)
}

func drawn(text string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(text, func(r rune) bool { return r == '\r' || r == '\n' }) {
		if l = strings.TrimSuffix(l, "\x1b[K"); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// waitFor returns the first line drawn that matches re, waiting for it to
// be drawn. The deadline only keeps a broken display from hanging the test.
func waitFor(t *testing.T, text func() (string, <-chan struct{}), split func(string) []string, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		all, changed := text()
		for _, l := range split(all) {
			if re.MatchString(l) {
				return l
			}
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("nothing drawn matches %s; drawn:\n%s", re, strings.Join(split(all), "\n"))
		}
	}
}

// gate holds every request to the myKaarma fake until the test lets it
// through: the run's loading lasts exactly as long as the test wants.
type gate struct {
	one, all chan struct{}
	srv      *httptest.Server
	fake     *sandbox.Running
}

func newGate(t *testing.T, fake *sandbox.Running) *gate {
	g := &gate{one: make(chan struct{}), all: make(chan struct{}), fake: fake}
	target, err := url.Parse(fake.URL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-g.one:
		case <-g.all:
		case <-r.Context().Done():
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	t.Cleanup(g.open) // a failed test does not leave the run waiting
	return g
}

func (g *gate) open() {
	select {
	case <-g.all:
	default:
		close(g.all)
	}
}

// Resolve sends the myKaarma sink through the gate.
func (g *gate) Resolve(kind, raw string) (string, error) {
	u, err := g.fake.Resolve(kind, raw)
	if kind == "mykaarma" {
		u = g.srv.URL + strings.TrimPrefix(u, g.fake.URL())
	}
	return u, err
}

// progressCSV is 300 good rows of one route, then a row that cannot be read
// and one skipped by rule.
func progressCSV() string {
	var sb strings.Builder
	sb.WriteString(csvHeader)
	for i := 1; i <= 300; i++ {
		sb.WriteString(row(i, fmt.Sprintf("message %d", i)))
	}
	sb.WriteString("301,too,few\n")
	fmt.Fprintf(&sb, "302,%s,%s,internal-note,inbound,2024-03-01T09:15:00Z,,,note,,,\n", dept, cust)
	return sb.String()
}

// running is a run in the background.
type running struct {
	done chan struct{}
	rep  *pipeline.Report
	err  error
}

func startRun(h *harness, opts pipeline.Options) *running {
	r := &running{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.rep, r.err = pipeline.Run(context.Background(), context.Background(), h.load(), opts)
	}()
	return r
}

func (r *running) wait(t *testing.T) *pipeline.Report {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the run did not end")
	}
	require.NoError(t, r.err)
	return r.rep
}

// The display goes on while loading does, long after reading has ended
// (the blank screen during a 4½-minute write-back), and its last
// line gives the report's counts.
func TestProgressStaysUntilTheRunEnds(t *testing.T) {
	h := newHarness(t, progressCSV(), sandbox.Faults{}, "  batch: {max_items: 100, linger: 1ms}\n  concurrency: 1\n")
	g := newGate(t, h.fake)
	scr := newScreen(160)
	opts := h.opts()
	opts.URLs, opts.Progress = g, scr
	run := startRun(h, opts)

	// Reading is over (the whole file: 302 records) and nothing is loaded:
	// the two records that failed and were skipped are all that is done.
	waitFor(t, scr.text, drawn, regexp.MustCompile(`\b2/~?302\b.*read (302 \(100%\)|all 302)`))
	// One request goes through; the display says so, though reading ended
	// before.
	g.one <- struct{}{}
	line := waitFor(t, scr.text, drawn, regexp.MustCompile(`\b102/~?302\b`))
	assert.Contains(t, line, "failed 1 · skipped 1")
	g.open()
	rep := run.wait(t)

	require.Equal(t, int64(300), rep.Loaded)
	text, _ := scr.text()
	assert.True(t, strings.HasSuffix(text, "\n"), "the last line stays, and what follows goes under it")
	lines := scr.lines()
	assert.Equal(t, fmt.Sprintf("100%% %d/%d · loaded %d · skipped %d · failed %d", rep.Read, rep.Read, rep.Loaded, rep.Skipped, rep.Failed),
		lines[len(lines)-1], "the last line is the report's counts")
	for _, l := range lines {
		assert.Less(t, utf8.RuneCountInString(l), 160, "never wraps: %q", l)
	}
}

// A trial with --limit expects its limit, exactly: the file's size says
// nothing of it.
func TestProgressOfATrialExpectsItsLimit(t *testing.T) {
	h := newHarness(t, progressCSV(), sandbox.Faults{}, "  batch: {max_items: 100, linger: 1ms}\n  concurrency: 1\n")
	g := newGate(t, h.fake)
	scr := newScreen(80)
	opts := h.opts()
	opts.URLs, opts.Progress, opts.Limit = g, scr, 100
	run := startRun(h, opts)

	first := waitFor(t, scr.text, drawn, regexp.MustCompile(`^0% 0/100 · `))
	g.open()
	rep := run.wait(t)
	lines := scr.lines()
	assert.Equal(t, "100% 100/100 · loaded 100 · skipped 0 · failed 0", lines[len(lines)-1])
	assert.Equal(t, int64(100), rep.Loaded)
	for i, l := range lines {
		if l == first {
			// Before, 100 was "at most" (~100): reading had not got there.
			for _, l := range lines[i:] {
				assert.NotContains(t, l, "~", "once the limit is read, it is a count")
			}
			break
		}
	}
	for _, l := range lines {
		assert.Less(t, utf8.RuneCountInString(l), 80, "never wraps: %q", l)
	}
}

func logLines(text string) []string { return strings.Split(text, "\n") }

// Without a terminal, a log line every LogEvery carries the same fields.
func TestProgressLogsWithoutATerminal(t *testing.T) {
	h := newHarness(t, progressCSV(), sandbox.Faults{}, "  batch: {max_items: 100, linger: 1ms}\n  concurrency: 1\n")
	g := newGate(t, h.fake)
	logs := newScreen(0) // a log's output, read while the run writes it
	opts := h.opts()
	opts.URLs, opts.LogEvery = g, 20*time.Millisecond
	opts.Log = slog.New(slog.NewTextHandler(logs, nil))
	run := startRun(h, opts)

	line := waitFor(t, logs.text, logLines, regexp.MustCompile(`msg=progress .*done=2 expected=302`))
	for _, f := range []string{"progress=", "done=2", "expected=302", "rate=", "in_flight=", "throttled=0", "retries=0",
		"failed=1", "skipped=1", "eta="} {
		assert.Contains(t, line, f)
	}
	g.open()
	run.wait(t)
}
