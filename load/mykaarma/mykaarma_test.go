package mykaarma

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	api "github.com/msgmigrate/msgmigrate/api/mykaarma"
	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/load/loadtest"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/sandbox"
	"github.com/msgmigrate/msgmigrate/transport"
)

const (
	dept = "3f2b8c1e-6d4a-4f0e-9b7a-1c2d3e4f5a6b"
	cust = "0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b"
	pass = "s3cr3t-pa55"
)

func openSink(t *testing.T, url string, extra string) load.Sink {
	t.Helper()
	var node yaml.Node
	retry := "retry: {max_attempts: 3, max_throttled: 2, base_delay: 1ms, max_delay: 5ms, max_retry_after: 5ms}\n"
	if strings.Contains(extra, "retry:") {
		retry = ""
	}
	src := fmt.Sprintf("kind: mykaarma\nurl: %s\nusername: u\npassword: %s\n%s%s", url, pass, retry, extra)
	require.NoError(t, yaml.Unmarshal([]byte(src), &node))
	s, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, load.Env{})
	require.NoError(t, err)
	return s
}

func fake(t *testing.T, cfg sandbox.MyKaarmaConfig) *sandbox.Running {
	t.Helper()
	cfg.Username, cfg.Password = "u", pass
	s := sandbox.Start(sandbox.Config{MyKaarma: cfg})
	t.Cleanup(s.Close)
	return s
}

var seq atomic.Int64

func batch(n int) *load.Batch {
	base := seq.Add(int64(n))
	return loadtest.Items(msg.Route{dept, cust}, n, func(i int) (string, []byte) {
		k := fmt.Sprintf("00000000-0000-5000-8000-%012d", base+int64(i))
		return k, []byte(fmt.Sprintf(`{"sourceUuid":%q,"sentOn":"2024-01-01T00:00:00.000Z","messageAttributes":{"body":"hello %d","type":"INCOMING","protocol":"TEXT"}}`, k, i))
	})
}

func TestConformance(t *testing.T) {
	s := fake(t, sandbox.MyKaarmaConfig{})
	loadtest.Run(t, loadtest.Fixture{
		Open:  func(t *testing.T) load.Sink { return openSink(t, s.MyKaarmaURL(), "") },
		Batch: func() *load.Batch { return batch(5) },
	})
}

// Which part of the 200 carries an item's outcome is not documented
// (VENDORS.md): every reading settles the same way, an item accepted in either
// form is never sent again, and an item the answer contradicts or leaves out
// is not resent blindly.
func TestSettleReadsEitherPartOfTheAnswer(t *testing.T) {
	ok := api.ItemResponse{SourceUUID: "k", MessageUUID: "m1", Errors: []api.Error{}}
	bad := api.ItemResponse{SourceUUID: "k", Errors: []api.Error{{ErrorCode: "INVALID_DATE", ErrorDescription: "sentOn is bad"}}}
	noID := api.ItemResponse{SourceUUID: "k"}
	cases := map[string]struct {
		out  api.Response
		want load.ItemResult
	}{
		"both say loaded":         {api.Response{SaveMessageResponse: []api.ItemResponse{ok}, SuccesfullySubmittedSourceUuids: []string{"k"}}, load.ItemResult{Status: load.Loaded, TargetID: "m1"}},
		"only the list":           {api.Response{SuccesfullySubmittedSourceUuids: []string{"k"}}, load.ItemResult{Status: load.Loaded}},
		"only the entry":          {api.Response{SaveMessageResponse: []api.ItemResponse{ok}}, load.ItemResult{Status: load.Loaded, TargetID: "m1"}},
		"listed, entry has no id": {api.Response{SaveMessageResponse: []api.ItemResponse{noID}, SuccesfullySubmittedSourceUuids: []string{"k"}}, load.ItemResult{Status: load.Loaded}},
		"both say failed":         {api.Response{SaveMessageResponse: []api.ItemResponse{bad}, FailedSourceUuids: []string{"k"}}, load.ItemResult{Status: load.Failed, Code: "INVALID_DATE", Message: "INVALID_DATE: sentOn is bad"}},
		"only the entry's errors": {api.Response{SaveMessageResponse: []api.ItemResponse{bad}}, load.ItemResult{Status: load.Failed, Code: "INVALID_DATE", Message: "INVALID_DATE: sentOn is bad"}},
		"only the failed list, request errors": {api.Response{FailedSourceUuids: []string{"k"}, Errors: []api.Error{{ErrorCode: "PARTIAL", ErrorDescription: "some failed"}}, APIRequestID: "r-9"},
			load.ItemResult{Status: load.Failed, Code: "PARTIAL", Message: "PARTIAL: some failed (request id r-9)"}},
		"only the failed list": {api.Response{FailedSourceUuids: []string{"k"}}, load.ItemResult{Status: load.Failed, Code: "FAILED", Message: "the target listed the item in failedSourceUuids"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b := loadtest.Items(msg.Route{dept, cust}, 1, func(int) (string, []byte) { return "k", []byte("{}") })
			assert.Equal(t, []load.ItemResult{c.want}, Settle(b, &c.out))
		})
	}
	unknown := map[string]api.Response{
		"listed as submitted, entry has errors": {SaveMessageResponse: []api.ItemResponse{bad}, SuccesfullySubmittedSourceUuids: []string{"k"}},
		"listed as failed, entry accepted":      {SaveMessageResponse: []api.ItemResponse{ok}, FailedSourceUuids: []string{"k"}},
		"listed in both":                        {SuccesfullySubmittedSourceUuids: []string{"k"}, FailedSourceUuids: []string{"k"}},
		"not mentioned":                         {SaveMessageResponse: []api.ItemResponse{{SourceUUID: "other", MessageUUID: "x"}}},
		"entry without id or errors, unlisted":  {SaveMessageResponse: []api.ItemResponse{noID}},
	}
	for name, out := range unknown {
		t.Run(name, func(t *testing.T) {
			b := loadtest.Items(msg.Route{dept, cust}, 1, func(int) (string, []byte) { return "k", []byte("{}") })
			got := Settle(b, &out)
			assert.Equal(t, load.Failed, got[0].Status, "never resent blindly")
			assert.Equal(t, UnknownOutcome, got[0].Code)
			assert.Contains(t, got[0].Message, "retry --code UNKNOWN_OUTCOME")
		})
	}
}

func deliver(t *testing.T, s load.Sink, batches ...*load.Batch) (*load.Loader, map[string]load.Result) {
	t.Helper()
	l := load.NewLoader(s)
	in := make(chan *load.Batch, len(batches))
	for _, b := range batches {
		in <- b
	}
	close(in)
	var mu sync.Mutex
	got := map[string]load.Result{}
	require.NoError(t, run(l, in, func(r load.Result) {
		mu.Lock()
		defer mu.Unlock()
		_, dup := got[r.Item.Key]
		assert.False(t, dup, "one result per item")
		got[r.Item.Key] = r
	}))
	n := 0
	for _, b := range batches {
		n += len(b.Items)
	}
	require.Len(t, got, n, "every item has an outcome")
	return l, got
}

func run(l *load.Loader, in chan *load.Batch, emit func(load.Result)) error {
	return l.Run(context.Background(), context.Background(), in, func(rs []load.Result) error {
		for _, r := range rs {
			emit(r)
		}
		return nil
	})
}

// A wrong password stops the run after a few requests (a lockout risk on a
// real API), says 401, leaks nothing, and fails no item: once the password is
// right, the same command sends them.
func TestWrongPasswordStopsTheRunWithoutLeakingIt(t *testing.T) {
	s := fake(t, sandbox.MyKaarmaConfig{})
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("kind: mykaarma\nurl: "+s.MyKaarmaURL()+"\nusername: u\npassword: wrong-"+pass+"\nconcurrency: 4\nretry: {base_delay: 1ms, max_delay: 2ms}\n"), &node))
	sink, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, load.Env{})
	require.NoError(t, err)
	l := load.NewLoader(sink)
	in := make(chan *load.Batch, 50)
	for range 50 {
		in <- batch(3)
	}
	close(in)
	var results atomic.Int64
	err = run(l, in, func(load.Result) { results.Add(1) })
	var fe *transport.FatalError
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, err.Error(), "refused the credentials")
	assert.Contains(t, err.Error(), "HTTP 401")
	assert.NotContains(t, err.Error(), pass)
	assert.Zero(t, results.Load(), "no item failed: they stay unsent")
	assert.LessOrEqual(t, s.MyKaarma.Stats.Requests.Load(), int64(4+2), "about one request per worker")
}

// A URL that misses the API's path: every request gets a plain 404. The run
// stops, naming the URL, instead of failing every record as NOT_FOUND.
func TestWrongURLStopsTheRun(t *testing.T) {
	s := fake(t, sandbox.MyKaarmaConfig{})
	sink := openSink(t, s.URL(), "concurrency: 2\n") // without /communications
	l := load.NewLoader(sink)
	in := make(chan *load.Batch, 20)
	for range 20 {
		in <- batch(2)
	}
	close(in)
	var results atomic.Int64
	err := run(l, in, func(load.Result) { results.Add(1) })
	var fe *transport.FatalError
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, err.Error(), "no such endpoint (check the URL)")
	assert.Contains(t, err.Error(), s.URL()+"/department/")
	assert.Zero(t, results.Load())
}

func TestPerItemRejections(t *testing.T) {
	s := fake(t, sandbox.MyKaarmaConfig{Faults: sandbox.Faults{Reject: 0.3}})
	sink := openSink(t, s.MyKaarmaURL(), "")
	_, got := deliver(t, sink, batch(50))
	var loaded, failed int
	for k, r := range got {
		switch r.Status {
		case load.Loaded:
			loaded++
			st, ok := s.MyKaarma.Stored(k)
			require.True(t, ok)
			assert.Equal(t, st.MessageUUID, r.TargetID, "the target id is the vendor's messageUuid")
		case load.Failed:
			failed++
			assert.Equal(t, "MESSAGE_REJECTED", r.Code)
			_, ok := s.MyKaarma.Stored(k)
			assert.False(t, ok)
		}
	}
	assert.Positive(t, failed)
	assert.Positive(t, loaded)
}

func TestOversizedBatchesAreSplit(t *testing.T) {
	for _, tt := range []struct {
		Name string
		Cfg  sandbox.MyKaarmaConfig
	}{
		{"413", sandbox.MyKaarmaConfig{MaxBodyBytes: 2000}},
		{"400TooManyItems", sandbox.MyKaarmaConfig{MaxItems: 4}},
	} {
		t.Run(tt.Name, func(t *testing.T) {
			s := fake(t, tt.Cfg)
			sink := openSink(t, s.MyKaarmaURL(), "")
			l, got := deliver(t, sink, batch(20))
			for _, r := range got {
				assert.Equal(t, load.Loaded, r.Status, r.Message)
			}
			assert.Positive(t, l.Stats.Splits.Load())
		})
	}
}

func TestWholeRequestFailuresAreRetriedThenFail(t *testing.T) {
	for _, tt := range []struct {
		Name     string
		F        sandbox.Faults
		Says     string
		Requests int64
	}{
		// A 429 says "later", not "failed": it uses no attempt, but a
		// batch throttled max_throttled times in a row gives up too.
		{"Throttled", sandbox.Faults{Throttle: 1}, "throttled 3 times in a row", 3},
		{"ServerErrors", sandbox.Faults{ServerError: 1}, "gave up after 3 attempts", 3},
		{"Dropped", sandbox.Faults{Drop: 1}, "gave up after 3 attempts", 3},
		{"Unreadable200", sandbox.Faults{Garble: 1}, "gave up after 3 attempts: PUT", 3},
	} {
		t.Run(tt.Name, func(t *testing.T) {
			s := fake(t, sandbox.MyKaarmaConfig{Faults: tt.F})
			sink := openSink(t, s.MyKaarmaURL(), "")
			l, got := deliver(t, sink, batch(4))
			for _, r := range got {
				assert.Equal(t, load.Failed, r.Status)
				assert.Equal(t, "RETRIES_EXHAUSTED", r.Code)
				assert.Contains(t, r.Message, tt.Says, "never an endless retry")
			}
			assert.Equal(t, tt.Requests, l.Pacer().Stats.Requests.Load())
		})
	}
}

// A 429's Retry-After holds back every worker, not just the one that got it.
func TestThrottlePausesEveryWorker(t *testing.T) {
	var mu sync.Mutex
	var throttledAt time.Time
	var after []time.Time
	var first atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			mu.Lock()
			throttledAt = time.Now()
			mu.Unlock()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		mu.Lock()
		if !throttledAt.IsZero() {
			after = append(after, time.Now())
		}
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // a worker cannot finish a request before the 429 is read
		var body api.Request
		_ = jsonDecode(r, &body)
		resp := api.Response{}
		for _, raw := range body.SaveMessageRequestList {
			var it api.SaveMessageRequest
			_ = jsonUnmarshal(raw, &it)
			resp.SuccesfullySubmittedSourceUuids = append(resp.SuccesfullySubmittedSourceUuids, it.SourceUUID)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = jsonEncode(w, resp)
	}))
	defer srv.Close()
	sink := openSink(t, srv.URL, "concurrency: 4\nretry: {base_delay: 1ms, max_retry_after: 5s}\n")
	var batches []*load.Batch
	for range 8 {
		batches = append(batches, batch(2))
	}
	// One at a time first, so the 429 comes before the others start.
	l := load.NewLoader(sink)
	in := make(chan *load.Batch)
	done := make(chan error)
	var n atomic.Int64
	go func() {
		done <- run(l, in, func(load.Result) { n.Add(1) })
	}()
	for _, b := range batches {
		in <- b
	}
	close(in)
	require.NoError(t, <-done)
	assert.Equal(t, int64(16), n.Load())
	mu.Lock()
	defer mu.Unlock()
	// Requests already on their way when the 429 was answered arrive at
	// once (at most one per other worker); every later one waits it out.
	onTheWay, waited := 0, 0
	for _, at := range after {
		switch d := at.Sub(throttledAt); {
		case d < 200*time.Millisecond:
			onTheWay++
		case d >= 900*time.Millisecond:
			waited++
		default:
			t.Errorf("a request went out %v into a 1s pause", d)
		}
	}
	assert.LessOrEqual(t, onTheWay, 3, "only requests already sent by the other three workers")
	assert.Positive(t, waited)
	assert.Equal(t, int64(1), l.Pacer().Stats.Throttled.Load())
}

func TestURLWithCredentialsIsRefused(t *testing.T) {
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("kind: mykaarma\nurl: https://u:p@example.com\nusername: u\npassword: p\n"), &node))
	_, err := open(context.Background(), config.Section{File: "job.yaml", Node: node.Content[0]}, load.Env{})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), ":p@")
	assert.True(t, strings.Contains(err.Error(), "put credentials in the connector's keys"))
}
