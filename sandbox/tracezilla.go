package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	api "github.com/msgmigrate/msgmigrate/api/tracezilla"
)

// The readings of tracezilla's list paging (VENDORS.md, [!]): which keys a
// page carries.
const (
	// TracezillaPagingNext is the pagination page's reading: "links":
	// {first, last, next, prev} and "meta": {current_page, from, last_page,
	// path, per_page, to, total}.
	// https://tech.tracezilla.com/docs/rest-api-v1/making-requests/parameters/pagination
	TracezillaPagingNext = "next"
	// TracezillaPagingNextPage is the integration notes' and two public
	// SDKs' reading: "links.next_page", and no meta.
	TracezillaPagingNextPage = "next_page"
	// TracezillaPagingBoth carries both link keys, and meta.
	TracezillaPagingBoth = "both"
)

// TracezillaConfig configures the tracezilla messages API fake. Its zero
// value is the documented API; every other reading VENDORS.md allows, and
// the faults a run must survive, are switches.
type TracezillaConfig struct {
	Token    string
	Team     string // team slug in the path; default "demo-team"
	Messages int
	Seed     uint64
	// Paging is the reading of the paging keys: TracezillaPagingNext
	// (default), TracezillaPagingNextPage or TracezillaPagingBoth.
	Paging string
	// LinksWithoutQuery makes page links carry only ?page=N: [I] Laravel's
	// paginator (whose meta tracezilla's is) leaves the request's other
	// parameters out of its links unless told otherwise.
	LinksWithoutQuery bool
	// NextPageOrigin, when set, makes next-page links point there (another
	// host), to check the client never sends its token elsewhere.
	NextPageOrigin string
	// LostPage k > 1: page k is never served — page k-1 links to page k+1.
	LostPage int
	// PhantomMessages n: meta.total and meta.last_page count n messages
	// that no page serves (the API says more exist than can be read).
	PhantomMessages int
	// StopAt k: page k links to no next page although meta says more follow.
	StopAt int
	// RepeatPage k: page k's next link points to page k again.
	RepeatPage int
	// Churn is the fraction of pending messages that are sent (status
	// sent, updated_at now) before each page is served: messages change
	// while a run reads them, and page numbers over updated_at shift.
	Churn float64
	// NoStatus: records carry no status (seed 000's schema lists none;
	// VENDORS.md says they do). The status[eq] filter still works.
	NoStatus bool
	// HideNote: records never show sent_note (seed 000's schema lists
	// none): a mark-as-sent's note cannot be read back.
	HideNote bool
	// Wrap: a single message comes back as {"data": message} ([I]: the
	// lists are wrapped so; single resources are not documented).
	Wrap bool
	// IgnoreWrites is the fraction of PUT /sent answered 200 with the
	// message unchanged: an update the vendor silently ignored.
	IgnoreWrites float64
	Faults
}

// Tracezilla fakes GET /api/v1/{team}/messages, GET …/messages/{id} and
// PUT …/messages/{id}/sent. It does what the real API would do with a
// mark-as-sent on a pending or failed message — marks it sent — and keeps
// count of it (Damage), so tests can show a write-back never does that.
type Tracezilla struct {
	cfg   TracezillaConfig
	dice  *dice
	Stats struct {
		Requests, Faulted, Throttled, Lists, Gets, Puts, Ignored atomic.Int64
	}
	mu     sync.Mutex
	msgs   []api.Message
	notes  map[string]string
	marks  map[string]int
	damage []string
	clock  time.Time // the fake's now, for changes it makes
	rng    *rand.Rand
}

// NewTracezilla returns the fake with cfg.Messages generated messages.
func NewTracezilla(cfg TracezillaConfig) *Tracezilla {
	if cfg.Team == "" {
		cfg.Team = "demo-team"
	}
	if cfg.Paging == "" {
		cfg.Paging = TracezillaPagingNext
	}
	t := &Tracezilla{cfg: cfg, dice: newDice(cfg.Seed), rng: rand.New(rand.NewPCG(cfg.Seed, 11)),
		notes: map[string]string{}, marks: map[string]int{}}
	t.Generate(cfg.Messages, time.Date(2024, 2, 1, 7, 0, 0, 0, time.UTC))
	return t
}

// Generate adds n messages created from start on, a minute apart: about
// two in three sent, the rest pending or failed (half of the failed ones
// with the sent_at of an earlier attempt — sent_at alone does not say a
// message went out).
func (t *Tracezilla) Generate(n int, start time.Time) []api.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []api.Message
	for i := range n {
		at := start.Add(time.Duration(i) * time.Minute)
		id := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "tz-%d-%s", t.cfg.Seed, at)).String()
		partner := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "partner-%d", t.rng.IntN(20))).String()
		secret := "s3cr3t-" + id[:8]
		expires := at.Add(30 * 24 * time.Hour).Format(api.ZuluLayout)
		m := api.Message{ID: id, Subject: fmt.Sprintf("Order confirmation %d", 4000+len(t.msgs)),
			Body:           fmt.Sprintf("Dear customer,\n\nyour order %d is confirmed. Lot 24-%03d — 12 × 0,5 kg.\n", 4000+len(t.msgs), t.rng.IntN(999)),
			RecipientEmail: fmt.Sprintf("buyer%d@partner.example", t.rng.IntN(20)), RecipientPartnerID: &partner,
			SecretKey: &secret, SecretExpires: &expires, SourceModelName: "order", SourceEntityID: strconv.Itoa(4000 + len(t.msgs)),
			CreatedAt: at.Format(time.RFC3339), UpdatedAt: at.Add(30 * time.Second).Format(time.RFC3339)}
		sent := at.Add(5 * time.Second).Format(api.ZuluLayout)
		switch roll := t.rng.IntN(12); {
		case roll < 8:
			m.Status, m.SentAt = api.StatusSent, &sent
		case roll < 10:
			m.Status = api.StatusPending
		case roll == 10:
			m.Status = api.StatusFailed
		default:
			m.Status, m.SentAt = api.StatusFailed, &sent
		}
		t.msgs = append(t.msgs, m)
		out = append(out, m)
		if u := at.Add(time.Minute); u.After(t.clock) {
			t.clock = u
		}
	}
	return out
}

// Set changes the fake's configuration between runs (another reading, a
// fault on or off); requests already answering keep the one they began with.
func (t *Tracezilla) Set(f func(*TracezillaConfig)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(&t.cfg)
}

// conf is the configuration a request is answered by.
func (t *Tracezilla) conf() TracezillaConfig {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cfg
}

// Messages returns a copy of the messages, in creation order.
func (t *Tracezilla) Messages() []api.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.msgs)
}

// Message returns one message as it is now.
func (t *Tracezilla) Message(id string) (api.Message, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.find(id)
	if i < 0 {
		return api.Message{}, false
	}
	return t.msgs[i], true
}

// SetStatus changes a message's status, as tracezilla would when it sends
// one (sent, sent_at now) or learns it failed: updated_at moves on.
func (t *Tracezilla) SetStatus(id, status string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := t.find(id); i >= 0 {
		t.setStatus(i, status)
	}
}

func (t *Tracezilla) setStatus(i int, status string) {
	t.clock = t.clock.Add(time.Second)
	m := &t.msgs[i]
	if status == api.StatusSent && m.Status != api.StatusSent {
		s := t.clock.Format(api.ZuluLayout)
		m.SentAt = &s
	}
	m.Status, m.UpdatedAt = status, t.clock.Format(time.RFC3339)
}

// Remove deletes a message, as if someone removed it in the meantime.
func (t *Tracezilla) Remove(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.msgs = slices.DeleteFunc(t.msgs, func(m api.Message) bool { return m.ID == id })
}

// Sent returns the sent_at and sent_note a message shows, and how many
// times it was marked sent.
func (t *Tracezilla) Sent(id string) (sentAt, note string, times int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := t.find(id); i >= 0 && t.msgs[i].SentAt != nil {
		sentAt = *t.msgs[i].SentAt
	}
	return sentAt, t.notes[id], t.marks[id]
}

// Damage lists what marks-as-sent did beyond a note: a pending or failed
// message marked sent, a sent message's sent_at moved. A write-back must
// leave it empty.
func (t *Tracezilla) Damage() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.damage)
}

func (t *Tracezilla) find(id string) int {
	return slices.IndexFunc(t.msgs, func(m api.Message) bool { return m.ID == id })
}

// Handler serves the API below base (e.g. "/tracezilla/api/v1").
func (t *Tracezilla) Handler(base string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+base+"/{team}/messages", t.list)
	mux.HandleFunc("GET "+base+"/{team}/messages/{id}", t.get)
	mux.HandleFunc("PUT "+base+"/{team}/messages/{id}/sent", t.markSent)
	return mux
}

// admit applies the faults, the token and the team to a request; it
// reports whether the request may go on.
func (t *Tracezilla) admit(w http.ResponseWriter, r *http.Request, cfg TracezillaConfig) bool {
	t.Stats.Requests.Add(1)
	if t.dice.fault(w, r, cfg.Faults, &t.Stats.Faulted, &t.Stats.Throttled, func(status int) {
		writeJSON(w, status, api.Error{Message: http.StatusText(status)})
	}) {
		return false
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+cfg.Token)) != 1 {
		writeJSON(w, http.StatusUnauthorized, api.Error{Message: "Unauthenticated."})
		return false
	}
	if r.PathValue("team") != cfg.Team {
		writeJSON(w, http.StatusNotFound, api.Error{Message: "Team not found."})
		return false
	}
	return true
}

func invalid(w http.ResponseWriter, field, why string) {
	writeJSON(w, http.StatusUnprocessableEntity, api.Error{Message: "The given data was invalid.", Errors: map[string][]string{field: {why}}})
}

// list serves GET /messages: sortBy, sortDirection, status[eq], perPage,
// page (https://tech.tracezilla.com/docs/rest-api-v1/swagger-api-docs-mirror/messages/messages).
func (t *Tracezilla) list(w http.ResponseWriter, r *http.Request) {
	cfg := t.conf()
	if !t.admit(w, r, cfg) {
		return
	}
	t.Stats.Lists.Add(1)
	q := r.URL.Query()
	per := 25
	if v := q.Get("perPage"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 250 {
			invalid(w, "perPage", "must be between 1 and 250")
			return
		}
		per = n
	}
	sortBy := q.Get("sortBy")
	if sortBy == "" {
		sortBy = "created_at"
	}
	key := map[string]func(api.Message) string{
		"created_at": func(m api.Message) string { return m.CreatedAt },
		"updated_at": func(m api.Message) string { return m.UpdatedAt },
		"sent_at": func(m api.Message) string {
			if m.SentAt == nil {
				return ""
			}
			return *m.SentAt
		},
	}[sortBy]
	if key == nil {
		invalid(w, "sortBy", "must be sent_at, created_at or updated_at")
		return
	}
	dir := q.Get("sortDirection")
	if dir != "" && dir != "asc" && dir != "desc" {
		invalid(w, "sortDirection", "must be asc or desc")
		return
	}
	status := q.Get("status[eq]")
	if status != "" && status != api.StatusPending && status != api.StatusFailed && status != api.StatusSent {
		invalid(w, "status", "must be pending, failed or sent")
		return
	}
	page := 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			invalid(w, "page", "must be a positive whole number")
			return
		}
		page = n
	}
	t.mu.Lock()
	if cfg.Churn > 0 {
		for i := range t.msgs {
			if t.msgs[i].Status == api.StatusPending && t.dice.roll(cfg.Churn) {
				t.setStatus(i, api.StatusSent)
			}
		}
	}
	view := make([]api.Message, 0, len(t.msgs))
	for _, m := range t.msgs {
		if status == "" || m.Status == status {
			view = append(view, m)
		}
	}
	t.mu.Unlock()
	slices.SortStableFunc(view, func(a, b api.Message) int {
		c := strings.Compare(key(a), key(b))
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
		}
		if dir == "desc" {
			return -c
		}
		return c
	})
	total := len(view) + cfg.PhantomMessages
	last := max(1, (total+per-1)/per)
	from := min((page-1)*per, len(view))
	to := min(from+per, len(view))
	data := make([]json.RawMessage, 0, to-from)
	for _, m := range view[from:to] {
		data = append(data, tzRender(cfg, m))
	}
	link := func(n int) *string {
		origin := "http://" + r.Host
		if cfg.NextPageOrigin != "" {
			origin = cfg.NextPageOrigin
		}
		lq := url.Values{}
		if !cfg.LinksWithoutQuery {
			lq = r.URL.Query()
		}
		lq.Set("page", strconv.Itoa(n))
		s := origin + r.URL.Path + "?" + lq.Encode()
		return &s
	}
	var next *string
	switch {
	case page == cfg.RepeatPage:
		next = link(page)
	case page == cfg.StopAt:
	case to < len(view) && page+1 == cfg.LostPage:
		next = link(page + 2)
	case to < len(view):
		next = link(page + 1)
	}
	links := map[string]*string{}
	if cfg.Paging != TracezillaPagingNextPage {
		links["first"], links["last"], links["next"] = link(1), link(last), next
		links["prev"] = nil
		if page > 1 {
			links["prev"] = link(page - 1)
		}
	}
	if cfg.Paging != TracezillaPagingNext {
		links["next_page"] = next
	}
	out := map[string]any{"data": data, "links": links}
	if cfg.Paging != TracezillaPagingNextPage {
		meta := map[string]any{"current_page": page, "from": nil, "last_page": last, "path": "http://" + r.Host + r.URL.Path,
			"per_page": per, "to": nil, "total": total}
		if to > from {
			meta["from"], meta["to"] = from+1, to
		}
		out["meta"] = meta
	}
	t.answer(w, cfg, out)
}

// answer writes a 200, or — Garble — one cut short.
func (t *Tracezilla) answer(w http.ResponseWriter, cfg TracezillaConfig, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if t.dice.roll(cfg.Garble) {
		t.Stats.Faulted.Add(1)
		b = b[:len(b)/2]
	}
	w.Write(b)
}

// tzRender is a message as the API shows it: the readings decide whether
// status and sent_note are there.
func tzRender(cfg TracezillaConfig, m api.Message) json.RawMessage {
	b, _ := json.Marshal(m)
	if !cfg.NoStatus && !cfg.HideNote {
		return b
	}
	var obj map[string]json.RawMessage
	_ = json.Unmarshal(b, &obj)
	if cfg.NoStatus {
		delete(obj, "status")
	}
	if cfg.HideNote {
		delete(obj, "sent_note")
	}
	out, _ := json.Marshal(obj)
	return out
}

func (t *Tracezilla) writeMessage(w http.ResponseWriter, cfg TracezillaConfig, m api.Message) {
	raw := tzRender(cfg, m)
	if cfg.Wrap {
		raw, _ = json.Marshal(map[string]json.RawMessage{"data": raw})
	}
	t.answer(w, cfg, raw)
}

// get serves GET /messages/{id}.
func (t *Tracezilla) get(w http.ResponseWriter, r *http.Request) {
	cfg := t.conf()
	if !t.admit(w, r, cfg) {
		return
	}
	t.Stats.Gets.Add(1)
	m, ok := t.Message(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, api.Error{Message: "No query results for model [Message] " + r.PathValue("id")})
		return
	}
	t.writeMessage(w, cfg, m)
}

// markSent serves PUT /messages/{id}/sent (seed 000): it marks the message
// sent, whatever its status was, and answers with the message.
func (t *Tracezilla) markSent(w http.ResponseWriter, r *http.Request) {
	cfg := t.conf()
	if !t.admit(w, r, cfg) {
		return
	}
	t.Stats.Puts.Add(1)
	if !strings.HasPrefix(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusNotAcceptable, api.Error{Message: "Accept must be application/json"})
		return
	}
	var req map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		invalid(w, "body", err.Error())
		return
	}
	for k := range req {
		if k != "sent_at" && k != "sent_note" {
			invalid(w, k, "is not a field of this request")
			return
		}
	}
	var sentAt, note string
	if err := json.Unmarshal(req["sent_at"], &sentAt); err != nil || !zuluTime(sentAt) {
		invalid(w, "sent_at", "The sent at must be an ISO-8601 Zulu time stamp.")
		return
	}
	if raw, ok := req["sent_note"]; ok {
		if err := json.Unmarshal(raw, &note); err != nil {
			invalid(w, "sent_note", "must be a string")
			return
		}
	}
	id := r.PathValue("id")
	t.mu.Lock()
	i := t.find(id)
	if i < 0 {
		t.mu.Unlock()
		writeJSON(w, http.StatusNotFound, api.Error{Message: "No query results for model [Message] " + id})
		return
	}
	if t.dice.roll(cfg.IgnoreWrites) {
		m := t.msgs[i]
		t.mu.Unlock()
		t.Stats.Ignored.Add(1)
		t.writeMessage(w, cfg, m)
		return
	}
	m := &t.msgs[i]
	if m.Status != api.StatusSent {
		t.damage = append(t.damage, fmt.Sprintf("message %s: %s → sent", id, m.Status))
	} else if old, _ := api.ParseTime(*m.SentAt); !sameInstant(old, sentAt) {
		t.damage = append(t.damage, fmt.Sprintf("message %s: sent_at %s → %s", id, *m.SentAt, sentAt))
	}
	t.clock = t.clock.Add(time.Second)
	m.Status, m.SentAt, m.UpdatedAt = api.StatusSent, &sentAt, t.clock.Format(time.RFC3339)
	if !cfg.HideNote {
		m.SentNote = &note
	}
	t.notes[id] = note
	t.marks[id]++
	answer := *m
	t.mu.Unlock()
	t.writeMessage(w, cfg, answer) // Garble: stored, then the answer is cut short
}

// zuluTime: "Iso8601 ZuluString" (seed 000) — RFC 3339 in UTC, written
// with a Z; any number of fractional digits.
func zuluTime(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil && strings.HasSuffix(s, "Z")
}

func sameInstant(t time.Time, s string) bool {
	u, err := api.ParseTime(s)
	return err == nil && u.Equal(t)
}
