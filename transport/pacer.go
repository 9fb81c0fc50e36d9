package transport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Observer is told about requests as they happen (metrics). Its methods
// must be cheap and safe for concurrent use.
type Observer interface {
	Request(status int, d time.Duration) // status 0: no answer
	Retry(reason string)                 // reason: a Class's name, or "outage"
	Throttled(pause time.Duration)
	InFlight(delta int)
}

// Stats are a Pacer's running counts, safe to read while it runs.
type Stats struct {
	Requests  atomic.Int64 // requests sent
	Retries   atomic.Int64 // attempts after a failed one
	Throttled atomic.Int64 // 429s
	InFlight  atomic.Int64 // requests waiting for their answer
	Opened    atomic.Int64 // times the circuit opened
}

// Pacer paces every request to one service and decides, after each failed
// one, whether and when to try again. One Pacer serves all the workers of a
// connector: the rate, a 429's pause, the circuit and fail-fast are shared.
type Pacer struct {
	service string
	policy  Policy
	limiter *rate.Limiter
	log     *slog.Logger
	obs     Observer
	Stats   Stats

	mu         sync.Mutex
	pauseUntil time.Time
	succeeded  bool // the service has answered at least once
	fatalInRow int
	fatal      *FatalError // sticky: the run stops
	failsInRow int
	open       bool
	openedAt   time.Time
	probeAt    time.Time
	probing    bool
	probes     int
	lastFail   error
	outage     *OutageError // sticky: the run stops, resumably
	changed    chan struct{}
}

// NewPacer paces requests to service ("sink mykaarma", "source gorgias") at
// ratePerSec (0 = unlimited) with burst.
func NewPacer(service string, ratePerSec float64, burst int, p Policy, log *slog.Logger) *Pacer {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	lim := rate.NewLimiter(rate.Inf, 1)
	if ratePerSec > 0 {
		lim = rate.NewLimiter(rate.Limit(ratePerSec), max(burst, 1))
	}
	if p.MaxAttempts < 1 {
		p.MaxAttempts = 1
	}
	return &Pacer{service: service, policy: p, limiter: lim, log: log, changed: make(chan struct{})}
}

// Service names what the pacer paces, for messages.
func (p *Pacer) Service() string { return p.service }

// Policy is the policy in force.
func (p *Pacer) Policy() Policy { return p.policy }

// SetObserver makes obs see every request; call before the first.
func (p *Pacer) SetObserver(obs Observer) { p.obs = obs }

// Pause holds every request back for at least d.
func (p *Pacer) Pause(d time.Duration) { p.pause(d) }

// pause extends the shared pause to d from now; started reports that no
// pause was in force, so a 429 storm is logged once, not once a worker.
func (p *Pacer) pause(d time.Duration) (started bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	started = !p.pauseUntil.After(now)
	if t := now.Add(d); t.After(p.pauseUntil) {
		p.pauseUntil = t
	}
	return started
}

// Paused is how long the shared pause still lasts.
func (p *Pacer) Paused() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return max(0, time.Until(p.pauseUntil))
}

// CircuitOpen reports whether every worker is waiting on a probe.
func (p *Pacer) CircuitOpen() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// Wait blocks until a request may be sent: no pause in force, and a token
// of the rate. Client.Do calls it for every request.
func (p *Pacer) Wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		d := time.Until(p.pauseUntil)
		p.mu.Unlock()
		if d <= 0 {
			break
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	return p.limiter.Wait(ctx)
}

// Call makes attempts of fn — one request each, or a read and a write —
// until one succeeds or the failure is final, and returns nil or the last
// failure: an *Error of class Permanent or TooLarge (the caller's to
// handle), an *ExhaustedError, a *FatalError or an *OutageError (stop the
// run), or ctx's error (stopped). Waits end when ctx is done.
func (p *Pacer) Call(ctx context.Context, fn func() error) error {
	attempt, throttled, renewed := 1, 0, 0
	for {
		probe, err := p.gate(ctx)
		if err != nil {
			return err
		}
		err = fn()
		if err == nil {
			p.succeed(probe)
			return nil
		}
		if ctx.Err() != nil {
			p.release(probe)
			return ctx.Err() // stopped, not the service's doing
		}
		var fe *FatalError
		if errors.As(err, &fe) {
			// fn has decided already (a refused login, remembered): stop.
			p.release(probe)
			p.stop(fe)
			return fe
		}
		var e *Error
		errors.As(err, &e)
		cls := ClassOf(err)
		if cls == Fatal && !p.treatAsOutage(e) {
			p.release(probe)
			if fe := p.fatalAnswer(e); fe != nil {
				return fe
			}
			if attempt >= p.policy.MaxAttempts {
				return &ExhaustedError{Attempts: attempt, Last: err}
			}
			if err := sleep(ctx, p.policy.Backoff(attempt, 0)); err != nil {
				return err
			}
			attempt++
			continue
		}
		switch cls {
		case Permanent, TooLarge:
			p.succeed(probe) // the service answered: it is up
			return err
		case Renewed:
			p.succeed(probe) // the service answered: it is up
			renewed++
			if renewed > p.policy.MaxAttempts {
				return &ExhaustedError{Attempts: attempt, Last: err}
			}
			p.log.Debug("sending again with renewed credentials", "service", p.service, "reason", errText(err))
			continue
		case Throttled:
			p.release(probe)
			throttled++
			p.Stats.Throttled.Add(1)
			if throttled > p.policy.MaxThrottled {
				return &ExhaustedError{Attempts: attempt, Throttled: throttled, Last: err}
			}
			var ra time.Duration
			if e != nil {
				ra = e.RetryAfter
			}
			pause := p.policy.Backoff(throttled, ra)
			started := p.pause(pause)
			if p.obs != nil {
				p.obs.Throttled(pause)
			}
			level := slog.LevelWarn
			if !started {
				level = slog.LevelDebug // the workers are already paused: said once
			}
			p.log.Log(ctx, level, "throttled: every worker pauses", "service", p.service, "pause", pause.Round(time.Millisecond), "reason", errText(err))
			continue // a 429 says "later": it uses no attempt
		}
		throttled, renewed = 0, 0
		p.Stats.Retries.Add(1)
		if p.outageFailure(probe, err) {
			if p.obs != nil {
				p.obs.Retry("outage")
			}
			continue // the circuit is open: the gate waits, no attempt is used
		}
		if attempt >= p.policy.MaxAttempts {
			return &ExhaustedError{Attempts: attempt, Last: err}
		}
		var ra time.Duration
		if e != nil {
			ra = e.RetryAfter
		}
		wait := p.policy.Backoff(attempt, ra)
		if p.obs != nil {
			p.obs.Retry(cls.String())
		}
		p.log.Warn("retrying", "service", p.service, "attempt", attempt+1, "of", p.policy.MaxAttempts, "in", wait.Round(time.Millisecond), "reason", errText(err))
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		attempt++
	}
}

func errText(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// treatAsOutage: once the service has answered, DNS failures, refused
// connections and TLS failures mean it is down for now, not misconfigured.
func (p *Pacer) treatAsOutage(e *Error) bool {
	if e == nil || (e.Kind != KindDNS && e.Kind != KindRefused && e.Kind != KindTLS) {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.succeeded
}

// fatalAnswer counts a fatal answer; at the policy's count in a row it
// makes the run's fatal error.
func (p *Pacer) fatalAnswer(e *Error) *FatalError {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fatal != nil {
		return p.fatal
	}
	p.fatalInRow++
	if p.fatalInRow < p.policy.FailFast {
		p.log.Warn("a fatal answer; retrying before giving up", "service", p.service, "count", p.fatalInRow, "of", p.policy.FailFast, "reason", e.Error())
		return nil
	}
	p.fatal = &FatalError{Service: p.service, Count: p.fatalInRow, Last: e}
	p.broadcast()
	return p.fatal
}

// stop makes fe the run's fatal error: every call stops.
func (p *Pacer) stop(fe *FatalError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fatal == nil {
		p.fatal = fe
		p.broadcast()
	}
}

// gate lets a call through: at once while the circuit is closed; while it
// is open, one call at a time as the probe, when the probe is due. It fails
// once the run is stopped by a fatal answer or an outage.
func (p *Pacer) gate(ctx context.Context) (probe bool, err error) {
	for {
		p.mu.Lock()
		switch {
		case p.fatal != nil:
			p.mu.Unlock()
			return false, p.fatal
		case p.outage != nil:
			p.mu.Unlock()
			return false, p.outage
		case !p.open:
			p.mu.Unlock()
			return false, ctx.Err()
		}
		now := time.Now()
		deadline := p.openedAt.Add(p.policy.Outage)
		if !now.Before(deadline) {
			p.outage = &OutageError{Service: p.service, For: now.Sub(p.openedAt), Probes: p.probes, Last: p.lastFail}
			p.broadcast()
			p.mu.Unlock()
			return false, p.outage
		}
		if !p.probing && !now.Before(p.probeAt) {
			p.probing = true
			p.probes++
			p.mu.Unlock()
			return true, nil
		}
		wake := p.changed
		wait := deadline.Sub(now)
		if !p.probing {
			wait = min(wait, p.probeAt.Sub(now))
		}
		p.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// succeed records an answer: the service is up.
func (p *Pacer) succeed(probe bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.succeeded = true
	p.fatalInRow, p.failsInRow = 0, 0
	if p.open || probe {
		if p.open {
			p.log.Info("the service answers again: every worker resumes", "service", p.service,
				"after", time.Since(p.openedAt).Round(time.Second), "probes", p.probes)
		}
		p.open, p.probing = false, false
		p.broadcast()
	}
}

// release ends a probe that settled nothing (a 429, a stop).
func (p *Pacer) release(probe bool) {
	if !probe {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.probing = false
	p.broadcast()
}

// outageFailure records a whole-request failure and reports whether the
// circuit is open now (the failure then uses no attempt).
func (p *Pacer) outageFailure(probe bool, err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastFail = err
	now := time.Now()
	if probe {
		p.probing = false
		p.probeAt = now.Add(p.policy.Backoff(p.probes+1, retryAfterOf(err)))
		p.broadcast()
		return true
	}
	if p.open {
		return true
	}
	p.failsInRow++
	if p.failsInRow < p.policy.CircuitAfter {
		return false
	}
	p.open, p.openedAt, p.probes, p.probing = true, now, 0, false
	p.probeAt = now.Add(p.policy.Backoff(1, retryAfterOf(err)))
	p.Stats.Opened.Add(1)
	p.log.Warn("every request fails: every worker pauses while one probes", "service", p.service,
		"failures_in_a_row", p.failsInRow, "gives_up_after", p.policy.Outage, "reason", errText(err))
	p.broadcast()
	return true
}

func retryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// broadcast wakes every call waiting at the gate; p.mu is held.
func (p *Pacer) broadcast() {
	close(p.changed)
	p.changed = make(chan struct{})
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
