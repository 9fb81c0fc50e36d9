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
