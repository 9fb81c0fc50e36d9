package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// StatsPath answers GET with what the myKaarma fake saw (SinkStats, as JSON);
// ResetPath, on POST, zeroes it and forgets what the fake stored. A
// benchmark reads them around a run of a tool in another process.
const (
	StatsPath = "/_sandbox/stats"
	ResetPath = "/_sandbox/reset"
)

// SinkStats is what the myKaarma fake saw since it started or was reset.
type SinkStats struct {
	Requests  int64 `json:"requests"`  // PUTs to the historical endpoint, whatever the answer
	Items     int64 `json:"items"`     // items in the requests the fake read
	Accepted  int64 `json:"accepted"`  // items accepted inside a 200, repeats included
	Rejected  int64 `json:"rejected"`  // items rejected inside a 200
	Throttled int64 `json:"throttled"` // 429s
	Faulted   int64 `json:"faulted"`   // 5xx, dropped connections, cut-short 200s
	// Unique counts the sourceUuids acknowledged (named in a complete 200's
	// succesfullySubmittedSourceUuids); Duplicates, the acknowledgements of
	// one acknowledged before. A loader that sends each message once has
	// Unique = its records and Duplicates = 0. A 200 the fake cut short
	// acknowledges nothing: the client could not read it, so sending those
	// items again is right, and is not a duplicate.
	Unique     int64 `json:"unique"`
	Duplicates int64 `json:"duplicates"`

	FirstRequest *time.Time `json:"first_request,omitempty"`
	LastRequest  *time.Time `json:"last_request,omitempty"`
	// PerSecond counts the requests that arrived in each wall-clock second
	// that had any, in order; MaxPerSecond is the largest count.
	PerSecond    []SecondCount `json:"requests_per_second"`
	MaxPerSecond int64         `json:"max_requests_per_second"`

	// The fake's settings that a measurement depends on.
	CountOnly      bool    `json:"count_only"`
	LatencySeconds float64 `json:"latency_seconds"`
	RateLimit      float64 `json:"rate_limit,omitempty"`
}

// SecondCount is the number of requests that arrived in one second.
type SecondCount struct {
	Second   int64 `json:"second"` // unix time
	Requests int64 `json:"requests"`
}

// meter watches the myKaarma fake's traffic from outside its handler: the
// arrival second of each request, and the sourceUuids each complete 200
// acknowledges.
type meter struct {
	now  func() time.Time
	seed maphash.Seed

	mu          sync.Mutex
	first, last time.Time
	perSecond   map[int64]int64
	// seen holds a 64-bit hash of each acknowledged sourceUuid, not the
	// string: 8 bytes and map overhead a key, so a 10M-message run stays
	// at a few hundred MB. Two sourceUuids share a hash with odds of about
	// n²/2⁶⁵ (3·10⁻⁶ at 10M): a false duplicate, never a missed one.
	seen       map[uint64]struct{}
	duplicates int64
}

func newMeter() *meter {
	return &meter{now: time.Now, seed: maphash.MakeSeed(), perSecond: map[int64]int64{}, seen: map[uint64]struct{}{}}
}

// wrap meters next, the myKaarma fake's handler.
func (m *meter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, "/communication/historical") {
			next.ServeHTTP(w, r)
			return
		}
		m.arrived(m.now())
		rec := &recorder{ResponseWriter: w, body: bodies.Get().(*bytes.Buffer)}
		defer func() {
			rec.body.Reset()
			bodies.Put(rec.body)
		}()
		next.ServeHTTP(rec, r)
		if rec.status == http.StatusOK {
			m.acknowledged(rec.body.Bytes())
		}
	})
}

var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (m *meter) arrived(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.first.IsZero() {
		m.first = t
	}
	m.last = t
	m.perSecond[t.Unix()]++
}

// ackKey opens the list of acknowledged sourceUuids in a 200's body
// (api.Response, in the vendor's spelling). It cannot occur inside a JSON
// string, where its quotes would be escaped.
var ackKey = []byte(`"succesfullySubmittedSourceUuids":`)

// acknowledged records the sourceUuids a 200 acknowledges. Only that list
// is decoded, not the whole answer (a quarter of the cost): the fake shares
// the machine's cores with the tool it measures. A body cut short (the
// Garble fault) acknowledges nothing: the fake's complete answers end with
// the newline json.Encoder writes, a cut one never does, since compact JSON
// has no other newline.
func (m *meter) acknowledged(body []byte) {
	if len(body) == 0 || body[len(body)-1] != '\n' {
		return
	}
	i := bytes.Index(body, ackKey)
	if i < 0 {
		return
	}
	var ids []string
	if json.NewDecoder(bytes.NewReader(body[i+len(ackKey):])).Decode(&ids) != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		h := maphash.String(m.seed, id)
		if _, dup := m.seen[h]; dup {
			m.duplicates++
			continue
		}
		m.seen[h] = struct{}{}
	}
}

func (m *meter) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.first, m.last = time.Time{}, time.Time{}
	clear(m.perSecond)
	m.seen = map[uint64]struct{}{} // clear would keep the old table's memory
	m.duplicates = 0
}

// recorder passes an answer through and keeps a copy of a 200's body.
type recorder struct {
	http.ResponseWriter
	status int
	body   *bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.status == http.StatusOK {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

// Hijack lets the fake drop a connection (the Drop fault) through the
// recorder.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("sandbox: %T cannot hijack", r.ResponseWriter)
	}
	return hj.Hijack()
}

// Unwrap is for http.ResponseController.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// SinkStats returns what the myKaarma fake saw since it started or was reset.
func (s *Server) SinkStats() SinkStats {
	k := s.MyKaarma
	st := SinkStats{
		Requests:       k.Stats.Requests.Load(),
		Items:          k.Stats.Items.Load(),
		Accepted:       k.Stats.Accepted.Load(),
		Rejected:       k.Stats.Rejected.Load(),
		Throttled:      k.Stats.Throttled.Load(),
		Faulted:        k.Stats.Faulted.Load(),
		CountOnly:      k.cfg.CountOnly,
		LatencySeconds: k.cfg.Latency.Seconds(),
		RateLimit:      k.cfg.RateLimit,
		PerSecond:      []SecondCount{},
	}
	m := s.meter
	m.mu.Lock()
	defer m.mu.Unlock()
	st.Unique, st.Duplicates = int64(len(m.seen)), m.duplicates
	if !m.first.IsZero() {
		first, last := m.first.UTC(), m.last.UTC()
		st.FirstRequest, st.LastRequest = &first, &last
	}
	for sec, n := range m.perSecond {
		st.PerSecond = append(st.PerSecond, SecondCount{Second: sec, Requests: n})
		st.MaxPerSecond = max(st.MaxPerSecond, n)
	}
	slices.SortFunc(st.PerSecond, func(a, b SecondCount) int { return int(a.Second - b.Second) })
	return st
}

// ResetSink zeroes the myKaarma fake's counts and forgets what it stored:
// a fresh target for the next run. Reset between runs, not during one.
func (s *Server) ResetSink() {
	k := s.MyKaarma
	k.mu.Lock()
	k.store = map[string]*Stored{}
	k.mu.Unlock()
	k.unique.Store(0)
	for _, c := range []*atomic.Int64{&k.Stats.Requests, &k.Stats.Accepted, &k.Stats.Rejected, &k.Stats.Throttled,
		&k.Stats.Faulted, &k.Stats.Items, &k.Stats.FirstAt} {
		c.Store(0)
	}
	s.meter.reset()
}

func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.SinkStats())
}

func (s *Server) serveReset(w http.ResponseWriter, r *http.Request) {
	s.ResetSink()
	writeJSON(w, http.StatusOK, s.SinkStats())
}

// FetchStats reads the stats of a sandbox served at base
// (http://127.0.0.1:8089), e.g. by `msgmigrate sandbox` in another process.
func FetchStats(ctx context.Context, c *http.Client, base string) (SinkStats, error) {
	return statsCall(ctx, c, http.MethodGet, strings.TrimSuffix(base, "/")+StatsPath)
}

// ResetStats resets the myKaarma fake of a sandbox served at base and
// returns its (zeroed) stats.
func ResetStats(ctx context.Context, c *http.Client, base string) (SinkStats, error) {
	return statsCall(ctx, c, http.MethodPost, strings.TrimSuffix(base, "/")+ResetPath)
}

func statsCall(ctx context.Context, c *http.Client, method, url string) (SinkStats, error) {
	var st SinkStats
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return st, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return st, fmt.Errorf("sandbox stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return st, fmt.Errorf("sandbox stats: %s %s: %s: %s (is it a msgmigrate sandbox?)", method, url, resp.Status, bytes.TrimSpace(b))
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("sandbox stats: %s %s: %w", method, url, err)
	}
	return st, nil
}
