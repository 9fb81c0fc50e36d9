package gorgias

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/msgmigrate/msgmigrate/transport"
)

// DefaultWindow is how long the account's bucket takes to leak its whole
// limit: 20 s for API keys and OAuth apps, 10 s on Enterprise accounts
// (the limitations page). Assuming 20 s when it is 10 s only slows us down.
const DefaultWindow = 20 * time.Second

// Budget reads X-Gorgias-Account-Api-Call-Limit ("used/limit") on every
// answer and holds every request of its client back while the account's
// bucket is nearly full. The bucket is the account's, not the client's:
// other apps (a helpdesk integration, a background sync) spend from it too,
// so a client that only counts its own calls meets 429s it did not cause.
type Budget struct {
	// Window is how long the bucket takes to leak its limit.
	Window time.Duration
	// Reserve is how many calls stay free for the other apps; <0 means the
	// default, a tenth of the limit.
	Reserve int
	pacer   *transport.Pacer
	log     *slog.Logger
	warned  atomic.Bool
	Stats   struct {
		Answers atomic.Int64 // answers that carried the header
		Pauses  atomic.Int64 // times the budget held requests back
		Used    atomic.Int64 // the last answer's used and limit
		Limit   atomic.Int64
	}
}

// NewBudget holds pacer's requests back when the bucket is nearly full.
func NewBudget(pacer *transport.Pacer, window time.Duration, reserve int, log *slog.Logger) *Budget {
	if window <= 0 {
		window = DefaultWindow
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Budget{Window: window, Reserve: reserve, pacer: pacer, log: log}
}

// ParseCallLimit reads "used/limit".
func ParseCallLimit(v string) (used, limit int, ok bool) {
	a, b, found := strings.Cut(strings.TrimSpace(v), "/")
	if !found {
		return 0, 0, false
	}
	u, err1 := strconv.Atoi(strings.TrimSpace(a))
	l, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || l <= 0 || u < 0 {
		return 0, 0, false
	}
	return u, l, true
}

// Wait is how long to hold back after an answer reported used of limit:
// until the bucket has leaked back below limit minus the reserve, at
// limit/Window calls a second, and never longer than Window; 0 while
// there is room.
func (b *Budget) Wait(used, limit int) time.Duration {
	reserve := b.Reserve
	if reserve < 0 {
		reserve = limit / 10
	}
	over := used - (limit - reserve) + 1
	if over <= 0 {
		return 0
	}
	// The whole bucket leaks in Window: no wait is longer, whatever an
	// answer claims.
	over = min(over, limit)
	return time.Duration(over) * (b.Window / time.Duration(limit))
}

// Observe reads an answer's header and pauses the pacer if need be.
func (b *Budget) Observe(h http.Header) {
	v := h.Get(CallLimitHeader)
	if v == "" {
		return
	}
	used, limit, ok := ParseCallLimit(v)
	if !ok {
		if !b.warned.Swap(true) {
			b.log.Warn("gorgias: unreadable call-limit header; pacing by the configured rate only", "header", CallLimitHeader, "value", v)
		}
		return
	}
	b.Stats.Answers.Add(1)
	b.Stats.Used.Store(int64(used))
	b.Stats.Limit.Store(int64(limit))
	if d := b.Wait(used, limit); d > 0 {
		b.Stats.Pauses.Add(1)
		b.pacer.Pause(d)
		b.log.Debug("gorgias: the account's call budget is nearly used (other apps share it): holding back", "used", used, "limit", limit, "for", d)
	}
}

// RoundTripper observes every answer that passes through next.
func (b *Budget) RoundTripper(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &budgetTransport{next: next, b: b}
}

type budgetTransport struct {
	next http.RoundTripper
	b    *Budget
}

func (t *budgetTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if resp != nil {
		t.b.Observe(resp.Header)
	}
	return resp, err
}

// CloseIdleConnections passes through, so http.Client.CloseIdleConnections
// still reaches the connections.
func (t *budgetTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
