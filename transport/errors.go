package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// Class says what a failed request calls for.
type Class uint8

const (
	// Permanent: another attempt will not help; what the request carried fails.
	Permanent Class = iota
	// Retry: worth another attempt — a 5xx, a 408, a timeout, a reset
	// connection, an unreadable answer.
	Retry
	// Throttled: a 429 — later, not failed; every worker pauses.
	Throttled
	// TooLarge: the request is too big for the service: split it.
	TooLarge
	// Fatal: every request will get the same answer (credentials refused, the
	// endpoint does not exist, DNS, a refused connection, TLS): stop the run
	// before it burns the budget, and leave what it carried unsent.
	Fatal
	// Renewed: the session or token the request carried had expired and is
	// renewed now (by this request or another): send again at once. It
	// uses no attempt — with short-lived tokens and many workers, a request
	// may meet several expiries in a row — but renewals in a row are
	// bounded like attempts.
	Renewed
)

func (c Class) String() string {
	switch c {
	case Permanent:
		return "permanent"
	case Retry:
		return "retry"
	case Throttled:
		return "throttled"
	case TooLarge:
		return "too large"
	case Fatal:
		return "fatal"
	case Renewed:
		return "renewed"
	}
	return "class " + strconv.Itoa(int(c))
}

// Fatal kinds: why every request will fail the same way.
const (
	KindAuth     = "auth"     // 401, 403
	KindEndpoint = "endpoint" // 404 of the endpoint itself: the URL is wrong
	KindDNS      = "dns"
	KindRefused  = "refused"
	KindTLS      = "tls"
	KindWrite    = "write" // a file sink cannot write (a full disk)
)

// Error is a request that did not succeed: no answer (Status 0, Err says why),
// or an answer whose status is not a success, with what the vendor said.
type Error struct {
	Method string
	URL    string // without credentials
	Status int    // 0: no answer
	// Code is the vendor's error code when it gave one ("HTTP 401" when not).
	Code    string
	Message string // the vendor's words, bounded
	// RequestID is the vendor's id of the request (myKaarma's apiRequestId):
	// support asks for it.
	RequestID  string
	RetryAfter time.Duration // from Retry-After; 0 = none
	Class      Class
	Kind       string // for Fatal: KindAuth, KindEndpoint, …
	Err        error  // the transport's error, when there was no answer
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Method != "" {
		b.WriteString(e.Method + " " + e.URL + ": ")
	}
	switch {
	case e.Status != 0:
		b.WriteString("HTTP " + strconv.Itoa(e.Status))
		if e.Code != "" && e.Code != "HTTP "+strconv.Itoa(e.Status) {
			b.WriteString(" " + e.Code)
		}
		if e.Message != "" {
			b.WriteString(": " + e.Message)
		}
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// VendorCode is the vendor's code, or "HTTP NNN", or the kind of transport
// failure: what a failure record shows in its code column.
func (e *Error) VendorCode() string {
	switch {
	case e.Code != "":
		return e.Code
	case e.Status != 0:
		return "HTTP " + strconv.Itoa(e.Status)
	case e.Kind != "":
		return strings.ToUpper(e.Kind)
	}
	return "TRANSPORT"
}

// ClassOf is the class of err: an *Error's, Retry for other errors (an
// unclassified failure is worth another attempt, bounded by the policy).
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Retry
}

// FromStatus builds the error for an answered request whose status is not a
// success, with the default class of that status; the vendor's client
// changes Class (and Kind) where its API means something else by it.
func FromStatus(method, url string, status int, h http.Header, code, message, requestID string, now time.Time) *Error {
	e := &Error{Method: method, URL: url, Status: status, Code: code, Message: message, RequestID: requestID}
	if code == "" {
		e.Code = "HTTP " + strconv.Itoa(status)
	}
	if h != nil {
		e.RetryAfter = ParseRetryAfter(h.Get("Retry-After"), now)
	}
	switch {
	case status == http.StatusTooManyRequests:
		e.Class = Throttled
	case status == http.StatusRequestTimeout || status >= 500:
		e.Class = Retry
	case status == http.StatusRequestEntityTooLarge:
		e.Class = TooLarge
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Class, e.Kind = Fatal, KindAuth
	default:
		e.Class = Permanent
	}
	return e
}

// FromTransport classifies a request that got no answer. DNS failures,
// refused connections and TLS failures are Fatal (every request will meet
// them; the Pacer treats them as an outage once the service has answered);
// everything else — timeouts, resets, a body cut short — is worth a retry.
func FromTransport(method, url string, err error) *Error {
	e := &Error{Method: method, URL: url, Err: err, Class: Retry}
	var dnsErr *net.DNSError
	var recErr tls.RecordHeaderError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &dnsErr) && !dnsErr.IsTimeout && !dnsErr.IsTemporary:
		e.Class, e.Kind = Fatal, KindDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Class, e.Kind = Fatal, KindRefused
	case errors.As(err, &recErr), errors.As(err, &certErr), errors.As(err, &unknownCA),
		errors.As(err, &hostErr), errors.As(err, &invalid):
		e.Class, e.Kind = Fatal, KindTLS
	}
	return e
}

// FatalError stops a run: the service answered the same fatal way Count
// times in a row. What the stopped requests carried is left unsent.
type FatalError struct {
	Service string // "sink mykaarma", "source gorgias"
	Count   int
	Last    *Error
}

func (e *FatalError) Error() string {
	what := map[string]string{
		KindAuth:     "refused the credentials",
		KindEndpoint: "has no such endpoint (check the URL)",
		KindDNS:      "cannot be found (DNS)",
		KindRefused:  "refused the connection",
		KindTLS:      "failed the TLS handshake",
		KindWrite:    "cannot write",
	}[e.Last.Kind]
	if what == "" {
		what = "answered the same fatal way"
	}
	if e.Count <= 1 {
		return fmt.Sprintf("%s %s: %v", e.Service, what, e.Last)
	}
	return fmt.Sprintf("%s %s %d times in a row: %v", e.Service, what, e.Count, e.Last)
}

func (e *FatalError) Unwrap() error { return e.Last }

// OutageError stops a run, resumably: the service failed every request for
// longer than the policy's outage bound.
type OutageError struct {
	Service string
	For     time.Duration
	Probes  int
	Last    error
}

func (e *OutageError) Error() string {
	return fmt.Sprintf("%s failed every request for %s (%d probes); last: %v", e.Service, e.For.Round(time.Second), e.Probes, e.Last)
}

func (e *OutageError) Unwrap() error { return e.Last }

// ExhaustedError is a call that used up its attempts (or its 429s in a row).
type ExhaustedError struct {
	Attempts  int
	Throttled int // 429s in a row, when that is what ran out
	Last      error
}

func (e *ExhaustedError) Error() string {
	if e.Throttled > 0 {
		return fmt.Sprintf("throttled %d times in a row: %v", e.Throttled, e.Last)
	}
	return fmt.Sprintf("gave up after %d attempts: %v", e.Attempts, e.Last)
}

func (e *ExhaustedError) Unwrap() error { return e.Last }

// ParseRetryAfter reads a Retry-After value: delta seconds or an HTTP date.
// It returns 0 for an absent or unreadable value.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs > 1e9 {
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
