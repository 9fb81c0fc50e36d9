// Package transport is the one way msgmigrate talks HTTP to a vendor, for
// sources and sinks alike (rclone's fshttp, pacer and fserrors in one):
//
//   - Client makes one request: credentials, no redirects (they would carry
//     the credentials elsewhere), the answer read whole within a bound, the
//     vendor's error body decoded into an *Error that says what to do next.
//   - Pacer owns everything between requests: the shared rate, the pause every
//     worker takes on a 429 (Retry-After, seconds or HTTP date, capped), backoff
//     with jitter, a bounded number of attempts, the circuit that pauses every
//     worker and probes while a service fails every request (and gives up after
//     a bounded outage), and fail-fast on answers that every request will get
//     (bad credentials, a wrong URL, DNS, a refused connection, TLS).
//
// Callers decide by errors.As on *Error (its Class), *FatalError, *OutageError
// and *ExhaustedError — never by an error's text.
package transport
