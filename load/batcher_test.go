package load

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/msg"
)

func item(route string, size int, n int) *msg.Item {
	return &msg.Item{Key: fmt.Sprintf("%s-%d", route, n), Route: msg.Route{route, "c"}, Payload: make([]byte, size)}
}

func collect(o Options) (*Batcher, *[]*Batch) {
	var out []*Batch
	return NewBatcher(o, func(b *Batch) { out = append(out, b) }), &out
}

func TestBatcherFillsPerRoute(t *testing.T) {
	b, out := collect(Options{MaxItems: 3})
	now := time.Now()
	for i := range 7 {
		for _, r := range []string{"a", "b"} {
			b.Add(item(r, 10, i), now)
		}
	}
	require.Len(t, *out, 4, "interleaved routes still give full batches")
	for _, bt := range *out {
		assert.Len(t, bt.Items, 3)
		for _, it := range bt.Items {
			assert.Equal(t, bt.Route, it.Route, "a batch holds one route")
		}
	}
	b.Flush()
	require.Len(t, *out, 6)
	assert.Equal(t, 0, b.OpenItems())
}

func TestBatcherByteLimit(t *testing.T) {
	b, out := collect(Options{MaxItems: 100, MaxBytes: 100, Overhead: 10})
	now := time.Now()
	for i := range 5 {
		b.Add(item("a", 30, i), now) // 10 + 30 + 1 + 30 + 1 + 30 > 100 at the third
	}
	b.Flush()
	require.Len(t, *out, 3)
	for _, bt := range *out {
		assert.LessOrEqual(t, 10+bt.Bytes+len(bt.Items)-1, 100)
	}
	assert.True(t, b.Fits(90))
	assert.False(t, b.Fits(91))
}

func TestBatcherBoundsOpenMemorySendingTheFullest(t *testing.T) {
	size := 100
	var first []*msg.Item
	for i := range 6 {
		first = append(first, item("big", size, i))
	}
	for i := range 4 {
		first = append(first, item(fmt.Sprint("small", i), size, i))
	}
	bound := 0
	for _, it := range first {
		bound += footprint(it)
	}
	b, out := collect(Options{MaxItems: 1000, MaxOpen: bound})
	now := time.Now()
	for _, it := range first {
		b.Add(it, now)
	}
	require.Empty(t, *out)
	b.Add(item("small0", size, 99), now) // over the bound
	require.Len(t, *out, 1)
	assert.Equal(t, "big", (*out)[0].Route[0], "the fullest batch goes first")
	assert.Len(t, (*out)[0].Items, 6)
}

func TestBatcherLinger(t *testing.T) {
	b, out := collect(Options{MaxItems: 10, Linger: time.Second})
	t0 := time.Now()
	b.Add(item("a", 1, 0), t0)
	b.FlushOlder(t0.Add(500 * time.Millisecond))
	assert.Empty(t, *out)
	b.FlushOlder(t0.Add(time.Second))
	assert.Len(t, *out, 1)
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		In   string
		Want time.Duration
	}{
		{"", 0}, {"0", 0}, {"3", 3 * time.Second}, {"1.5", 1500 * time.Millisecond}, {"-1", 0}, {"soon", 0},
		{"Thu, 01 Jan 2026 00:00:10 GMT", 10 * time.Second},
		{"Wed, 31 Dec 2025 23:59:00 GMT", 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.Want, ParseRetryAfter(tt.In, now), tt.In)
	}
}

func TestClassify(t *testing.T) {
	now := time.Now()
	var re *RetryableError
	var tl *TooLargeError
	var pe *PermanentError
	assert.ErrorAs(t, Classify(429, "", "", "2", now), &re)
	assert.True(t, re.Throttled)
	assert.Equal(t, 2*time.Second, re.RetryAfter)
	assert.ErrorAs(t, Classify(503, "", "", "", now), &re)
	assert.False(t, re.Throttled)
	assert.ErrorAs(t, Classify(500, "", "", "", now), &re)
	assert.ErrorAs(t, Classify(408, "", "", "", now), &re)
	assert.ErrorAs(t, Classify(413, "", "", "", now), &tl)
	assert.ErrorAs(t, Classify(401, "UNAUTHORIZED", "bad credentials", "", now), &pe)
	assert.Equal(t, "UNAUTHORIZED", pe.Code)
	assert.ErrorAs(t, Classify(404, "", "", "", now), &pe)
	assert.Equal(t, "HTTP 404", pe.Code)
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, MaxRetryAfter: 5 * time.Second}
	for n := 1; n < 10; n++ {
		d := p.Backoff(n, 0)
		want := min(p.BaseDelay<<(n-1), p.MaxDelay)
		assert.GreaterOrEqual(t, d, want/2, "attempt %d", n)
		assert.LessOrEqual(t, d, want, "attempt %d", n)
	}
	assert.Equal(t, 3*time.Second, p.Backoff(1, 3*time.Second), "Retry-After wins")
	assert.Equal(t, 5*time.Second, p.Backoff(1, time.Hour), "but is capped")
}
