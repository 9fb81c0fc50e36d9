package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/msgmigrate/msgmigrate/api/superoffice"
)

// SuperOfficeConfig configures the SuperOffice TicketMessage fake.
type SuperOfficeConfig struct {
	Tenant   string // CustNNNNN; default Cust12345
	Token    string // Bearer
	Ticket   string // SOTicket, with AppToken
	AppToken string
	Messages int
	Seed     uint64
	Faults
}

// SuperOffice fakes GET /{tenant}/api/v1/TicketMessage (OData) and the
// state endpoint.
type SuperOffice struct {
	cfg      SuperOfficeConfig
	dice     *dice
	Stats    struct{ Requests, Faulted, Throttled, Sends atomic.Int64 }
	mu       sync.Mutex
	rows     []api.Row
	entities map[int64]map[string]any
	saves    map[int64]int
	next     int64
	rng      *rand.Rand
}

// NewSuperOffice returns the fake with cfg.Messages generated rows.
func NewSuperOffice(cfg SuperOfficeConfig) *SuperOffice {
	if cfg.Tenant == "" {
		cfg.Tenant = "Cust12345"
	}
	s := &SuperOffice{cfg: cfg, dice: newDice(cfg.Seed), next: 800, rng: rand.New(rand.NewPCG(cfg.Seed, 13))}
	s.Generate(cfg.Messages, time.Date(2024, 3, 4, 8, 30, 0, 0, time.UTC))
	return s
}

// Generate adds n rows created from start on, a minute apart.
func (s *SuperOffice) Generate(n int, start time.Time) []api.Row {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []api.Row
	for i := range n {
		s.next++
		at := start.Add(time.Duration(i) * time.Minute)
		p := s.rng.IntN(30)
		r := api.Row{ID: s.next, TicketID: 300 + s.next/4, CreatedAt: at.Format("2006-01-02T15:04:05.0000000Z07:00"),
			Slevel: "External", Type: "Plain", MessageCategory: "Message", SearchTitle: fmt.Sprintf("Service visit %d", 300+s.next/4)}
		if s.rng.IntN(2) == 0 {
			r.Author = fmt.Sprintf("person%d@customer.example", p)
			r.PersonID, r.PersonEmail, r.PersonFullName = int64(5000+p), r.Author, fmt.Sprintf("Person %d", p)
			r.Body = fmt.Sprintf("Hello,\nmy car (VIN …%04d) makes a noise. Can you look at it? 🚙", s.next)
		} else {
			r.Author, r.CreatedBy = "Service desk", 17
			r.PersonID, r.PersonEmail = int64(5000+p), fmt.Sprintf("person%d@customer.example", p)
			r.Body = fmt.Sprintf("Dear customer, your appointment %d is confirmed.", s.next)
			if s.rng.IntN(3) == 0 {
				r.Type, r.HTMLBody = "Html", "<p>"+r.Body+"</p>"
			}
		}
		if s.rng.IntN(10) == 0 {
			r.Slevel = "Internal"
		}
		s.rows = append(s.rows, r)
		out = append(out, r)
	}
	return out
}

// Rows returns a copy of the rows.
func (s *SuperOffice) Rows() []api.Row {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rows)
}

// Handler serves the fake below prefix (e.g. "/superoffice").
func (s *SuperOffice) Handler(prefix string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix+"/api/state/{tenant}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("tenant") != s.cfg.Tenant {
			writeJSON(w, http.StatusNotFound, api.Error{Error: "Unknown tenant"})
			return
		}
		writeJSON(w, http.StatusOK, api.State{Endpoint: "http://" + r.Host + prefix + "/" + s.cfg.Tenant, State: "Running", IsRunning: true,
			ValidUntil: time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	})
	mux.HandleFunc("GET "+prefix+"/{tenant}/api/v1/TicketMessage", s.list)
	mux.HandleFunc("GET "+prefix+"/{tenant}/api/v1/TicketMessage/{id}", s.getEntity)
	mux.HandleFunc("PUT "+prefix+"/{tenant}/api/v1/TicketMessage/{id}", s.putEntity)
	mux.HandleFunc("POST "+prefix+"/{tenant}/api/v1/TicketMessage/{id}/Send", func(w http.ResponseWriter, r *http.Request) {
		s.Stats.Sends.Add(1) // a migration must never get here
		writeJSON(w, http.StatusForbidden, api.Error{Error: "sandbox: /Send would really send the message"})
	})
	return mux
}

var afterRE = regexp.MustCompile(`^\s*(\w+)\s+(after|before)\s+'([^']+)'\s*$`)

func (s *SuperOffice) authorized(r *http.Request) bool {
	a := r.Header.Get("Authorization")
	if s.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(a), []byte("Bearer "+s.cfg.Token)) == 1 {
		return true
	}
	return s.cfg.Ticket != "" && subtle.ConstantTimeCompare([]byte(a), []byte("SOTicket "+s.cfg.Ticket)) == 1 &&
		subtle.ConstantTimeCompare([]byte(r.Header.Get("SO-AppToken")), []byte(s.cfg.AppToken)) == 1
}

func (s *SuperOffice) list(w http.ResponseWriter, r *http.Request) {
	s.Stats.Requests.Add(1)
	f := s.cfg.Faults
	if s.dice.fault(w, r, f, &s.Stats.Faulted, &s.Stats.Throttled, func(status int) {
		writeJSON(w, status, api.Error{Error: http.StatusText(status)})
	}) {
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeJSON(w, http.StatusUnauthorized, api.Error{Error: "Unauthorized", Message: "Invalid ticket or token"})
		return
	}
	if r.PathValue("tenant") != s.cfg.Tenant {
		writeJSON(w, http.StatusNotFound, api.Error{Error: "Unknown tenant"})
		return
	}
	q := r.URL.Query()
	top, skip := 100, 0
	var err error
	if v := q.Get("$top"); v != "" {
		if top, err = strconv.Atoi(v); err != nil || top < 1 || top > 1000 {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "$top must be 1..1000"})
			return
		}
	}
	if v := q.Get("$skip"); v != "" {
		if skip, err = strconv.Atoi(v); err != nil || skip < 0 {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "$skip must be a number"})
			return
		}
	}
	rows := s.Rows()
	if fl := q.Get("$filter"); fl != "" {
		m := afterRE.FindStringSubmatch(fl)
		if m == nil || m[1] != "createdAt" {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "unsupported $filter: " + fl})
			return
		}
		t, err := time.Parse(time.RFC3339Nano, m[3])
		if err != nil {
			if t, err = time.Parse("2006-01-02", m[3]); err != nil {
				writeJSON(w, http.StatusBadRequest, api.Error{Error: "bad date in $filter: " + m[3]})
				return
			}
		}
		rows = slices.DeleteFunc(rows, func(r api.Row) bool {
			c, _ := time.Parse(time.RFC3339Nano, r.CreatedAt)
			if m[2] == "after" {
				return !c.After(t)
			}
			return !c.Before(t)
		})
	}
	switch ob := q.Get("$orderBy"); ob {
	case "", "createdAt", "createdAt asc":
	case "createdAt desc":
		slices.Reverse(rows)
	default:
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "unsupported $orderBy: " + ob})
		return
	}
	var sel []string
	if v := q.Get("$select"); v != "" {
		sel = strings.Split(v, ",")
		for i := range sel {
			sel[i] = strings.TrimSpace(sel[i])
			if !slices.Contains(api.Columns, sel[i]) {
				writeJSON(w, http.StatusBadRequest, api.Error{Error: "unknown column in $select: " + sel[i]})
				return
			}
		}
	}
	from, to := min(skip, len(rows)), min(skip+top, len(rows))
	page := api.Page{Value: make([]json.RawMessage, 0, to-from)}
	for _, row := range rows[from:to] {
		b, _ := json.Marshal(row)
		if sel != nil {
			var all map[string]any
			_ = json.Unmarshal(b, &all)
			picked := map[string]any{}
			for _, c := range sel {
				if v, ok := all[c]; ok {
					picked[c] = v
				}
			}
			b, _ = json.Marshal(picked)
		}
		page.Value = append(page.Value, b)
	}
	if to < len(rows) {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("$skip", strconv.Itoa(to))
		page.NextLink = "http://" + r.Host + r.URL.Path + "?" + nq.Encode()
	}
	writeJSON(w, http.StatusOK, page)
}

// Entity returns a message as the entity API shows it, and how many times it
// was saved.
func (s *SuperOffice) Entity(id int64) (map[string]any, int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entities[id]
	if !ok {
		for _, r := range s.rows {
			if r.ID == id {
				return entityOf(r), 0, true
			}
		}
		return nil, 0, false
	}
	return e, s.saves[id], true
}

func entityOf(r api.Row) map[string]any {
	return map[string]any{"EjMessageId": r.ID, "CreatedAt": r.CreatedAt, "Author": r.Author, "Slevel": r.Slevel,
		"Type": r.Type, "Body": r.Body, "HtmlBody": r.HTMLBody, "MessageCategory": r.MessageCategory,
		"Important": r.Important, "SearchTitle": r.SearchTitle, "CustomFields": map[string]any{}}
}

// getEntity handles GET /{tenant}/api/v1/TicketMessage/{id}.
func (s *SuperOffice) getEntity(w http.ResponseWriter, r *http.Request) {
	s.Stats.Requests.Add(1)
	if !s.authorized(r) {
		writeJSON(w, http.StatusUnauthorized, api.Error{Error: "Unauthorized"})
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	e, _, ok := s.Entity(id)
	if !ok {
		writeJSON(w, http.StatusNotFound, api.Error{Error: "Not Found", Message: fmt.Sprintf("TicketMessage %d does not exist", id)})
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// putEntity handles PUT /{tenant}/api/v1/TicketMessage/{id}?notify=….
func (s *SuperOffice) putEntity(w http.ResponseWriter, r *http.Request) {
	s.Stats.Requests.Add(1)
	if s.dice.roll(s.cfg.Faults.ServerError) {
		s.Stats.Faulted.Add(1)
		writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "Service Unavailable"})
		return
	}
	if !s.authorized(r) {
		writeJSON(w, http.StatusUnauthorized, api.Error{Error: "Unauthorized"})
		return
	}
	if strings.EqualFold(r.URL.Query().Get("notify"), "true") {
		// Allowed by the vendor, refused here: a migration must never notify.
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "Bad request", Message: "sandbox: notify=true would notify users"})
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if _, _, ok := s.Entity(id); !ok {
		writeJSON(w, http.StatusNotFound, api.Error{Error: "Not Found", Message: fmt.Sprintf("TicketMessage %d does not exist", id)})
		return
	}
	var e map[string]any
	if err := json.NewDecoder(r.Body).Decode(&e); err != nil || e == nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "Bad request", Message: "Entity to save is not in request body."})
		return
	}
	for field, allowed := range map[string][]string{"Slevel": api.Slevels, "Type": api.Types, "MessageCategory": api.Categories} {
		if v, ok := e[field]; ok && v != nil {
			name, isText := v.(string)
			if !isText || !slices.Contains(allowed, name) {
				writeJSON(w, http.StatusBadRequest, api.Error{Error: "Bad request", Message: fmt.Sprintf("%s %v is not one of %v", field, v, allowed)})
				return
			}
		}
	}
	if v, ok := e["EjMessageId"]; ok {
		if n, isNum := v.(float64); !isNum || int64(n) != id {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "Bad request", Message: "EjMessageId does not match the id in the path"})
			return
		}
	}
	s.mu.Lock()
	if s.entities == nil {
		s.entities, s.saves = map[int64]map[string]any{}, map[int64]int{}
	}
	s.entities[id] = e
	s.saves[id]++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, e)
}
