package sandbox

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
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

// GorgiasUpdate is a reading of the update endpoint, whose semantics the
// vendor does not document (VENDORS.md [!]).
type GorgiasUpdate string

const (
	// GorgiasPartial: only the fields sent change.
	GorgiasPartial GorgiasUpdate = "partial"
	// GorgiasReplace: the body replaces the message's writable fields;
	// those not sent are cleared — sent_datetime and the bodies included.
	GorgiasReplace GorgiasUpdate = "replace"
)

// GorgiasConfig configures the Gorgias messages API fake. It follows
// VENDORS.md and the vendor's pages cited in api/gorgias, and where they
// are silent it is stricter than the vendor is likely to be.
type GorgiasConfig struct {
	Email, APIKey string
	AccessToken   string // an OAuth2 token accepted as Bearer, besides Basic
	// The account's leaky bucket: BucketSize calls, leaking LeakPerSecond;
	// the vendor's is 40 per 20 s (2 a second) for API keys.
	BucketSize    int
	LeakPerSecond float64
	// OtherApps is how many calls a second other apps of the account spend
	// from the same bucket (a helpdesk integration, a background sync): the
	// call-limit header counts them, and a client that counts only its own
	// calls meets 429s.
	OtherApps float64
	// OtherAppsUsed is how many calls other apps have in the bucket when
	// the fake starts.
	OtherAppsUsed int
	CursorTTL     time.Duration // cursors expire; 0 = 10 minutes
	// ExpiredCursor is how a refused cursor is answered: 400 (default), or
	// 404, 410, 422 — the vendor does not document it.
	ExpiredCursor int
	// Update picks the update's reading: GorgiasPartial (default) or
	// GorgiasReplace.
	Update GorgiasUpdate
	// NoEcho makes the update answer {} instead of the updated message, so
	// that a client must read the message back to verify.
	NoEcho bool
	// Ignore is the fraction of updates answered 200 and not applied.
	Ignore   float64
	Messages int // generated at start
	Seed     uint64
	Faults
}

// GorgiasStats count what the fake saw and did.
type GorgiasStats struct {
	Requests, Throttled, Faulted atomic.Int64
	LastAt                       atomic.Int64 // unix nanoseconds of the last request
	Updates                      atomic.Int64 // updates applied
	Ignored                      atomic.Int64 // updates answered 200 and not applied
	// Sends and Deletes: what a migration must never cause. An update that
	// leaves sent_datetime out ("If omitted, the message will be sent by
	// Gorgias", seed 001) or asks ?action=force|retry sends the message;
	// ?action=cancel deletes it.
	Sends, Deletes atomic.Int64
}

// Gorgias fakes the messages API: GET /api/messages (cursors, the account's
// leaky bucket), GET and PUT /api/tickets/{ticket_id}/messages/{id}.
type Gorgias struct {
	cfg     GorgiasConfig
	dice    *dice
	bucket  *leakyBucket
	Stats   GorgiasStats
	mu      sync.Mutex
	expired time.Time     // cursors issued before this are expired
	msgs    []api.Message // by created_datetime (the instant), then id
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
	if cfg.ExpiredCursor == 0 {
		cfg.ExpiredCursor = http.StatusBadRequest
	}
	if cfg.Update == "" {
		cfg.Update = GorgiasPartial
	}
	g := &Gorgias{cfg: cfg, dice: newDice(cfg.Seed),
		bucket: &leakyBucket{size: float64(cfg.BucketSize), leak: cfg.LeakPerSecond, other: cfg.OtherApps,
			level: float64(min(cfg.OtherAppsUsed, cfg.BucketSize))},
		next: 1000, rng: rand.New(rand.NewPCG(cfg.Seed, 7)), updates: map[int64][]json.RawMessage{}}
	g.Generate(cfg.Messages, time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC))
	return g
}

// gorgiasLayouts are the datetime layouts the fake writes, one per message
// in turn: the API's own examples carry fractions and +00:00 (events) or
// no offset at all (the ticket object); peers met a space instead of T.
var gorgiasLayouts = []string{
	"2006-01-02T15:04:05.000000+00:00",
	"2006-01-02T15:04:05.999999",
	"2006-01-02T15:04:05+00:00",
	"2006-01-02 15:04:05.000000+00:00",
}

// gorgiasCanonical is how the fake writes a datetime it was sent.
const gorgiasCanonical = "2006-01-02T15:04:05.000000+00:00"

// NewChannel is a channel the API did not have when api.Channels was
// written: channels are an open set.
const NewChannel = "tiktok-shop"

// Generate appends n messages created from start on, a minute apart, with
// what a migration meets, at fixed places (by id % 20): an internal note on
// its own channel (3), a note on the email channel (7: public false on a
// public channel), a deleted message (11), a message that failed to send
// and has no sent_datetime (13), a channel newer than the client (17), an
// external_id another integration wrote (19), HTML-only bodies (5); and at
// random: channels, directions, emoji and right-to-left text, attachments.
// Datetimes rotate through gorgiasLayouts.
func (g *Gorgias) Generate(n int, start time.Time) []api.Message {
	g.mu.Lock()
	defer g.mu.Unlock()
	channels := []string{"email", "email", "chat", "sms", "phone", "facebook-messenger", "instagram-direct-message", "whatsapp"}
	bodies := []string{"Where is my order #%d?", "Thanks! 👍 Order %d arrived", "مرحبا، الطلب %d", "Refund for %d please\nBest,\nAna"}
	agent := &api.Party{ID: 9, Email: "agent@shop.example", Name: "Agent"}
	var out []api.Message
	for i := range n {
		g.next++
		id := g.next
		layout := gorgiasLayouts[id%int64(len(gorgiasLayouts))]
		at := func(t time.Time) *string { s := t.UTC().Format(layout); return &s }
		created := start.Add(time.Duration(i) * time.Minute)
		m := api.Message{ID: id, TicketID: 5000 + id/3, Public: true, Channel: channels[g.rng.IntN(len(channels))], Via: "api",
			FromAgent: g.rng.IntN(2) == 0, CreatedDatetime: *at(created), SentDatetime: at(created.Add(2 * time.Second))}
		customer := &api.Party{ID: 700 + id%25, Email: fmt.Sprintf("customer%d@example.com", id%25), Name: "Customer"}
		body := fmt.Sprintf(bodies[g.rng.IntN(len(bodies))], id)
		m.BodyText = &body
		switch id % 20 {
		case 3:
			m.Channel, m.Via, m.Public, m.FromAgent = "internal-note", "helpdesk", false, true
		case 7:
			m.Channel, m.Via, m.Public, m.FromAgent = "email", "helpdesk", false, true
		case 5:
			html := "<p>" + strings.ReplaceAll(body, "\n", "<br>") + "</p>"
			m.BodyText, m.BodyHTML = nil, &html
		case 11:
			m.DeletedDatetime = at(created.Add(time.Hour))
		case 13:
			m.FromAgent, m.SentDatetime, m.FailedDatetime = true, nil, at(created.Add(5*time.Second))
		case 17:
			m.Channel = NewChannel
		case 19:
			m.Channel, m.Via = "phone", "aircall"
			ext := fmt.Sprintf("aircall-call-%d", 90000+id)
			m.ExternalID = &ext
		}
		if m.FromAgent {
			m.Sender, m.Receiver = agent, customer
		} else {
			m.Sender, m.Receiver = customer, agent
		}
		if m.Channel == "email" {
			subj := fmt.Sprintf("Order %d", id)
			m.Subject = &subj
		}
		if g.rng.IntN(6) == 0 {
			m.Attachments = []api.Attachment{{URL: fmt.Sprintf("https://files.example.com/%d.pdf", id), Name: "invoice.pdf", ContentType: "application/pdf", Size: 1234}}
		}
		g.msgs = append(g.msgs, m)
		out = append(out, m)
	}
	slices.SortStableFunc(g.msgs, func(a, b api.Message) int {
		if c := gorgiasInstant(a.CreatedDatetime).Compare(gorgiasInstant(b.CreatedDatetime)); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	return out
}

func gorgiasInstant(s string) time.Time {
	t, _ := api.ParseTime(s)
	return t
}

// ExpireCursors makes every cursor issued so far expired, as the vendor's
// short-lived cursors are for a slow client.
func (g *Gorgias) ExpireCursors() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expired = time.Now().Add(time.Nanosecond)
}

// Messages returns a copy of the messages the fake holds, deleted ones
// included, in the listing's order.
func (g *Gorgias) Messages() []api.Message {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.msgs)
}

// Count is how many messages the fake holds, deleted ones included.
func (g *Gorgias) Count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.msgs)
}

// Message returns one message as it is now.
func (g *Gorgias) Message(id int64) (api.Message, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := g.find(id); i >= 0 {
		return g.msgs[i], true
	}
	return api.Message{}, false
}

// Updates returns the bodies of the updates applied to a message, in order.
func (g *Gorgias) Updates(id int64) []json.RawMessage {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.updates[id])
}

// SetExternalID sets a message's external_id as another integration would.
func (g *Gorgias) SetExternalID(id int64, v string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := g.find(id); i >= 0 {
		g.msgs[i].ExternalID = &v
	}
}

func (g *Gorgias) find(id int64) int {
	return slices.IndexFunc(g.msgs, func(m api.Message) bool { return m.ID == id })
}

// Handler serves the API below base (e.g. "/gorgias/api").
func (g *Gorgias) Handler(base string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+base+"/messages", g.list)
	mux.HandleFunc("GET "+base+"/tickets/{ticket_id}/messages/{id}", g.get)
	mux.HandleFunc("PUT "+base+"/tickets/{ticket_id}/messages/{id}", g.update)
	mux.HandleFunc(base+"/", func(w http.ResponseWriter, r *http.Request) {
		gorgiasError(w, http.StatusNotFound, "not found: "+r.URL.Path)
	})
	return mux
}

// enter does what every request meets first: the account's bucket (every
// answer says how full it is; over it, 429 with Retry-after), the faults,
// the credentials. It reports whether the request may go on.
func (g *Gorgias) enter(w http.ResponseWriter, r *http.Request) bool {
	g.Stats.Requests.Add(1)
	g.Stats.LastAt.Store(time.Now().UnixNano())
	ok, used, wait := g.bucket.take(time.Now())
	w.Header().Set(api.CallLimitHeader, fmt.Sprintf("%d/%d", used, g.cfg.BucketSize))
	if !ok {
		g.Stats.Throttled.Add(1)
		// Spelled as the limitations page spells it.
		w.Header()["Retry-after"] = []string{retryAfterValue(wait)}
		gorgiasError(w, http.StatusTooManyRequests, "API rate limit exceeded")
		return false
	}
	if g.dice.fault(w, r, g.cfg.Faults, &g.Stats.Faulted, &g.Stats.Throttled, func(status int) {
		gorgiasError(w, status, http.StatusText(status))
	}) {
		return false
	}
	if !g.authorized(r) {
		gorgiasError(w, http.StatusUnauthorized, "invalid credentials")
		return false
	}
	return true
}

func (g *Gorgias) authorized(r *http.Request) bool {
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return g.cfg.AccessToken != "" && eq(tok, g.cfg.AccessToken)
	}
	user, pass, ok := r.BasicAuth()
	return ok && eq(user, g.cfg.Email) && eq(pass, g.cfg.APIKey)
}

// answer writes a 200, or — a garbled answer — its first half.
func (g *Gorgias) answer(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	if g.dice.roll(g.cfg.Garble) {
		g.Stats.Faulted.Add(1)
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		return
	}
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// gorgiasCursor is keyset-based: the page after (created, id) in order.
type gorgiasCursor struct {
	After  int64     `json:"a"` // unix nanoseconds
	ID     int64     `json:"i"`
	Desc   bool      `json:"d"`
	Ticket int64     `json:"k"`
	Issued time.Time `json:"t"`
}

func (g *Gorgias) list(w http.ResponseWriter, r *http.Request) {
	if !g.enter(w, r) {
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
	var ticket int64
	if v := q.Get("ticket_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			gorgiasError(w, http.StatusBadRequest, "ticket_id must be an integer")
			return
		}
		ticket = n
	}
	var after *gorgiasCursor
	if c := q.Get("cursor"); c != "" {
		cur, err := decodeGorgiasCursor(c)
		if err != nil {
			gorgiasError(w, http.StatusBadRequest, "invalid cursor")
			return
		}
		g.mu.Lock()
		cut := g.expired
		g.mu.Unlock()
		if time.Since(cur.Issued) > g.cfg.CursorTTL || cur.Issued.Before(cut) {
			gorgiasError(w, g.cfg.ExpiredCursor, "cursor expired")
			return
		}
		if cur.Desc != desc || cur.Ticket != ticket {
			gorgiasError(w, http.StatusBadRequest, "the cursor does not belong to this listing")
			return
		}
		after = &cur
	}
	g.mu.Lock()
	var page []api.Message
	more := false
	order := func(i int) int { // the i-th message in the listing's order
		if desc {
			return len(g.msgs) - 1 - i
		}
		return i
	}
	for i := range g.msgs {
		m := g.msgs[order(i)]
		if ticket != 0 && m.TicketID != ticket {
			continue
		}
		if after != nil {
			c := gorgiasInstant(m.CreatedDatetime).Compare(time.Unix(0, after.After))
			if c == 0 {
				c = cmpInt(m.ID, after.ID)
			}
			if (c <= 0) != desc || c == 0 {
				continue
			}
		}
		if len(page) == limit {
			more = true
			break
		}
		page = append(page, m)
	}
	g.mu.Unlock()
	out := api.Page{Object: "list", Data: make([]json.RawMessage, 0, len(page))}
	for _, m := range page {
		b, _ := json.Marshal(m)
		out.Data = append(out.Data, b)
	}
	if more {
		last := page[len(page)-1]
		n := encodeGorgiasCursor(gorgiasCursor{After: gorgiasInstant(last.CreatedDatetime).UnixNano(), ID: last.ID, Desc: desc, Ticket: ticket, Issued: time.Now()})
		out.Meta.NextCursor = &n
	}
	if after != nil {
		p := encodeGorgiasCursor(gorgiasCursor{After: after.After, ID: after.ID, Desc: !desc, Ticket: ticket, Issued: time.Now()})
		out.Meta.PrevCursor = &p
	}
	g.answer(w, out)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func encodeGorgiasCursor(c gorgiasCursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeGorgiasCursor(s string) (gorgiasCursor, error) {
	var c gorgiasCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(b, &c)
}

// gorgiasError answers in the vendor's words: {"error": "…"}.
func gorgiasError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// gorgiasFieldErrors answers a 400 in the vendor's other shape:
// {"error": {"msg": "…", "data": {field: [problems]}}}.
func gorgiasFieldErrors(w http.ResponseWriter, field, problem string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{
		"msg": "Invalid request", "data": map[string][]string{field: {problem}}}})
}

// route finds the message a path names: its index, or -1 after answering.
func (g *Gorgias) route(w http.ResponseWriter, r *http.Request) int {
	ticket, err1 := strconv.ParseInt(r.PathValue("ticket_id"), 10, 64)
	id, err2 := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err1 != nil || err2 != nil {
		gorgiasError(w, http.StatusBadRequest, "ticket_id and id must be integers")
		return -1
	}
	i := g.find(id)
	if i < 0 || g.msgs[i].TicketID != ticket {
		gorgiasError(w, http.StatusNotFound, fmt.Sprintf("message %d of ticket %d not found", id, ticket))
		return -1
	}
	return i
}

// get handles GET /api/tickets/{ticket_id}/messages/{id}.
func (g *Gorgias) get(w http.ResponseWriter, r *http.Request) {
	if !g.enter(w, r) {
		return
	}
	g.mu.Lock()
	i := g.route(w, r)
	var m api.Message
	if i >= 0 {
		m = g.msgs[i]
	}
	g.mu.Unlock()
	if i >= 0 {
		g.answer(w, m)
	}
}

// update handles PUT /api/tickets/{ticket_id}/messages/{id} (seed 001),
// strictly: only the writable fields, channel, via and from_agent required,
// a channel the API does not know refused unless it is the message's own;
// an update without sent_datetime sends the message, ?action=force|retry
// sends it and cancel deletes it — all counted, for tests to assert none.
func (g *Gorgias) update(w http.ResponseWriter, r *http.Request) {
	if !g.enter(w, r) {
		return
	}
	action := r.URL.Query().Get("action")
	if action != "" && action != "force" && action != "retry" && action != "cancel" {
		gorgiasError(w, http.StatusBadRequest, "action must be force, retry or cancel")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil || body == nil {
		gorgiasError(w, http.StatusBadRequest, "the body must be a JSON object")
		return
	}
	for k := range body {
		if !slices.Contains(api.Writable, k) {
			gorgiasFieldErrors(w, k, "Unknown field.")
			return
		}
	}
	var channel, via string
	var fromAgent bool
	switch {
	case json.Unmarshal(body["channel"], &channel) != nil || channel == "":
		gorgiasFieldErrors(w, "channel", "Missing data for required field.")
		return
	case json.Unmarshal(body["via"], &via) != nil || via == "":
		gorgiasFieldErrors(w, "via", "Missing data for required field.")
		return
	case json.Unmarshal(body["from_agent"], &fromAgent) != nil:
		gorgiasFieldErrors(w, "from_agent", "Missing data for required field.")
		return
	}
	for _, f := range api.Datetimes {
		if v, ok := body[f]; ok && string(v) != "null" {
			var s string
			if json.Unmarshal(v, &s) != nil {
				gorgiasFieldErrors(w, f, "Not a valid datetime.")
				return
			}
			t, err := api.ParseTime(s)
			if err != nil {
				gorgiasFieldErrors(w, f, "Not a valid datetime.")
				return
			}
			body[f], _ = json.Marshal(t.UTC().Format(gorgiasCanonical))
		}
	}
	if v, ok := body["external_id"]; ok {
		var s string
		if json.Unmarshal(v, &s) == nil && len([]rune(s)) > 255 {
			gorgiasFieldErrors(w, "external_id", "Longer than maximum length 255.")
			return
		}
	}
	g.mu.Lock()
	i := g.route(w, r)
	if i < 0 {
		g.mu.Unlock()
		return
	}
	cur := &g.msgs[i]
	if channel != cur.Channel && !slices.Contains(api.Channels, channel) {
		g.mu.Unlock()
		gorgiasFieldErrors(w, "channel", "Must be one of the channels the account supports.")
		return
	}
	if g.dice.roll(g.cfg.Ignore) {
		g.Stats.Ignored.Add(1)
		m := *cur
		g.mu.Unlock()
		g.echo(w, m)
		return
	}
	next, err := g.apply(*cur, body)
	if err != nil {
		g.mu.Unlock()
		gorgiasError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := time.Now().UTC().Format(gorgiasCanonical)
	if v := body["sent_datetime"]; v == nil || string(v) == "null" || action == "force" || action == "retry" {
		// "If omitted, the message will be sent by Gorgias" (seed 001):
		// read strictly, whatever the message's sent_datetime was.
		g.Stats.Sends.Add(1)
		next.SentDatetime = &now
	}
	if action == "cancel" {
		g.Stats.Deletes.Add(1)
		next.DeletedDatetime = &now
	}
	*cur = next
	g.updates[next.ID] = append(g.updates[next.ID], raw)
	g.Stats.Updates.Add(1)
	g.mu.Unlock()
	if g.dice.roll(g.cfg.Drop) {
		g.Stats.Faulted.Add(1)
		drop(w) // applied, but the answer is lost
		return
	}
	g.echo(w, next)
}

func (g *Gorgias) echo(w http.ResponseWriter, m api.Message) {
	if g.cfg.NoEcho {
		g.answer(w, map[string]any{})
		return
	}
	g.answer(w, m)
}

// apply lays body over m: under GorgiasReplace the writable fields not
// sent are cleared first.
func (g *Gorgias) apply(m api.Message, body map[string]json.RawMessage) (api.Message, error) {
	b, _ := json.Marshal(m)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return m, err
	}
	if g.cfg.Update == GorgiasReplace {
		for _, f := range api.Writable {
			delete(fields, f)
		}
	}
	for k, v := range body {
		fields[k] = v
	}
	b, _ = json.Marshal(fields)
	var out api.Message
	if err := json.Unmarshal(b, &out); err != nil {
		return m, fmt.Errorf("invalid field types: %v", err)
	}
	return out, nil
}

// leakyBucket is the account's call budget: level calls in it, leaking at
// leak a second; other apps add other a second.
type leakyBucket struct {
	mu                sync.Mutex
	size, leak, other float64
	level             float64
	last              time.Time
}

// take adds a call, or says how long until one fits; used is the level the
// header reports.
func (b *leakyBucket) take(now time.Time) (ok bool, used int, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		dt := now.Sub(b.last).Seconds()
		b.level = math.Min(b.size, math.Max(0, b.level+(b.other-b.leak)*dt))
	}
	b.last = now
	if b.level+1 > b.size+1e-9 {
		room := math.Max(b.leak-b.other, b.leak/20)
		return false, int(math.Ceil(b.level - 1e-9)), time.Duration((b.level + 1 - b.size) / room * float64(time.Second))
	}
	b.level++
	return true, int(math.Ceil(b.level - 1e-9)), 0
}
