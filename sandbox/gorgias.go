package sandbox

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/msgmigrate/msgmigrate/api/gorgias"
)

// GorgiasConfig configures the Gorgias messages API fake.
type GorgiasConfig struct {
	Email, APIKey string
	// The leaky bucket: BucketSize requests, leaking LeakPerSecond; the
	// vendor's is 40 per 20 s (2 a second) for API keys.
	BucketSize    int
	LeakPerSecond float64
	CursorTTL     time.Duration // cursors expire; 0 = 10 minutes
	Messages      int           // generated at start
	Seed          uint64
	Faults
}

// Gorgias fakes GET /api/messages with cursor pagination and the account's
// leaky-bucket rate limit.
type Gorgias struct {
	cfg    GorgiasConfig
	dice   *dice
	bucket *bucket
	Stats  struct {
		Requests, Throttled, Faulted atomic.Int64
		LastAt                       atomic.Int64 // unix nanoseconds of the last request
	}
	mu      sync.Mutex
	expired time.Time     // cursors issued before this are expired
	msgs    []api.Message // by created_datetime, then id
	updates map[int64][]json.RawMessage
	next    int64
	rng     *rand.Rand
}

// NewGorgias returns the fake, seeded with cfg.Messages messages.
func NewGorgias(cfg GorgiasConfig) *Gorgias {
	if cfg.BucketSize <= 0 {
		cfg.BucketSize = 40
	}
	if cfg.LeakPerSecond <= 0 {
		cfg.LeakPerSecond = 2
	}
	if cfg.CursorTTL <= 0 {
		cfg.CursorTTL = 10 * time.Minute
	}
	g := &Gorgias{cfg: cfg, dice: newDice(cfg.Seed), bucket: newBucket(cfg.LeakPerSecond, float64(cfg.BucketSize)),
		next: 1000, rng: rand.New(rand.NewPCG(cfg.Seed, 7))}
	g.Generate(cfg.Messages, time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC))
	return g
}

// Generate appends n realistic messages created from start on, a minute
// apart, with the edge cases a migration meets: HTML-only bodies, internal
// notes, attachments, null send times, emoji and right-to-left text.
func (g *Gorgias) Generate(n int, start time.Time) []api.Message {
	g.mu.Lock()
	defer g.mu.Unlock()
	channels := []string{"email", "email", "chat", "sms", "phone", "internal-note", "facebook-messenger"}
	bodies := []string{"Where is my order #%d?", "Thanks! 👍 Order %d arrived", "مرحبا، الطلب %d", "Refund for %d please\nBest,\nAna"}
	var out []api.Message
	for i := range n {
		g.next++
		id := g.next
		ch := channels[g.rng.IntN(len(channels))]
		agent := g.rng.IntN(2) == 0
		created := start.Add(time.Duration(i) * time.Minute)
		m := api.Message{ID: id, TicketID: 5000 + id/3, Channel: ch, Via: "api", FromAgent: agent,
			CreatedDatetime: created.Format("2006-01-02T15:04:05.000000Z07:00")}
		customer := &api.Party{ID: 700 + id%25, Email: fmt.Sprintf("customer%d@example.com", id%25), Name: "Customer"}
		agentP := &api.Party{ID: 9, Email: "agent@shop.example", Name: "Agent"}
		if agent {
			m.Sender, m.Receiver = agentP, customer
		} else {
			m.Sender, m.Receiver = customer, agentP
		}
		body := fmt.Sprintf(bodies[g.rng.IntN(len(bodies))], id)
		switch g.rng.IntN(5) {
		case 0:
			html := "<p>" + strings.ReplaceAll(body, "\n", "<br>") + "</p>"
			m.BodyHTML = &html
		default:
			m.BodyText = &body
		}
		if g.rng.IntN(4) != 0 {
			sent := created.Add(2 * time.Second).Format(time.RFC3339)
			m.SentDatetime = &sent
		}
		if ch == "email" {
			subj := fmt.Sprintf("Order %d", id)
			m.Subject = &subj
		}
		if g.rng.IntN(6) == 0 {
			m.Attachments = []api.Attachment{{URL: fmt.Sprintf("https://files.example.com/%d.pdf", id), Name: "invoice.pdf", ContentType: "application/pdf", Size: 1234}}
		}
		g.msgs = append(g.msgs, m)
		out = append(out, m)
	}
	return out
}

// ExpireCursors makes every cursor issued so far expired, as the vendor's
// short-lived cursors are for a slow client.
func (g *Gorgias) ExpireCursors() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expired = time.Now().Add(time.Nanosecond)
}

// Messages returns a copy of the messages the fake serves.
func (g *Gorgias) Messages() []api.Message {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.msgs)
}

// Count is how many messages the fake holds.
func (g *Gorgias) Count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.msgs)
}

// Handler serves the API below base (e.g. "/gorgias/api").
func (g *Gorgias) Handler(base string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+base+"/messages", g.list)
	mux.HandleFunc("PUT "+base+"/tickets/{ticket_id}/messages/{id}", g.update)
	mux.HandleFunc(base+"/", func(w http.ResponseWriter, r *http.Request) {
		gorgiasError(w, http.StatusNotFound, "not found: "+r.URL.Path)
	})
	return mux
}

type gorgiasCursor struct {
	Pos    int       `json:"p"`
	Desc   bool      `json:"d"`
	Issued time.Time `json:"t"`
}

func (g *Gorgias) list(w http.ResponseWriter, r *http.Request) {
	g.Stats.Requests.Add(1)
	g.Stats.LastAt.Store(time.Now().UnixNano())
	f := g.cfg.Faults
	// The leaky bucket counts every request, and every answer says how full
	// it is.
	ok, wait := g.bucket.take(time.Now())
	used := g.cfg.BucketSize - int(g.bucket.level())
	w.Header().Set(api.CallLimitHeader, fmt.Sprintf("%d/%d", used, g.cfg.BucketSize))
	if !ok {
		g.Stats.Throttled.Add(1)
		w.Header().Set("Retry-after", retryAfterValue(wait))
		gorgiasError(w, http.StatusTooManyRequests, "API rate limit exceeded")
		return
	}
	if g.dice.fault(w, r, f, &g.Stats.Faulted, &g.Stats.Throttled, func(status int) {
		gorgiasError(w, status, http.StatusText(status))
	}) {
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(g.cfg.Email)) != 1 ||
		subtle.ConstantTimeCompare([]byte(pass), []byte(g.cfg.APIKey)) != 1 {
		gorgiasError(w, http.StatusUnauthorized, "invalid credentials")
		return
	}
	q := r.URL.Query()
	limit := 30
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			gorgiasError(w, http.StatusBadRequest, "limit must be between 1 and 100")
			return
		}
		limit = n
	}
	desc := false
	switch q.Get("order_by") {
	case "", "created_datetime:asc":
	case "created_datetime:desc":
		desc = true
	default:
		gorgiasError(w, http.StatusBadRequest, "order_by must be created_datetime:asc or created_datetime:desc")
		return
	}
	pos := 0
	if c := q.Get("cursor"); c != "" {
		cur, err := decodeCursor(c)
		if err != nil {
			gorgiasError(w, http.StatusBadRequest, "invalid cursor")
			return
		}
		g.mu.Lock()
		cut := g.expired
		g.mu.Unlock()
		if time.Since(cur.Issued) > g.cfg.CursorTTL || cur.Issued.Before(cut) {
			gorgiasError(w, http.StatusBadRequest, "cursor expired")
			return
		}
		if cur.Desc != desc {
			gorgiasError(w, http.StatusBadRequest, "cursor does not match order_by")
			return
		}
		pos = cur.Pos
	}
	var ticket int64
	if v := q.Get("ticket_id"); v != "" {
		ticket, _ = strconv.ParseInt(v, 10, 64)
	}
	g.mu.Lock()
	view := g.msgs
	if ticket != 0 {
		view = slices.DeleteFunc(slices.Clone(view), func(m api.Message) bool { return m.TicketID != ticket })
	}
	if desc {
		view = slices.Clone(view)
		slices.Reverse(view)
	}
	end := min(pos+limit, len(view))
	page := api.Page{Object: "list", Data: make([]json.RawMessage, 0, max(end-pos, 0))}
	for _, m := range view[min(pos, len(view)):end] {
		b, _ := json.Marshal(m)
		page.Data = append(page.Data, b)
	}
	total := len(view)
	g.mu.Unlock()
	if pos > 0 {
		p := encodeCursor(gorgiasCursor{Pos: max(pos-limit, 0), Desc: desc, Issued: time.Now()})
		page.Meta.PrevCursor = &p
	}
	if end < total {
		n := encodeCursor(gorgiasCursor{Pos: end, Desc: desc, Issued: time.Now()})
		page.Meta.NextCursor = &n
	}
	writeJSON(w, http.StatusOK, page)
}

func encodeCursor(c gorgiasCursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (gorgiasCursor, error) {
	var c gorgiasCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(b, &c)
}

func gorgiasError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, api.Error{Error: msg})
}

// Updates returns the bodies PUT for a message, in order.
func (g *Gorgias) Updates(id int64) []json.RawMessage {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.updates[id])
}

// Message returns one message as it is now.
func (g *Gorgias) Message(id int64) (api.Message, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.msgs {
		if m.ID == id {
			return m, true
		}
	}
	return api.Message{}, false
}

// update handles PUT /api/tickets/{ticket_id}/messages/{id}.
func (g *Gorgias) update(w http.ResponseWriter, r *http.Request) {
	g.Stats.Requests.Add(1)
	ok, wait := g.bucket.take(time.Now())
	if !ok {
		g.Stats.Throttled.Add(1)
		w.Header().Set("Retry-after", retryAfterValue(wait))
		gorgiasError(w, http.StatusTooManyRequests, "API rate limit exceeded")
		return
	}
	if g.dice.roll(g.cfg.Faults.ServerError) {
		g.Stats.Faulted.Add(1)
		gorgiasError(w, http.StatusServiceUnavailable, "service unavailable")
		return
	}
	user, pass, authed := r.BasicAuth()
	if !authed || subtle.ConstantTimeCompare([]byte(user), []byte(g.cfg.Email)) != 1 ||
		subtle.ConstantTimeCompare([]byte(pass), []byte(g.cfg.APIKey)) != 1 {
		gorgiasError(w, http.StatusUnauthorized, "invalid credentials")
		return
	}
	if a := r.URL.Query().Get("action"); a != "" && !slices.Contains(api.Actions, a) {
		gorgiasError(w, http.StatusBadRequest, "action must be force, retry or cancel")
		return
	}
	ticket, err1 := strconv.ParseInt(r.PathValue("ticket_id"), 10, 64)
	id, err2 := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err1 != nil || err2 != nil {
		gorgiasError(w, http.StatusBadRequest, "ticket_id and id must be integers")
		return
	}
	var body struct {
		Channel    *string `json:"channel"`
		Via        *string `json:"via"`
		FromAgent  *bool   `json:"from_agent"`
		ExternalID *string `json:"external_id"`
		BodyText   *string `json:"body_text"`
		BodyHTML   *string `json:"body_html"`
		Subject    *string `json:"subject"`
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(raw, &body); err != nil {
		gorgiasError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return
	}
	switch {
	case body.Channel == nil || body.Via == nil || body.FromAgent == nil:
		gorgiasError(w, http.StatusBadRequest, "channel, via and from_agent are required")
		return
	case !slices.Contains(api.Channels, *body.Channel):
		gorgiasError(w, http.StatusBadRequest, "channel: invalid value "+*body.Channel)
		return
	case body.ExternalID != nil && len([]rune(*body.ExternalID)) > 255:
		gorgiasError(w, http.StatusBadRequest, "external_id: at most 255 characters")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.msgs {
		m := &g.msgs[i]
		if m.ID != id || m.TicketID != ticket {
			continue
		}
		m.Channel, m.Via, m.FromAgent = *body.Channel, *body.Via, *body.FromAgent
		if body.ExternalID != nil {
			m.ExternalID = body.ExternalID
		}
		if body.BodyText != nil {
			m.BodyText = body.BodyText
		}
		if body.BodyHTML != nil {
			m.BodyHTML = body.BodyHTML
		}
		if body.Subject != nil {
			m.Subject = body.Subject
		}
		if g.updates == nil {
			g.updates = map[int64][]json.RawMessage{}
		}
		g.updates[id] = append(g.updates[id], raw)
		writeJSON(w, http.StatusOK, m)
		return
	}
	gorgiasError(w, http.StatusNotFound, fmt.Sprintf("message %d of ticket %d not found", id, ticket))
}
