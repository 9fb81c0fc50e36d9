// Package sandbox holds in-process fakes of the vendor APIs msgmigrate talks
// to, strict like the vendors (auth, content type, per-item validation, rate
// limits with Retry-After) and with fault injection. Tests, the quick start
// and `msgmigrate sandbox` use them; nothing here accepts whatever it gets.
package sandbox

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Faults say how often, and how, a fake misbehaves. Fractions are of
// requests, except Reject, which is of items.
type Faults struct {
	Latency     time.Duration // added to every request
	Jitter      time.Duration // up to this much more, at random
	Throttle    float64       // 429 with Retry-After
	RetryAfter  time.Duration // the Retry-After a 429 or 503 carries (whole seconds on the wire)
	ServerError float64       // 500 or 503
	Drop        float64       // the connection is closed without an answer
	Garble      float64       // the items are stored, then the 200's body is cut short
	Reject      float64       // items rejected inside a 200, always the same ones
	RateLimit   float64       // requests per second; over it, 429 with Retry-After
	Seed        uint64
}

// dice draws the faults for one request.
type dice struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func newDice(seed uint64) *dice {
	return &dice{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (d *dice) roll(p float64) bool {
	if p <= 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rng.Float64() < p
}

func (d *dice) duration(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return time.Duration(d.rng.Int64N(int64(max)))
}

// bucket is a token bucket: the fake's real rate limit.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate, burst float64) *bucket {
	return &bucket{rate: rate, burst: burst, tokens: burst}
}

// take takes a token, or says how long until one is free.
func (b *bucket) take(now time.Time) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// level is how many tokens are left now (the bucket's free room).
func (b *bucket) level() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tokens
}

// retryAfterValue renders a wait as Retry-After's whole seconds, rounded up.
func retryAfterValue(d time.Duration) string {
	secs := int64(d / time.Second)
	if d%time.Second != 0 {
		secs++
	}
	return strconv.FormatInt(secs, 10)
}

// fault answers with a fault the dice pick, if any — a dropped connection,
// a 5xx or a 429, both with Retry-After — in the vendor's own words (answer
// writes its error body). It reports whether it answered.
func (d *dice) fault(w http.ResponseWriter, r *http.Request, f Faults, faulted, throttled *atomic.Int64, answer func(status int)) bool {
	if !sleepCtx(r, f.Latency+d.duration(f.Jitter)) {
		return true
	}
	switch {
	case d.roll(f.Drop):
		faulted.Add(1)
		drop(w)
	case d.roll(f.Throttle):
		throttled.Add(1)
		w.Header().Set("Retry-After", retryAfterValue(f.RetryAfter))
		answer(http.StatusTooManyRequests)
	case d.roll(f.ServerError):
		faulted.Add(1)
		status := http.StatusInternalServerError
		if d.roll(0.5) {
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", retryAfterValue(f.RetryAfter))
		}
		answer(status)
	default:
		return false
	}
	return true
}

// drop closes the client's connection without an answer.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func sleepCtx(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		return false
	case <-t.C:
		return true
	}
}
