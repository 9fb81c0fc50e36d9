package sandbox

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	api "github.com/msgmigrate/msgmigrate/api/ezimanager"
)

// The EziManager fake follows VENDORS.md's EziManager section and the
// vendor's help pages (https://au2.ezimanager.cloud/Help/Api/…):
// POST-api-session-CreateToken, GET-api-message-id_deserialiseDocument and
// PUT-api-message-id (seed 003). What they leave open is a switch: how an
// expired session answers (EziExpiry), how the token is presented
// (TokenHeader) and comes back (TokenObject), whether the relations are
// loaded and used for updates (EziRelations), how an unset date is written
// (ZeroTimes), how a refused login answers (LoginRefusal). Where unsure it is
// stricter than the vendor: one session at a time (a login ends the one
// before), a PUT saves the whole message (a member left out is cleared), a
// documentObject sent replaces the document, unknown members and a date
// with an offset are refused, Accept must name JSON.

// EziExpiry is how the fake answers a request whose session it does not
// accept: expired, replaced by a later login, wrong, or none.
type EziExpiry int

const (
	EziExpiry401       EziExpiry = iota // 401 {"Message": …}
	EziExpiry403                        // 403 {"Message": …}
	EziExpiryRedirect                   // 302 to the site's login page
	EziExpiryLoginPage                  // 200 text/html: the login page itself
)

// EziExpiryReadings names every reading, for tests and the sandbox flag.
var EziExpiryReadings = map[string]EziExpiry{"401": EziExpiry401, "403": EziExpiry403, "redirect": EziExpiryRedirect, "login-page": EziExpiryLoginPage}

// EziRelations is what the fake does with the members the pages mark
// "Relation. This field may not always be loaded or used for updates".
type EziRelations int

const (
	EziRelationsSaved     EziRelations = iota // loaded, and a PUT saves them
	EziRelationsIgnored                       // loaded; a PUT answers 200 and keeps them as they were
	EziRelationsNotLoaded                     // read as null; a PUT keeps them as they were
)

// EziRelationsReadings names every reading.
var EziRelationsReadings = map[string]EziRelations{"saved": EziRelationsSaved, "ignored": EziRelationsIgnored, "not-loaded": EziRelationsNotLoaded}

// EziManagerConfig configures the EziManager fake.
type EziManagerConfig struct {
	Email, Password string
	Messages        int
	Seed            uint64
	// TokenUses: a session is refused after this many API requests, as
	// sessions that expire mid-run; 0 = never.
	TokenUses int
	Expiry    EziExpiry
	// TokenHeader is how the fake expects the token, "Header: prefix";
	// default api.DefaultTokenHeader.
	TokenHeader string
	// TokenObject: CreateToken answers {"token": …}, as a public connector
	// met it, instead of the JSON string the page shows.
	TokenObject bool
	Relations   EziRelations
	// ZeroTimes: a date never set (not dismissed, not snoozed) is written
	// as a .NET DateTime's default, 0001-01-01T00:00:00, not null.
	ZeroTimes bool
	// LoginRefusal is the status of a refused login; default 401.
	LoginRefusal int
	// Forbidden are messages refused to the account (403) whatever the
	// session, as a restricted integration account meets them (a public
	// connector run against a live tenant says so of endpoints it may not
	// use).
	Forbidden []string
	Faults
}

// EziManager fakes CreateToken, GET and PUT api/message/{guid}.
type EziManager struct {
	cfg   EziManagerConfig
	dice  *dice
	base  string
	Stats struct {
		Requests, Faulted, Throttled atomic.Int64
		Logins, Tokens, Refused      atomic.Int64 // CreateToken requests, tokens issued, sessions refused
		LoginsRefused                atomic.Int64 // logins refused (wrong email or password)
		Puts                         atomic.Int64 // PUTs saved
	}
	mu     sync.Mutex
	msgs   map[string]api.Message
	reads  map[string]int
	saves  map[string]int
	order  []string
	token  string
	uses   int
	rng    *rand.Rand
	header string
	prefix string
}

// NewEziManager returns the fake with cfg.Messages generated messages.
func NewEziManager(cfg EziManagerConfig) *EziManager {
	if cfg.TokenHeader == "" {
		cfg.TokenHeader = api.DefaultTokenHeader
	}
	if cfg.LoginRefusal == 0 {
		cfg.LoginRefusal = http.StatusUnauthorized
	}
	name, prefix, _ := strings.Cut(cfg.TokenHeader, ":")
	e := &EziManager{cfg: cfg, dice: newDice(cfg.Seed), msgs: map[string]api.Message{}, reads: map[string]int{}, saves: map[string]int{},
		rng: rand.New(rand.NewPCG(cfg.Seed, 17)), header: strings.TrimSpace(name), prefix: strings.TrimSpace(prefix)}
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
			Action: e.rng.IntN(3), DocumentType: "text/plain", Stores: []int{store}, StoreName: ptr(fmt.Sprintf("Store %d", store)),
			External: ptr(e.rng.IntN(5) == 0),
			Document: fmt.Sprintf("Vehicle %c%c-%03d ready for collection ✔", 'A'+rune(e.rng.IntN(26)), 'A'+rune(e.rng.IntN(26)), e.rng.IntN(1000))}
		if e.rng.IntN(4) == 0 {
			m.DocumentType, m.Document = "text/html", "<p>Quote <b>approved</b> &amp; parts ordered</p>"
		}
		if e.rng.IntN(3) == 0 {
			m.ReceivedUtc = ptr(at.Add(10*time.Minute + 1234567*time.Microsecond/10).Format(api.TimeLayout))
		}
		if e.rng.IntN(5) == 0 {
			m.RsvpUtc = ptr(at.Add(24 * time.Hour).Format(api.TimeLayout))
		}
		if e.rng.IntN(2) == 0 {
			m.Operators = []string{uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "operator-%d", e.rng.IntN(5))).String()}
			m.Users = []string{fmt.Sprintf("user%d", e.rng.IntN(5))}
		}
		if e.rng.IntN(3) == 0 {
			m.Machines = []string{fmt.Sprintf("TILL-%02d", 1+e.rng.IntN(4))}
		}
		e.msgs[m.IdentifierGUID] = m
		e.order = append(e.order, m.IdentifierGUID)
		out = append(out, m)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// IDs lists the message GUIDs in creation order.
func (e *EziManager) IDs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.order)
}

// Message returns one message as the fake holds it (every member, as if
// loaded).
func (e *EziManager) Message(id string) (api.Message, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.msgs[id]
	return m, ok
}

// Remove deletes a message: it answers 404 from then on.
func (e *EziManager) Remove(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.msgs, id)
}

// Reads is how many times a message was read (answered 200, whole).
func (e *EziManager) Reads(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reads[id]
}

// Saves is how many times a message was saved by a PUT.
func (e *EziManager) Saves(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.saves[id]
}

// EndSession ends the current session, as an expiry does: the requests
// that carry its token are refused from now on.
func (e *EziManager) EndSession() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.token = ""
}

// Handler serves the API below base (e.g. "/ezimanager").
func (e *EziManager) Handler(base string) http.Handler {
	e.base = base
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+base+"/api/session/CreateToken", e.createToken)
	mux.HandleFunc("GET "+base+"/api/message/{id}", e.get)
	mux.HandleFunc("PUT "+base+"/api/message/{id}", e.put)
	mux.HandleFunc("GET "+base+"/Account/Login", func(w http.ResponseWriter, r *http.Request) { e.loginPage(w) })
	return mux
}

func (e *EziManager) vendorError(w http.ResponseWriter) func(status int) {
	return func(status int) { writeJSON(w, status, api.Error{Message: "An error has occurred."}) }
}

// login is the Login body the page documents, every member.
type login struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	Persistent  bool   `json:"persistent"`
	Redirect    string `json:"redirect"`
	AccessToken string `json:"accessToken"`
	BrowserName string `json:"browserName"`
	BrowserID   string `json:"browserID"`
	IPAddress   string `json:"ipAddress"`
	MachineName string `json:"machineName"`
	Platform    string `json:"platform"`
}

func (e *EziManager) createToken(w http.ResponseWriter, r *http.Request) {
	e.Stats.Logins.Add(1)
	if e.dice.fault(w, r, e.cfg.Faults, &e.Stats.Faulted, &e.Stats.Throttled, e.vendorError(w)) {
		return
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		writeJSON(w, http.StatusUnsupportedMediaType, api.Error{Message: "The request entity's media type is not supported for this resource."})
		return
	}
	var req login
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Message: "The request is invalid."})
		return
	}
	if subtle.ConstantTimeCompare([]byte(req.Email), []byte(e.cfg.Email)) != 1 ||
		subtle.ConstantTimeCompare([]byte(req.Password), []byte(e.cfg.Password)) != 1 {
		e.Stats.LoginsRefused.Add(1)
		writeJSON(w, e.cfg.LoginRefusal, api.Error{Message: "Invalid email or password."})
		return
	}
	e.mu.Lock()
	e.token, e.uses = uuid.NewString(), 0
	tok := e.token
	e.mu.Unlock()
	e.Stats.Tokens.Add(1)
	if e.cfg.TokenObject {
		writeJSON(w, http.StatusOK, map[string]string{"token": tok})
		return
	}
	writeJSON(w, http.StatusOK, tok)
}

// session reports whether r carries the current session, answering the
// refusal as the configured reading when it does not.
func (e *EziManager) session(w http.ResponseWriter, r *http.Request) bool {
	got := r.Header.Get(e.header)
	e.mu.Lock()
	want := e.token
	if e.prefix != "" {
		want = e.prefix + " " + want
	}
	ok := e.token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
	if ok {
		e.uses++
		ok = e.cfg.TokenUses == 0 || e.uses <= e.cfg.TokenUses
	}
	e.mu.Unlock()
	if ok {
		return true
	}
	e.Stats.Refused.Add(1)
	switch e.cfg.Expiry {
	case EziExpiry403:
		writeJSON(w, http.StatusForbidden, api.Error{Message: "Authorization has been denied for this request."})
	case EziExpiryRedirect:
		w.Header().Set("Location", e.base+"/Account/Login?ReturnUrl="+url.QueryEscape(r.URL.RequestURI()))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusFound)
		fmt.Fprint(w, `<html><head><title>Object moved</title></head><body><h2>Object moved to <a href="/Account/Login">here</a>.</h2></body></html>`)
	case EziExpiryLoginPage:
		e.loginPage(w)
	default:
		writeJSON(w, http.StatusUnauthorized, api.Error{Message: "Authorization has been denied for this request."})
	}
	return false
}

func (e *EziManager) loginPage(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, `<!DOCTYPE html><html><head><title>Log in - EziManager</title></head><body>`+
		`<form method="post" action="/Account/Login"><input name="Email"><input name="Password" type="password"><button>Log in</button></form></body></html>`)
}

// api answers the faults and checks what every API request must carry:
// Accept naming JSON, and the session.
func (e *EziManager) api(w http.ResponseWriter, r *http.Request) bool {
	e.Stats.Requests.Add(1)
	if e.dice.fault(w, r, e.cfg.Faults, &e.Stats.Faulted, &e.Stats.Throttled, e.vendorError(w)) {
		return false
	}
	if !acceptsJSON(r.Header.Get("Accept")) {
		http.Error(w, "this fake answers JSON only: send Accept: application/json", http.StatusNotAcceptable)
		return false
	}
	return e.session(w, r)
}

func (e *EziManager) get(w http.ResponseWriter, r *http.Request) {
	if !e.api(w, r) {
		return
	}
	// The page's default is False; the fake wants it said, since true
	// would fill documentObject in.
	if r.URL.Query().Get("deserialiseDocument") != "false" {
		writeJSON(w, http.StatusBadRequest, api.Error{Message: "deserialiseDocument=false is required by this fake"})
		return
	}
	id := strings.ToLower(r.PathValue("id"))
	if _, err := uuid.Parse(id); err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Message: "The request is invalid."})
		return
	}
	if e.forbidden(w, id) {
		return
	}
	m, ok := e.Message(id)
	if !ok {
		writeJSON(w, http.StatusNotFound, api.Error{Message: "No message found with id " + id})
		return
	}
	if e.respond(w, e.render(m)) {
		e.mu.Lock()
		e.reads[id]++
		e.mu.Unlock()
	}
}

// forbidden answers 403 for a message refused to the account.
func (e *EziManager) forbidden(w http.ResponseWriter, id string) bool {
	if !slices.Contains(e.cfg.Forbidden, id) {
		return false
	}
	writeJSON(w, http.StatusForbidden, api.Error{Message: "Authorization has been denied for this request."})
	return true
}

// render is a message as GET answers it under the configured readings.
func (e *EziManager) render(m api.Message) api.Message {
	m.DocumentObject = nil
	if e.cfg.Relations == EziRelationsNotLoaded {
		m.External, m.Stores, m.StoreName, m.Operators, m.Users, m.Machines = nil, nil, nil, nil, nil, nil
	}
	if e.cfg.ZeroTimes {
		for _, t := range []**string{&m.ReceivedUtc, &m.RsvpUtc} {
			if *t == nil {
				*t = ptr("0001-01-01T00:00:00")
			}
		}
	}
	return m
}

// respond answers 200 with v, or a 200 cut short when the dice say so; it
// reports whether v went out whole.
func (e *EziManager) respond(w http.ResponseWriter, v any) bool {
	if e.dice.roll(e.cfg.Faults.Garble) {
		e.Stats.Faulted.Add(1)
		full, _ := json.Marshal(v)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		w.Write(full[:len(full)/2])
		return false
	}
	writeJSON(w, http.StatusOK, v)
	return true
}

// put saves the whole message: a member left out is cleared.
func (e *EziManager) put(w http.ResponseWriter, r *http.Request) {
	if !e.api(w, r) {
		return
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		writeJSON(w, http.StatusUnsupportedMediaType, api.Error{Message: "The request entity's media type is not supported for this resource."})
		return
	}
	id := strings.ToLower(r.PathValue("id"))
	if e.forbidden(w, id) {
		return
	}
	var m api.Message
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Message: "The request is invalid.", MessageDetail: err.Error()})
		return
	}
	switch {
	case m.IdentifierGUID != "" && !strings.EqualFold(m.IdentifierGUID, id):
		writeJSON(w, http.StatusBadRequest, api.Error{Message: "The request is invalid.", MessageDetail: "identifierGuid does not match the id in the path"})
		return
	case len([]rune(m.Sender)) > 255 || len([]rune(m.DocumentType)) > 255:
		writeJSON(w, http.StatusBadRequest, api.Error{Message: "The request is invalid.",
			ModelState: map[string][]string{"message": {"String length: inclusive between 0 and 255 (sender, documentType)"}}})
		return
	}
	for _, t := range []*string{&m.CreatedUtc, m.ReceivedUtc, m.RsvpUtc} {
		if t != nil && *t != "" {
			if _, err := time.Parse(api.TimeLayout, *t); err != nil {
				writeJSON(w, http.StatusBadRequest, api.Error{Message: "The request is invalid.", MessageDetail: "a date is written without an offset: " + *t})
				return
			}
		}
	}
	// A date a .NET DateTime holds when unset is kept as unset.
	for _, t := range []**string{&m.ReceivedUtc, &m.RsvpUtc} {
		if *t != nil && strings.HasPrefix(**t, "0001-01-01") {
			*t = nil
		}
	}
	if len(m.DocumentObject) > 0 && string(m.DocumentObject) != "null" {
		m.Document = string(m.DocumentObject) // the object wins: the document is rebuilt from it
	}
	m.DocumentObject = nil
	e.mu.Lock()
	old, ok := e.msgs[id]
	if !ok {
		e.mu.Unlock()
		writeJSON(w, http.StatusNotFound, api.Error{Message: "No message found with id " + id})
		return
	}
	m.IdentifierGUID, m.Identifier = id, old.Identifier
	if e.cfg.Relations != EziRelationsSaved {
		m.External, m.Stores, m.StoreName, m.Operators, m.Users, m.Machines = old.External, old.Stores, old.StoreName, old.Operators, old.Users, old.Machines
	}
	e.msgs[id] = m
	e.saves[id]++
	e.mu.Unlock()
	e.Stats.Puts.Add(1)
	e.respond(w, id)
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || mt == "text/json")
}

func acceptsJSON(accept string) bool {
	if accept == "" {
		return true // the framework's default formatter is JSON
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && (mt == "application/json" || mt == "text/json" || mt == "*/*" || mt == "application/*") {
			return true
		}
	}
	return false
}
