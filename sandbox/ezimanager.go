package sandbox

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	api "github.com/msgmigrate/msgmigrate/api/ezimanager"
)

// EziManagerConfig configures the EziManager message API fake.
type EziManagerConfig struct {
	Email, Password string
	Messages        int
	Seed            uint64
	// TokenUses, when set, expires a token after that many requests, as
	// sessions do.
	TokenUses int
	Faults
}

// EziManager fakes CreateToken and GET api/message/{guid}.
type EziManager struct {
	cfg   EziManagerConfig
	dice  *dice
	Stats struct{ Requests, Faulted, Throttled, Tokens atomic.Int64 }
	mu    sync.Mutex
	msgs  map[string]api.Message
	saves map[string]int
	order []string
	token string
	uses  int
	rng   *rand.Rand
}

// NewEziManager returns the fake with cfg.Messages generated messages.
func NewEziManager(cfg EziManagerConfig) *EziManager {
	e := &EziManager{cfg: cfg, dice: newDice(cfg.Seed), msgs: map[string]api.Message{}, rng: rand.New(rand.NewPCG(cfg.Seed, 17))}
	e.Generate(cfg.Messages, time.Date(2024, 4, 2, 6, 0, 0, 0, time.UTC))
	return e
}

// Generate adds n messages created from start on, a minute apart.
func (e *EziManager) Generate(n int, start time.Time) []api.Message {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []api.Message
	for i := range n {
		id := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "ezi-%d-%d-%d", e.cfg.Seed, len(e.order), start.Unix()))
		at := start.Add(time.Duration(i) * time.Minute)
		store := 10 + e.rng.IntN(4)
		m := api.Message{Identifier: base64.StdEncoding.EncodeToString(id[:]), IdentifierGUID: id.String(),
			Priority: 1 + e.rng.IntN(3), CreatedUtc: at.Format(api.TimeLayout), Sender: fmt.Sprintf("Workshop bay %d", 1+e.rng.IntN(6)),
			Action: e.rng.IntN(3), DocumentType: "text/plain", Stores: []int{store}, StoreName: fmt.Sprintf("Store %d", store),
			Document: fmt.Sprintf("Vehicle %c%c-%03d ready for collection ✔", 'A'+rune(e.rng.IntN(26)), 'A'+rune(e.rng.IntN(26)), e.rng.IntN(1000))}
		if e.rng.IntN(4) == 0 {
			m.DocumentType, m.Document = "text/html", "<p>Quote <b>approved</b> &amp; parts ordered</p>"
		}
		if e.rng.IntN(3) == 0 {
			d := at.Add(10 * time.Minute).Format(api.TimeLayout)
			m.ReceivedUtc = &d
		}
		e.msgs[m.IdentifierGUID] = m
		e.order = append(e.order, m.IdentifierGUID)
		out = append(out, m)
	}
	return out
}

// IDs lists the message GUIDs in creation order.
func (e *EziManager) IDs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.order)
}

// Message returns one message.
func (e *EziManager) Message(id string) (api.Message, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.msgs[id]
	return m, ok
}

// Handler serves the API below base (e.g. "/ezimanager").
func (e *EziManager) Handler(base string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+base+"/api/session/CreateToken", e.createToken)
	mux.HandleFunc("GET "+base+"/api/message/{id}", e.get)
	mux.HandleFunc("PUT "+base+"/api/message/{id}", e.put)
	return mux
}

func (e *EziManager) createToken(w http.ResponseWriter, r *http.Request) {
	var req api.TokenRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Message: "The request is invalid."})
		return
	}
	if subtle.ConstantTimeCompare([]byte(req.Email), []byte(e.cfg.Email)) != 1 ||
		subtle.ConstantTimeCompare([]byte(req.Password), []byte(e.cfg.Password)) != 1 {
		writeJSON(w, http.StatusUnauthorized, api.Error{Message: "Invalid email or password."})
		return
	}
	e.mu.Lock()
	e.token, e.uses = uuid.NewString(), 0
	tok := e.token
	e.mu.Unlock()
	e.Stats.Tokens.Add(1)
	writeJSON(w, http.StatusOK, tok)
}

func (e *EziManager) get(w http.ResponseWriter, r *http.Request) {
	e.Stats.Requests.Add(1)
	f := e.cfg.Faults
	if e.dice.fault(w, r, f, &e.Stats.Faulted, &e.Stats.Throttled, func(status int) {
		writeJSON(w, status, api.Error{Message: "An error has occurred."})
	}) {
		return
	}
	e.mu.Lock()
	tok := e.token
	e.uses++
	expired := e.cfg.TokenUses > 0 && e.uses > e.cfg.TokenUses
	e.mu.Unlock()
	got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok == "" || expired || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
		writeJSON(w, http.StatusUnauthorized, api.Error{Message: "Authorization has been denied for this request."})
		return
	}
	if r.URL.Query().Get("deserialiseDocument") != "false" {
		writeJSON(w, http.StatusBadRequest, api.Error{Message: "deserialiseDocument=false is required by this fake"})
		return
	}
	id := strings.ToLower(r.PathValue("id"))
	if _, err := uuid.Parse(id); err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Message: "The request is invalid."})
		return
	}
	m, ok := e.Message(id)
	if !ok {
		writeJSON(w, http.StatusNotFound, api.Error{Message: "No message found with id " + id})
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// Saves returns how many times a message was saved.
func (e *EziManager) Saves(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.saves[id]
}

// put handles PUT api/message/{id}.
func (e *EziManager) put(w http.ResponseWriter, r *http.Request) {
	e.Stats.Requests.Add(1)
	if e.dice.roll(e.cfg.Faults.ServerError) {
		e.Stats.Faulted.Add(1)
		writeJSON(w, http.StatusInternalServerError, api.Error{Message: "An error has occurred."})
		return
	}
	e.mu.Lock()
	tok := e.token
	e.mu.Unlock()
	got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok == "" || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
		writeJSON(w, http.StatusUnauthorized, api.Error{Message: "Authorization has been denied for this request."})
		return
	}
	id := strings.ToLower(r.PathValue("id"))
	var m api.Message
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Message: "The request is invalid: " + err.Error()})
		return
	}
	switch {
	case m.IdentifierGUID != "" && !strings.EqualFold(m.IdentifierGUID, id):
		writeJSON(w, http.StatusBadRequest, api.Error{Message: "identifierGuid does not match the id in the path"})
		return
	case len([]rune(m.Sender)) > 255 || len([]rune(m.DocumentType)) > 255:
		writeJSON(w, http.StatusBadRequest, api.Error{Message: "The request is invalid: sender and documentType hold at most 255 characters"})
		return
	}
	for _, t := range []*string{&m.CreatedUtc, m.ReceivedUtc, m.RsvpUtc} {
		if t != nil && *t != "" {
			if _, err := time.Parse(api.TimeLayout, *t); err != nil {
				writeJSON(w, http.StatusBadRequest, api.Error{Message: "The request is invalid: times are written without an offset: " + *t})
				return
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.msgs[id]; !ok {
		writeJSON(w, http.StatusNotFound, api.Error{Message: "No message found with id " + id})
		return
	}
	m.IdentifierGUID = id
	e.msgs[id] = m
	if e.saves == nil {
		e.saves = map[string]int{}
	}
	e.saves[id]++
	writeJSON(w, http.StatusOK, id)
}
