package load

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// RetryPolicy bounds how whole-request failures are retried.
type RetryPolicy struct {
	MaxAttempts   int           // attempts per batch, the first included, 429s apart
	MaxThrottled  int           // 429s in a row per batch before giving up
	BaseDelay     time.Duration // first backoff
	MaxDelay      time.Duration // cap of the exponential backoff
	MaxRetryAfter time.Duration // cap of a server's Retry-After
}

// DefaultRetry is what a sink uses unless the job says otherwise.
var DefaultRetry = RetryPolicy{MaxAttempts: 8, MaxThrottled: 100, BaseDelay: 500 * time.Millisecond, MaxDelay: 30 * time.Second, MaxRetryAfter: 5 * time.Minute}

// Backoff is the wait before attempt n+1 (n ≥ 1 failed attempts so far):
// exponential with "equal jitter", so waits never collapse to zero, or the
// server's Retry-After when it gave one (capped).
func (p RetryPolicy) Backoff(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, p.MaxRetryAfter)
	}
	d := p.BaseDelay
	for i := 1; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(half+1)
}

// pacer holds every worker back while the target has asked for a pause, so
// that a 429 slows the whole run rather than one worker.
type pacer struct {
	mu    sync.Mutex
	until time.Time
}

// pauseFor extends the shared pause to at least now+d.
func (p *pacer) pauseFor(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := time.Now().Add(d); t.After(p.until) {
		p.until = t
	}
}

// wait blocks until no pause is in force.
func (p *pacer) wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		d := time.Until(p.until)
		p.mu.Unlock()
		if d <= 0 {
			return ctx.Err()
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
