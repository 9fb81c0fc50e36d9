package load

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/msgmigrate/msgmigrate/config"
)

// HTTPConfig is the part of a sink section every HTTP sink shares.
type HTTPConfig struct {
	Kind        string          `yaml:"kind"`
	URL         string          `yaml:"url"`
	Username    string          `yaml:"username"`
	Password    string          `yaml:"password"`
	Batch       BatchConfig     `yaml:"batch"`
	Concurrency int             `yaml:"concurrency"`
	Rate        config.Rate     `yaml:"rate"`
	Timeout     config.Duration `yaml:"timeout"`
	Retry       RetryConfig     `yaml:"retry"`
}

// BatchConfig is sink.batch.
type BatchConfig struct {
	MaxItems     int             `yaml:"max_items"`
	MaxBytes     config.ByteSize `yaml:"max_bytes"`
	Linger       config.Duration `yaml:"linger"`
	MaxOpenBytes config.ByteSize `yaml:"max_open_bytes"`
}

// RetryConfig is sink.retry.
type RetryConfig struct {
	MaxAttempts   int             `yaml:"max_attempts"`
	MaxThrottled  int             `yaml:"max_throttled"`
	BaseDelay     config.Duration `yaml:"base_delay"`
	MaxDelay      config.Duration `yaml:"max_delay"`
	MaxRetryAfter config.Duration `yaml:"max_retry_after"`
}

// Defaults for HTTP sinks.
const (
	DefaultMaxItems    = 100
	DefaultMaxBytes    = 1 << 20
	DefaultConcurrency = 8
	DefaultTimeout     = 60 * time.Second
	DefaultLinger      = 5 * time.Second
)

// Options turns the configuration into delivery options, with defaults.
func (c HTTPConfig) Options(overhead int) Options {
	o := Options{
		MaxItems:    c.Batch.MaxItems,
		MaxBytes:    int(c.Batch.MaxBytes),
		Overhead:    overhead,
		Concurrency: c.Concurrency,
		Rate:        float64(c.Rate),
		Linger:      time.Duration(c.Batch.Linger),
		MaxOpen:     int(c.Batch.MaxOpenBytes),
		Retry:       DefaultRetry,
	}
	if o.MaxItems <= 0 {
		o.MaxItems = DefaultMaxItems
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Linger <= 0 {
		o.Linger = DefaultLinger
	}
	if c.Retry.MaxAttempts > 0 {
		o.Retry.MaxAttempts = c.Retry.MaxAttempts
	}
	if c.Retry.MaxThrottled > 0 {
		o.Retry.MaxThrottled = c.Retry.MaxThrottled
	}
	if c.Retry.BaseDelay > 0 {
		o.Retry.BaseDelay = time.Duration(c.Retry.BaseDelay)
	}
	if c.Retry.MaxDelay > 0 {
		o.Retry.MaxDelay = time.Duration(c.Retry.MaxDelay)
	}
	if c.Retry.MaxRetryAfter > 0 {
		o.Retry.MaxRetryAfter = time.Duration(c.Retry.MaxRetryAfter)
	}
	return o
}

// CheckURL rejects a URL that is not http(s) or that carries credentials,
// which would then show up in logs and errors.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("sink.url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("sink.url %q: want an http or https URL", u.Redacted())
	}
	if u.User != nil {
		return nil, errors.New("sink.url: put credentials in username/password (from the environment), not in the URL")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// NewClient is the HTTP client every sink uses: keep-alive connections for
// every worker, a request timeout, and no redirects — a redirect would carry
// the credentials to wherever it points.
func NewClient(o Options, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          o.Concurrency * 2,
		MaxIdleConnsPerHost:   o.Concurrency * 2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
