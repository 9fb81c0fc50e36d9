package load

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// RetryableError is a whole-request failure worth another attempt: a 429, a
// 5xx, a timeout, a reset connection, an unreadable 200.
type RetryableError struct {
	Err        error
	RetryAfter time.Duration // from the Retry-After header; 0 = none given
	Throttled  bool          // a 429: pause every worker, not just this one
}

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// TooLargeError is a request the target refused for its size: split it.
type TooLargeError struct{ Err error }

func (e *TooLargeError) Error() string { return e.Err.Error() }
func (e *TooLargeError) Unwrap() error { return e.Err }

// PermanentError is a whole-request failure that another attempt will not
// fix (a 401, a 404, a 400 about the request): every item fails with it.
type PermanentError struct {
	Code string // the vendor's code, or "HTTP 401"
	Err  error
}

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Classify turns an HTTP status and a decoded vendor message into the error
// the Loader acts on. retryAfter is the raw Retry-After header.
func Classify(status int, code, message, retryAfter string, now time.Time) error {
	text := fmt.Sprintf("HTTP %d", status)
	if message != "" {
		text += ": " + message
	}
	err := errors.New(text)
	switch {
	case status == http.StatusTooManyRequests:
		return &RetryableError{Err: err, RetryAfter: ParseRetryAfter(retryAfter, now), Throttled: true}
	case status == http.StatusRequestTimeout || status >= 500:
		return &RetryableError{Err: err, RetryAfter: ParseRetryAfter(retryAfter, now)}
	case status == http.StatusRequestEntityTooLarge:
		return &TooLargeError{Err: err}
	default:
		if code == "" {
			code = "HTTP " + strconv.Itoa(status)
		}
		return &PermanentError{Code: code, Err: err}
	}
}

// ParseRetryAfter reads a Retry-After value: delta seconds or an HTTP date.
// It returns 0 for an absent or unreadable value.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// maxBodyText bounds how much of an error body a message quotes: a proxy's
// HTML page must not fill the ledger's error column.
const maxBodyText = 300

// BodyText is an error body as a message, when the vendor's own error format
// could not be read from it: trimmed, and cut (on a character boundary) at
// maxBodyText bytes.
func BodyText(body []byte) string {
	text := strings.TrimSpace(string(body))
	if len(text) <= maxBodyText {
		return text
	}
	cut := maxBodyText
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "…"
}

// ErrorMessage is the vendor's message in an error body, as read (nil: not
// read), else the body itself through BodyText.
func ErrorMessage(read func(body []byte) string, body []byte) string {
	if read != nil {
		if text := read(body); text != "" {
			return text
		}
	}
	return BodyText(body)
}
