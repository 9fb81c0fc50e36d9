package load

import (
	"time"

	"github.com/msgmigrate/msgmigrate/msg"
)

// Batcher groups items by route into batches as full as the sink allows.
// Routes interleave freely in the input, so it keeps one open batch per route
// and bounds them all together: past MaxOpen bytes it sends the fullest open
// batch, which costs the fewest extra requests.
type Batcher struct {
	opts      Options
	open      map[string]*openBatch
	openBytes int
	out       func(*Batch)
}

type openBatch struct {
	Batch
	since time.Time
	mem   int // memory held, by footprint
}

// footprint estimates the memory an item holds while it waits: its payload
// and source when they are in memory, the item, its key and its slot in a
// batch.
func footprint(it *msg.Item) int { return len(it.Payload) + len(it.Source) + len(it.Key) + 300 }

// DefaultMaxOpen bounds the memory held in open batches.
const DefaultMaxOpen = 32 << 20

// NewBatcher sends each batch it closes to out.
func NewBatcher(o Options, out func(*Batch)) *Batcher {
	if o.MaxItems < 1 {
		o.MaxItems = 1
	}
	if o.MaxOpen <= 0 {
		o.MaxOpen = DefaultMaxOpen
	}
	return &Batcher{opts: o, open: map[string]*openBatch{}, out: out}
}

// Fits reports whether an item of this size can travel at all within the
// byte limit.
func (b *Batcher) Fits(size int) bool {
	return b.opts.MaxBytes <= 0 || b.opts.Overhead+size <= b.opts.MaxBytes
}

// Add puts an item in its route's batch, sending batches that are full.
func (b *Batcher) Add(it *msg.Item, now time.Time) {
	key := it.Route.String()
	ob := b.open[key]
	if ob != nil && b.opts.MaxBytes > 0 && b.opts.Overhead+ob.Bytes+len(ob.Items)+it.Size() > b.opts.MaxBytes {
		b.close(key, ob)
		ob = nil
	}
	if ob == nil {
		ob = &openBatch{Batch: Batch{Route: it.Route, Items: make([]*msg.Item, 0, min(b.opts.MaxItems, 64))}, since: now}
		b.open[key] = ob
	}
	ob.Items = append(ob.Items, it)
	ob.Bytes += it.Size()
	ob.mem += footprint(it)
	b.openBytes += footprint(it)
	if len(ob.Items) >= b.opts.MaxItems {
		b.close(key, ob)
	}
	for b.openBytes > b.opts.MaxOpen && len(b.open) > 0 {
		b.closeFullest()
	}
}

// FlushOlder sends batches that have waited longer than the linger time.
func (b *Batcher) FlushOlder(now time.Time) {
	if b.opts.Linger <= 0 {
		return
	}
	for k, ob := range b.open {
		if now.Sub(ob.since) >= b.opts.Linger {
			b.close(k, ob)
		}
	}
}

// Flush sends every open batch.
func (b *Batcher) Flush() {
	for k, ob := range b.open {
		b.close(k, ob)
	}
}

// OpenItems is how many items wait in open batches.
func (b *Batcher) OpenItems() int {
	n := 0
	for _, ob := range b.open {
		n += len(ob.Items)
	}
	return n
}

func (b *Batcher) closeFullest() {
	var bestK string
	var best *openBatch
	for k, ob := range b.open {
		if best == nil || ob.Bytes > best.Bytes {
			bestK, best = k, ob
		}
	}
	b.close(bestK, best)
}

func (b *Batcher) close(key string, ob *openBatch) {
	delete(b.open, key)
	b.openBytes -= ob.mem
	batch := ob.Batch
	b.out(&batch)
}
