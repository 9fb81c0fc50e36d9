package transport

import (
	"math/rand/v2"
	"time"

	"github.com/msgmigrate/msgmigrate/config"
)

// Policy bounds how failed requests are retried, and when a run stops.
type Policy struct {
	MaxAttempts   int           // attempts per call, the first included; 429s and outages apart
	MaxThrottled  int           // 429s in a row per call before giving up
	BaseDelay     time.Duration // first backoff
	MaxDelay      time.Duration // cap of the exponential backoff
	MaxRetryAfter time.Duration // cap of a server's Retry-After
	// FailFast: the same fatal answer (credentials, a wrong URL, DNS, a
	// refused connection, TLS) this many times in a row stops the run.
	FailFast int
	// CircuitAfter: this many whole-request failures in a row, across all
	// workers, open the circuit: every worker pauses while one probes.
	CircuitAfter int
	// Outage: how long the circuit may stay open before the run stops,
	// resumably, leaving what it did not send unsent.
	Outage time.Duration
}

// DefaultPolicy is what a connector uses unless the job says otherwise.
var DefaultPolicy = Policy{
	MaxAttempts: 8, MaxThrottled: 100,
	BaseDelay: 500 * time.Millisecond, MaxDelay: 30 * time.Second, MaxRetryAfter: 5 * time.Minute,
	FailFast: 3, CircuitAfter: 5, Outage: 5 * time.Minute,
}

// Backoff is the wait after n ≥ 1 failed attempts: exponential with "equal
// jitter", so waits never collapse to zero, or the server's Retry-After when
// it gave one (capped).
func (p Policy) Backoff(n int, retryAfter time.Duration) time.Duration {
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

// RetryConfig is a connector's retry: section.
type RetryConfig struct {
	MaxAttempts   int             `yaml:"max_attempts"`
	MaxThrottled  int             `yaml:"max_throttled"`
	BaseDelay     config.Duration `yaml:"base_delay"`
	MaxDelay      config.Duration `yaml:"max_delay"`
	MaxRetryAfter config.Duration `yaml:"max_retry_after"`
	FailFast      int             `yaml:"fail_fast"`
	CircuitAfter  int             `yaml:"circuit_after"`
	Outage        config.Duration `yaml:"outage"`
}

// Policy is the configuration over the defaults.
func (c RetryConfig) Policy() Policy {
	p := DefaultPolicy
	set := func(dst *int, v int) {
		if v > 0 {
			*dst = v
		}
	}
	setD := func(dst *time.Duration, v config.Duration) {
		if v > 0 {
			*dst = time.Duration(v)
		}
	}
	set(&p.MaxAttempts, c.MaxAttempts)
	set(&p.MaxThrottled, c.MaxThrottled)
	set(&p.FailFast, c.FailFast)
	set(&p.CircuitAfter, c.CircuitAfter)
	setD(&p.BaseDelay, c.BaseDelay)
	setD(&p.MaxDelay, c.MaxDelay)
	setD(&p.MaxRetryAfter, c.MaxRetryAfter)
	setD(&p.Outage, c.Outage)
	return p
}

// Config is what every HTTP connector's section shares: rate, burst,
// timeout and retry.
type Config struct {
	Rate    config.Rate     `yaml:"rate"`  // requests a second, shared by all workers; 0 = unlimited
	Burst   int             `yaml:"burst"` // requests at once within the rate
	Timeout config.Duration `yaml:"timeout"`
	Retry   RetryConfig     `yaml:"retry"`
}

// DefaultTimeout bounds one request.
const DefaultTimeout = 60 * time.Second

// RequestTimeout is the configured timeout or the default.
func (c Config) RequestTimeout() time.Duration {
	if c.Timeout > 0 {
		return time.Duration(c.Timeout)
	}
	return DefaultTimeout
}
