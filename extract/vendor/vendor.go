// Package vendor is what every vendor API source shares: a GET of JSON with
// the account's rate budget, retries of what is worth retrying (429 with
// Retry-After without using an attempt, 5xx, timeouts, resets, unreadable
// bodies) and nothing else.
package vendor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/load"
)

// HTTPConfig is the part of a vendor source section every vendor shares.
type HTTPConfig struct {
	Rate    config.Rate      `yaml:"rate"`  // requests a second
	Burst   int              `yaml:"burst"` // requests at once
	Timeout config.Duration  `yaml:"timeout"`
	Retry   load.RetryConfig `yaml:"retry"`
}

// Client GETs JSON from one vendor.
type Client struct {
	Vendor  string
	HTTP    *http.Client
	Limiter *rate.Limiter
	Retry   load.RetryPolicy
	// Authorize adds the credentials to a request.
	Authorize func(*http.Request)
	// ErrorText reads the message in the vendor's error body ("" when the
	// body is not in the vendor's format).
	ErrorText func(body []byte) string
	Requests  atomic.Int64 // safe for sources that fetch concurrently
}

// NewClient builds a client; rate and burst are the defaults for the
// vendor when the job gives none (rate 0 = unlimited).
func NewClient(vendor string, c HTTPConfig, defaultRate float64, defaultBurst int) *Client {
	r, burst := float64(c.Rate), c.Burst
	if r == 0 {
		r = defaultRate
	}
	if burst == 0 {
		burst = max(defaultBurst, 1)
	}
	lim := rate.NewLimiter(rate.Inf, 1)
	if r > 0 {
		lim = rate.NewLimiter(rate.Limit(r), burst)
	}
	return &Client{
		Vendor:  vendor,
		HTTP:    load.NewClient(load.Options{Concurrency: 4}, time.Duration(c.Timeout)),
		Limiter: lim,
		Retry:   load.HTTPConfig{Retry: c.Retry}.Options(0).Retry,
	}
}

// GetJSON fetches url into v. A 4xx other than 429 comes back as a
// *load.PermanentError for the caller to judge (an expired cursor, a 404).
func (c *Client) GetJSON(ctx context.Context, url string, v any) error {
	throttled := 0
	for attempt := 1; ; attempt++ {
		if err := c.Limiter.Wait(ctx); err != nil {
			return err
		}
		c.Requests.Add(1)
		err := c.get(ctx, url, v)
		if err == nil {
			return nil
		}
		var perm *load.PermanentError
		if errors.As(err, &perm) || ctx.Err() != nil {
			return err
		}
		var re *load.RetryableError
		errors.As(err, &re)
		wait := c.Retry.Backoff(attempt, 0)
		if re != nil && re.RetryAfter > 0 {
			wait = c.Retry.Backoff(attempt, re.RetryAfter)
		}
		switch {
		case re != nil && re.Throttled:
			// Over the account's budget: come back when told, without
			// using an attempt.
			throttled++
			attempt--
			if throttled > c.Retry.MaxThrottled {
				return fmt.Errorf("%s: throttled %d times in a row: %w", c.Vendor, throttled, err)
			}
		case attempt >= c.Retry.MaxAttempts:
			return fmt.Errorf("%s: gave up after %d attempts: %w", c.Vendor, attempt, err)
		default:
			throttled = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// maxBody bounds one answer.
const maxBody = 64 << 20

func (c *Client) get(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return &load.PermanentError{Code: "BAD_URL", Err: err}
	}
	if c.Authorize != nil {
		c.Authorize(req)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return &load.RetryableError{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return &load.RetryableError{Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return load.Classify(resp.StatusCode, "", c.ErrorMessage(body), resp.Header.Get("Retry-After"), time.Now())
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &load.RetryableError{Err: fmt.Errorf("unreadable answer: %w", err)}
	}
	return nil
}

// ErrorMessage is the vendor's message in an error body, else the body
// itself (cut short).
func (c *Client) ErrorMessage(body []byte) string { return load.ErrorMessage(c.ErrorText, body) }
