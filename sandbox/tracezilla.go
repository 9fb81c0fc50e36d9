package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	api "github.com/msgmigrate/msgmigrate/api/tracezilla"
)

// TracezillaConfig configures the tracezilla messages API fake.
type TracezillaConfig struct {
	Token    string
	Team     string // team slug in the path; default "demo-team"
	Messages int
	Seed     uint64
	// NextPageOrigin, when set, makes next_page links point there (another
	// host), to check the client never sends its token elsewhere.
	NextPageOrigin string
	Faults
}

// Tracezilla fakes GET /api/v1/{team}/messages with next_page links.
type Tracezilla struct {
	cfg   TracezillaConfig
	dice  *dice
	Stats struct{ Requests, Faulted, Throttled atomic.Int64 }
	mu    sync.Mutex
	msgs  []api.Message
	notes map[string]string
	marks map[string]int
	rng   *rand.Rand
}

// NewTracezilla returns the fake with cfg.Messages generated messages.
func NewTracezilla(cfg TracezillaConfig) *Tracezilla {
	if cfg.Team == "" {
		cfg.Team = "demo-team"
	}
	t := &Tracezilla{cfg: cfg, dice: newDice(cfg.Seed), rng: rand.New(rand.NewPCG(cfg.Seed, 11))}
	t.Generate(cfg.Messages, time.Date(2024, 2, 1, 7, 0, 0, 0, time.UTC))
	return t
}

// Generate adds n messages created from start on, a minute apart.
func (t *Tracezilla) Generate(n int, start time.Time) []api.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []api.Message
	for i := range n {
		at := start.Add(time.Duration(i) * time.Minute)
		id := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "tz-%d-%s", t.cfg.Seed, at)).String()
		partner := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "partner-%d", t.rng.IntN(20))).String()
		secret := "s3cr3t-" + id[:8]
		m := api.Message{ID: id, Subject: fmt.Sprintf("Order confirmation %d", 4000+len(t.msgs)),
			Body:           fmt.Sprintf("Dear customer,\n\nyour order %d is confirmed. Lot 24-%03d — 12 × 0,5 kg.\n", 4000+len(t.msgs), t.rng.IntN(999)),
			RecipientEmail: fmt.Sprintf("buyer%d@partner.example", t.rng.IntN(20)), RecipientPartnerID: &partner,
			SecretKey: &secret, SourceModelName: "order", SourceEntityID: strconv.Itoa(4000 + len(t.msgs)),
			CreatedAt: at.Format(time.RFC3339), UpdatedAt: at.Add(30 * time.Second).Format(time.RFC3339)}
		if t.rng.IntN(3) != 0 {
			sent := at.Add(5 * time.Second).Format("2006-01-02T15:04:05.000Z")
			m.SentAt = &sent
		}
		t.msgs = append(t.msgs, m)
		out = append(out, m)
	}
	return out
}

// Messages returns a copy of the messages.
func (t *Tracezilla) Messages() []api.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.msgs)
}

// Handler serves the API below base (e.g. "/tracezilla/api/v1").
func (t *Tracezilla) Handler(base string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+base+"/{team}/messages", t.list)
	mux.HandleFunc("PUT "+base+"/{team}/messages/{id}/sent", t.markSent)
	return mux
}

func (t *Tracezilla) list(w http.ResponseWriter, r *http.Request) {
	t.Stats.Requests.Add(1)
	f := t.cfg.Faults
	if t.dice.fault(w, r, f, &t.Stats.Faulted, &t.Stats.Throttled, func(status int) {
		writeJSON(w, status, api.Error{Message: http.StatusText(status)})
	}) {
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+t.cfg.Token)) != 1 {
		writeJSON(w, http.StatusUnauthorized, api.Error{Message: "Unauthenticated."})
		return
	}
	if r.PathValue("team") != t.cfg.Team {
		writeJSON(w, http.StatusNotFound, api.Error{Message: "Team not found."})
		return
	}
	q := r.URL.Query()
	per := 25
	if v := q.Get("perPage"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 250 {
			writeJSON(w, http.StatusUnprocessableEntity, api.Error{Message: "The given data was invalid.", Errors: map[string][]string{"perPage": {"must be between 1 and 250"}}})
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
		writeJSON(w, http.StatusUnprocessableEntity, api.Error{Message: "The given data was invalid.", Errors: map[string][]string{"sortBy": {"must be sent_at, created_at or updated_at"}}})
		return
	}
	desc := q.Get("sortDirection") == "desc"
	page := 1
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
		page = max(page, 1)
	}
	t.mu.Lock()
	view := slices.Clone(t.msgs)
	t.mu.Unlock()
	slices.SortStableFunc(view, func(a, b api.Message) int {
		c := strings.Compare(key(a), key(b))
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
		}
		if desc {
			return -c
		}
		return c
	})
	from := min((page-1)*per, len(view))
	to := min(from+per, len(view))
	out := api.Page{Data: make([]json.RawMessage, 0, to-from)}
	for _, m := range view[from:to] {
		b, _ := json.Marshal(m)
		out.Data = append(out.Data, b)
	}
	if to < len(view) {
		origin := "http://" + r.Host
		if t.cfg.NextPageOrigin != "" {
			origin = t.cfg.NextPageOrigin
		}
		nq := r.URL.Query()
		nq.Set("page", strconv.Itoa(page+1))
		next := origin + r.URL.Path + "?" + nq.Encode()
		out.Links.NextPage = &next
	}
	writeJSON(w, http.StatusOK, out)
}

// Sent returns the sent_at and sent_note a message was marked with.
func (t *Tracezilla) Sent(id string) (sentAt, note string, times int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.msgs {
		if m.ID == id && m.SentAt != nil {
			sentAt = *m.SentAt
		}
	}
	return sentAt, t.notes[id], t.marks[id]
}

// markSent handles PUT /{team}/messages/{id}/sent.
func (t *Tracezilla) markSent(w http.ResponseWriter, r *http.Request) {
	t.Stats.Requests.Add(1)
	if t.dice.roll(t.cfg.Faults.ServerError) {
		t.Stats.Faulted.Add(1)
		writeJSON(w, http.StatusInternalServerError, api.Error{Message: "Server Error"})
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+t.cfg.Token)) != 1 {
		writeJSON(w, http.StatusUnauthorized, api.Error{Message: "Unauthenticated."})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusNotAcceptable, api.Error{Message: "Accept must be application/json"})
		return
	}
	var req api.SentRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, api.Error{Message: "The given data was invalid.", Errors: map[string][]string{"body": {err.Error()}}})
		return
	}
	if _, err := time.Parse(api.ZuluLayout, req.SentAt); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, api.Error{Message: "The given data was invalid.",
			Errors: map[string][]string{"sent_at": {"The sent at must be an ISO-8601 Zulu time stamp."}}})
		return
	}
	id := r.PathValue("id")
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.msgs {
		if t.msgs[i].ID != id {
			continue
		}
		sent := req.SentAt
		t.msgs[i].SentAt = &sent
		if t.notes == nil {
			t.notes, t.marks = map[string]string{}, map[string]int{}
		}
		t.notes[id] = req.SentNote
		t.marks[id]++
		writeJSON(w, http.StatusOK, t.msgs[i])
		return
	}
	writeJSON(w, http.StatusNotFound, api.Error{Message: "No query results for model [Message] " + id})
}

// Remove deletes a message, as if someone removed it in the meantime.
func (t *Tracezilla) Remove(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.msgs = slices.DeleteFunc(t.msgs, func(m api.Message) bool { return m.ID == id })
}
