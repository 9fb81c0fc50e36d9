package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/msgmigrate/msgmigrate/api/superoffice"
)

// The SuperOffice fake follows VENDORS.md's SuperOffice section and the
// vendor's pages it cites (SuperOfficeDocs/superoffice-docs):
//   - the TicketMessage archive and its columns: docs/en/api/archive-providers/reference/ticketmessage.md;
//   - dates, SO-TimeZone and includeTZOffset, Accept-Language, If-Unmodified-Since:
//     the "Headers" page (uid webapi_headers) and the time-zone page;
//   - the entity, PATCH (merge patch, 412) and PUT (whole entity, notify):
//     reference/restful/rest/TicketMessage/v1TicketMessageEntity_*.md and seed 004;
//   - tokens: docs/en/authentication/online/api.md (refresh grant).
// Where the pages leave a reading open, a switch picks it, and where unsure
// the fake is stricter than the vendor (a literal with an offset in $filter,
// an unknown column or property, a JSON Patch array: 400).

// SODates is how the fake writes date-times.
type SODates int

const (
	// SODatesOffset honours SO-TimeZone; includeTZOffset adds the offset
	// as the headers page writes it: -0500, no colon.
	SODatesOffset SODates = iota
	// SODatesColon honours both, writing +01:00 and seven fraction digits
	// as the entity samples do.
	SODatesColon
	// SODatesNoOffset converts to the asked zone but never writes an offset.
	SODatesNoOffset
	// SODatesIgnored ignores SO-TimeZone: the base zone, no offset.
	SODatesIgnored
)

// SODatesReadings names every reading, for tests and the sandbox flag.
var SODatesReadings = map[string]SODates{"offset": SODatesOffset, "colon": SODatesColon, "no-offset": SODatesNoOffset, "ignored": SODatesIgnored}

// SOLanguage is how list values (slevel) come back.
type SOLanguage int

const (
	// SOLanguageHonoured: Accept-Language translates; without it, the
	// multi-language string.
	SOLanguageHonoured SOLanguage = iota
	// SOLanguageLower: translated, in lower case.
	SOLanguageLower
	// SOLanguageRaw: never translated (NO:"Intern";US:"Internal").
	SOLanguageRaw
)

// SOIncoming is the CreatedBy an incoming message's entity carries.
type SOIncoming int

const (
	SOIncomingNull   SOIncoming = iota // null
	SOIncomingZero                     // an associate with id 0
	SOIncomingSystem                   // the system user
)

// SuperOfficeConfig configures the SuperOffice fake.
type SuperOfficeConfig struct {
	Tenant   string // CustNNNNN; default Cust12345
	Token    string // Bearer
	Ticket   string // SOTicket, with AppToken
	AppToken string
	// ClientID, ClientSecret and RefreshToken make the token endpoint
	// issue new access tokens (the refresh grant).
	ClientID, ClientSecret, RefreshToken string
	// TokenUses: an access token is refused (401) after this many API
	// requests; 0 = never.
	TokenUses int
	Messages  int
	Seed      uint64
	// BaseZone is the tenant's base time zone (IANA); default Europe/Oslo.
	BaseZone string
	Dates    SODates
	Language SOLanguage
	Incoming SOIncoming
	// RepliesNamePerson: an outgoing message's entity names the person it
	// went to (the pages say Person is for incoming messages; unsure).
	RepliesNamePerson bool
	MaxTop            int // the largest page served, whatever $top asks; default 500
	// Every archive request after a listing's first adds Shift messages
	// created before the rows already served (later rows move forward:
	// $skip repeats), deletes Delete of the rows already served (later
	// rows move back: $skip skips), and adds Grow new messages at the end.
	Shift, Delete, Grow int
	// LoopNextLink: odata.nextLink points at the page it came with.
	LoopNextLink bool
	// IgnoreUnmodifiedSince: no 412, ever (the headers page says the
	// header applies to entities with a last-modified field; the
	// TicketMessageEntity has none).
	IgnoreUnmodifiedSince bool
	// ConcurrentEdits is the fraction of entity reads after which an agent
	// changes the message (its TimeSpent and Badge).
	ConcurrentEdits float64
	// CustomFields are the tenant's custom fields on ticket messages
	// (default x_mykaarma_message_id); a write to any other is ignored.
	CustomFields []string
	// EchoIgnored: the PATCH answer shows custom fields it ignored.
	EchoIgnored bool
	// Vanished are messages deleted after they were listed: their entity
	// answers 404.
	Vanished []int64
	Faults
}

// SuperOfficeMessage is a message as the fake holds it.
type SuperOfficeMessage struct {
	ID, TicketID   int64
	CreatedAt      string // RFC 3339, UTC
	Created        time.Time
	Author         string
	Slevel         string // Unknown | Internal | External
	Type           string
	Body, HTMLBody string
	Category       string
	SearchTitle    string
	MessageID      string
	Important      bool
	PersonID       int64 // 0: none
	PersonName     string
	AssociateID    int64 // 0: none
	AssociateName  string
	TicketPersonID int64
	TicketTitle    string
	// Direction is who wrote it: api.Internal, Outgoing, Incoming, Automatic.
	Direction string
	Deleted   bool

	custom   map[string]any
	extra    map[string]any // the entity's other properties (TimeSpent, Badge, …)
	modified time.Time      // by the fake's clock
	saves    int
	edited   bool
}

// SuperOffice fakes a tenant's TicketMessage archive and entity, the state
// endpoint and the token endpoint.
type SuperOffice struct {
	cfg   SuperOfficeConfig
	base  *time.Location
	dice  *dice
	Stats struct {
		Requests, Faulted, Throttled, Sends, Puts, Patches, Conflicts, Tokens, Refused atomic.Int64
		Pages, Entities                                                                atomic.Int64
	}
	mu       sync.Mutex
	msgs     []*SuperOfficeMessage // in creation order, deleted ones included
	byID     map[int64]*SuperOfficeMessage
	next     int64
	rng      *rand.Rand
	clock    int64 // the fake's time, unix seconds: it ticks a second a request
	tokens   map[string]int
	issued   int
	listings int
}

// soZones are the /api/v1/timezone archive's codes and ids the fake knows
// (the time-zone page's table).
var soZones = map[string]string{
	"UTC": "UTC", "1": "UTC", "NO": "Europe/Oslo", "261": "Europe/Oslo", "DK": "Europe/Copenhagen", "140": "Europe/Copenhagen",
	"FR": "Europe/Paris", "156": "Europe/Paris", "US-NY": "America/New_York", "460": "America/New_York",
	"US-CA": "America/Los_Angeles", "425": "America/Los_Angeles", "US-HI": "Pacific/Honolulu", "433": "Pacific/Honolulu",
}

// NewSuperOffice returns the fake with cfg.Messages generated messages.
func NewSuperOffice(cfg SuperOfficeConfig) *SuperOffice {
	if cfg.Tenant == "" {
		cfg.Tenant = "Cust12345"
	}
	if cfg.BaseZone == "" {
		cfg.BaseZone = "Europe/Oslo"
	}
	if cfg.MaxTop == 0 {
		cfg.MaxTop = 500
	}
	if cfg.CustomFields == nil {
		cfg.CustomFields = []string{"x_mykaarma_message_id"}
	}
	base, err := time.LoadLocation(cfg.BaseZone)
	if err != nil {
		panic(fmt.Sprintf("sandbox: superoffice base zone %q: %v", cfg.BaseZone, err))
	}
	s := &SuperOffice{cfg: cfg, base: base, dice: newDice(cfg.Seed), next: 800, rng: rand.New(rand.NewPCG(cfg.Seed, 13)),
		byID: map[int64]*SuperOfficeMessage{}, tokens: map[string]int{}, clock: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC).Unix()}
	s.Generate(cfg.Messages, time.Date(2024, 3, 4, 8, 30, 0, 0, time.UTC))
	return s
}

// Generate adds n messages created from start on, three a minute (so that
// some share their createdAt).
func (s *SuperOffice) Generate(n int, start time.Time) []SuperOfficeMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SuperOfficeMessage
	for i := range n {
		m := s.newMessage(start.Add(time.Duration(i/3) * time.Minute))
		out = append(out, *m)
	}
	return out
}

// newMessage makes and stores a message; s.mu is held.
func (s *SuperOffice) newMessage(at time.Time) *SuperOfficeMessage {
	s.next++
	id := s.next
	m := &SuperOfficeMessage{ID: id, TicketID: 300 + id/4, Created: at.UTC().Truncate(time.Second), Slevel: "External", Type: "Plain",
		Category: "Message", SearchTitle: fmt.Sprintf("Service visit %d", 300+id/4), TicketTitle: fmt.Sprintf("Service visit %d", 300+id/4),
		MessageID: fmt.Sprintf("<%d@tenant.example>", id), TicketPersonID: int64(5000 + (300+id/4)%30),
		custom: map[string]any{}, extra: map[string]any{"TimeSpent": int64(0), "Badge": "None", "Language": "en"}}
	m.CreatedAt = m.Created.Format(time.RFC3339)
	switch r := s.rng.IntN(100); {
	case r < 45:
		m.Direction = api.Incoming
		m.PersonID, m.PersonName = m.TicketPersonID, fmt.Sprintf("Person %d", m.TicketPersonID-5000)
		m.Author = fmt.Sprintf("person%d@customer.example", m.TicketPersonID-5000)
		m.Body = fmt.Sprintf("Hello,\nmy car (VIN …%04d) makes a noise. Can you look at it? 🚙", id)
	case r < 90:
		m.Direction = api.Outgoing
		m.AssociateID, m.AssociateName, m.Author = 17, "Service desk", "Service desk"
		m.Body = fmt.Sprintf("Dear customer, your appointment %d is confirmed.", id)
		if s.rng.IntN(3) == 0 {
			m.Type, m.HTMLBody = "Html", "<p>"+m.Body+"</p>"
		}
	case r < 97:
		m.Direction = api.Internal
		m.Slevel = "Internal"
		m.AssociateID, m.AssociateName, m.Author = 23, "Workshop", "Workshop"
		m.Body = fmt.Sprintf("Internal: parts for %d ordered; customer was rude.", id)
	default:
		m.Direction = api.Automatic
		m.Author = "SuperOffice"
		m.Body = "We received your request and will answer soon."
	}
	m.modified = s.now()
	s.msgs = append(s.msgs, m)
	s.byID[id] = m
	return m
}

// now is the fake's clock; tick moves it a second on.
func (s *SuperOffice) now() time.Time { return time.Unix(s.clock, 0).UTC() }
func (s *SuperOffice) tick() time.Time {
	s.clock++
	return s.now()
}

// Rows returns the messages that exist, in creation order.
func (s *SuperOffice) Rows() []SuperOfficeMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SuperOfficeMessage
	for _, m := range s.msgs {
		if !m.Deleted {
			out = append(out, *m)
		}
	}
	return out
}

// Ever returns every message the fake ever had, deleted ones included.
func (s *SuperOffice) Ever() []SuperOfficeMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SuperOfficeMessage, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = *m
	}
	return out
}

// Entity returns a message's entity (dates in UTC), how many times it was
// saved, and whether it exists.
func (s *SuperOffice) Entity(id int64) (map[string]any, int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.byID[id]
	if !ok || m.Deleted {
		return nil, 0, false
	}
	e := s.entity(m, render{zone: time.UTC, offset: true, language: true})
	b, _ := json.Marshal(e)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out, m.saves, true
}

// Edited reports whether an agent changed the message meanwhile
// (ConcurrentEdits).
func (s *SuperOffice) Edited(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.byID[id]
	return ok && m.edited
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
			ValidUntil: time.Now().Add(time.Hour).UTC().Format(time.RFC3339), Api: "http://" + r.Host + prefix + "/" + s.cfg.Tenant + "/api"})
	})
	mux.HandleFunc("POST "+prefix+"/login/common/oauth/tokens", s.tokenEndpoint)
	mux.HandleFunc("GET "+prefix+"/{tenant}/api/v1/TicketMessage", s.guard(s.list))
	mux.HandleFunc("GET "+prefix+"/{tenant}/api/v1/TicketMessage/{id}", s.guard(s.getEntity))
	mux.HandleFunc("PATCH "+prefix+"/{tenant}/api/v1/TicketMessage/{id}", s.guard(s.patchEntity))
	mux.HandleFunc("PUT "+prefix+"/{tenant}/api/v1/TicketMessage/{id}", s.guard(s.putEntity))
	mux.HandleFunc("POST "+prefix+"/{tenant}/api/v1/TicketMessage/{id}/Send", func(w http.ResponseWriter, r *http.Request) {
		s.Stats.Sends.Add(1) // a migration must never get here
		writeJSON(w, http.StatusForbidden, api.Error{Error: "sandbox: /Send would really send the message"})
	})
	return mux
}

// guard counts the request, draws its fault, checks the tenant and the
// credentials, and dates the answer by the fake's clock.
func (s *SuperOffice) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.Stats.Requests.Add(1)
		s.mu.Lock()
		w.Header().Set("Date", s.tick().Format(http.TimeFormat))
		s.mu.Unlock()
		if s.dice.fault(w, r, s.cfg.Faults, &s.Stats.Faulted, &s.Stats.Throttled, func(status int) {
			writeJSON(w, status, api.Error{Error: http.StatusText(status)})
		}) {
			return
		}
		if r.PathValue("tenant") != s.cfg.Tenant {
			writeJSON(w, http.StatusNotFound, api.Error{Error: "Unknown tenant"})
			return
		}
		if !s.authorized(r) {
			s.Stats.Refused.Add(1)
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeJSON(w, http.StatusUnauthorized, api.Error{Error: "Unauthorized", ErrorType: "UnauthorizedException", Message: "Invalid ticket or token"})
			return
		}
		h(w, r)
	}
}

func eq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (s *SuperOffice) authorized(r *http.Request) bool {
	a := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(a, "Bearer "); ok && tok != "" {
		s.mu.Lock()
		defer s.mu.Unlock()
		uses, known := s.tokens[tok]
		if !known && !(s.cfg.Token != "" && eq(tok, s.cfg.Token)) {
			return false
		}
		if s.cfg.TokenUses > 0 && uses >= s.cfg.TokenUses {
			return false // expired
		}
		s.tokens[tok] = uses + 1
		return true
	}
	return s.cfg.Ticket != "" && eq(a, "SOTicket "+s.cfg.Ticket) && eq(r.Header.Get("SO-AppToken"), s.cfg.AppToken)
}

// tokenEndpoint is the refresh grant (api.md, "Refresh tokens").
func (s *SuperOffice) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	s.Stats.Requests.Add(1)
	if s.dice.fault(w, r, s.cfg.Faults, &s.Stats.Faulted, &s.Stats.Throttled, func(status int) {
		writeJSON(w, status, api.Error{OAuthError: "temporarily_unavailable"})
	}) {
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "refresh_token" {
		writeJSON(w, http.StatusBadRequest, api.Error{OAuthError: "unsupported_grant_type"})
		return
	}
	f := r.PostForm
	if s.cfg.RefreshToken == "" || !eq(f.Get("client_id"), s.cfg.ClientID) || !eq(f.Get("client_secret"), s.cfg.ClientSecret) {
		writeJSON(w, http.StatusBadRequest, api.Error{OAuthError: "invalid_client"})
		return
	}
	if !eq(f.Get("refresh_token"), s.cfg.RefreshToken) {
		writeJSON(w, http.StatusBadRequest, api.Error{OAuthError: "invalid_grant", OAuthDescription: "the refresh token is not valid"})
		return
	}
	s.mu.Lock()
	s.issued++
	tok := fmt.Sprintf("8A:%s.access-%d", s.cfg.Tenant, s.issued)
	s.tokens[tok] = 0
	n := s.issued
	s.mu.Unlock()
	s.Stats.Tokens.Add(1)
	// expires_in as a number on the vendor's page, as text in samples: both.
	expires := json.RawMessage(`3600`)
	if n%2 == 0 {
		expires = json.RawMessage(`"3600"`)
	}
	writeJSON(w, http.StatusOK, api.TokenResponse{TokenType: "Bearer", AccessToken: tok, ExpiresIn: expires, IDToken: "eyJ.sandbox.jwt"})
}

// render is how one request wants its answer written.
type render struct {
	zone     *time.Location
	offset   bool
	colon    bool
	language bool // list values translated
	lower    bool
}

// renderFor reads a request's SO-TimeZone and Accept-Language under the
// configured readings. An unknown zone is an error.
func (s *SuperOffice) renderFor(r *http.Request) (render, error) {
	out := render{zone: s.base}
	if tz := strings.TrimSpace(r.Header.Get("SO-TimeZone")); tz != "" && s.cfg.Dates != SODatesIgnored {
		code, opt, _ := strings.Cut(tz, ",")
		name, ok := soZones[strings.ToUpper(strings.TrimSpace(code))]
		if !ok {
			return out, fmt.Errorf("unknown time zone %q", code)
		}
		out.zone, _ = time.LoadLocation(name)
		if strings.EqualFold(strings.TrimSpace(opt), "includeTZOffset") && s.cfg.Dates != SODatesNoOffset {
			out.offset, out.colon = true, s.cfg.Dates == SODatesColon
		}
	}
	lang := r.Header.Get("SO-Language")
	if lang == "" {
		lang = r.Header.Get("Accept-Language")
	}
	out.language = lang != "" && lang != "*" && lang != "x" && s.cfg.Language != SOLanguageRaw
	out.lower = s.cfg.Language == SOLanguageLower
	return out, nil
}

func (rd render) date(t time.Time) string {
	t = t.In(rd.zone)
	switch {
	case rd.offset && rd.colon:
		return t.Format("2006-01-02T15:04:05.0000000-07:00")
	case rd.offset:
		return t.Format("2006-01-02T15:04:05-0700")
	}
	return t.Format("2006-01-02T15:04:05")
}

func (rd render) level(name string) string {
	if !rd.language {
		no := map[string]string{"Internal": "Intern", "External": "Ekstern", "Unknown": "Ukjent"}[name]
		return fmt.Sprintf(`NO:"%s";US:"%s"`, no, name)
	}
	if rd.lower {
		return strings.ToLower(name)
	}
	return name
}

// soColumns are the archive columns the fake serves (ticketmessage.md).
var soColumns = map[string]func(m *SuperOfficeMessage, rd render) any{
	"ticketMessageId": func(m *SuperOfficeMessage, _ render) any { return m.ID },
	"ticketId":        func(m *SuperOfficeMessage, _ render) any { return m.TicketID },
	"searchTitle":     func(m *SuperOfficeMessage, _ render) any { return m.SearchTitle },
	"header":          func(m *SuperOfficeMessage, _ render) any { return m.SearchTitle },
	"author":          func(m *SuperOfficeMessage, _ render) any { return m.Author },
	"createdAt":       func(m *SuperOfficeMessage, rd render) any { return rd.date(m.Created) },
	"body":            func(m *SuperOfficeMessage, _ render) any { return m.Body },
	"htmlBody":        func(m *SuperOfficeMessage, _ render) any { return m.HTMLBody },
	"messageId":       func(m *SuperOfficeMessage, _ render) any { return m.MessageID },
	"debugInfo":       func(m *SuperOfficeMessage, _ render) any { return "" },
	"important":       func(m *SuperOfficeMessage, _ render) any { return m.Important },
	"slevel":          func(m *SuperOfficeMessage, rd render) any { return rd.level(m.Slevel) },
	"ticket/title":    func(m *SuperOfficeMessage, _ render) any { return m.TicketTitle },
	"ticket/ticketId": func(m *SuperOfficeMessage, _ render) any { return m.TicketID },
	"ticket/createdAt": func(m *SuperOfficeMessage, rd render) any {
		return rd.date(m.Created)
	},
	"ticket/person/personId": func(m *SuperOfficeMessage, _ render) any { return m.TicketPersonID },
	"person/personId": func(m *SuperOfficeMessage, _ render) any {
		if m.PersonID == 0 {
			return ""
		}
		return m.PersonID
	},
	"person/fullName": func(m *SuperOfficeMessage, _ render) any { return m.PersonName },
}

var soFilter = regexp.MustCompile(`^\s*createdAt\s+after\s+'([^']+)'\s*$`)

// list is GET /TicketMessage: the archive, paged by $top and $skip.
func (s *SuperOffice) list(w http.ResponseWriter, r *http.Request) {
	s.Stats.Pages.Add(1)
	rd, err := s.renderFor(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: err.Error()})
		return
	}
	q := r.URL.Query()
	top, skip := 50, 0
	if v := q.Get("$top"); v != "" {
		if top, err = strconv.Atoi(v); err != nil || top < 1 {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "$top must be a positive number"})
			return
		}
	}
	if v := q.Get("$skip"); v != "" {
		if skip, err = strconv.Atoi(v); err != nil || skip < 0 {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "$skip must be a number"})
			return
		}
	}
	sel := []string{"ticketMessageId", "searchTitle", "createdAt"}
	if v := q.Get("$select"); v != "" {
		sel = strings.Split(v, ",")
		for i := range sel {
			sel[i] = strings.TrimSpace(sel[i])
			if _, ok := soColumns[sel[i]]; !ok {
				writeJSON(w, http.StatusBadRequest, api.Error{Error: "Unknown column in $select: " + sel[i], ErrorType: "ArchiveException"})
				return
			}
		}
	}
	var from time.Time
	if fl := q.Get("$filter"); fl != "" {
		m := soFilter.FindStringSubmatch(fl)
		if m == nil {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "unsupported $filter: " + fl})
			return
		}
		// A literal is read like a date in a body: in the zone asked for.
		// The pages say nothing of offsets in a literal: refused here.
		if from, err = time.ParseInLocation("2006-01-02T15:04:05", m[1], rd.zone); err != nil {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "bad date in $filter (want YYYY-MM-DDTHH:MM:SS, no offset): " + m[1]})
			return
		}
	}
	byID := false
	desc := false
	switch ob := strings.ReplaceAll(q.Get("$orderBy"), " ", ""); ob {
	case "", "createdAt", "createdAtasc":
	case "createdAtdesc":
		desc = true
	case "createdAt,ticketMessageId", "createdAtasc,ticketMessageIdasc":
		byID = true
	default:
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "unsupported $orderBy: " + q.Get("$orderBy")})
		return
	}

	s.mu.Lock()
	if skip > 0 {
		s.changeWhilePaging(skip)
	}
	var rows []*SuperOfficeMessage
	for _, m := range s.msgs {
		if !m.Deleted && (from.IsZero() || m.Created.After(from)) {
			rows = append(rows, m)
		}
	}
	if byID {
		sort.SliceStable(rows, func(i, j int) bool {
			if !rows[i].Created.Equal(rows[j].Created) {
				return rows[i].Created.Before(rows[j].Created)
			}
			return rows[i].ID < rows[j].ID
		})
	} else {
		// Rows that tie on createdAt come in any order, a new one for
		// every request, as a database's do.
		s.rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].Created.Before(rows[j].Created) })
		if desc {
			slices.Reverse(rows)
		}
	}
	n := min(top, s.cfg.MaxTop)
	lo, hi := min(skip, len(rows)), min(skip+n, len(rows))
	page := api.Page{Value: make([]json.RawMessage, 0, hi-lo)}
	for _, m := range rows[lo:hi] {
		row := map[string]any{"PrimaryKey": m.ID, "EntityName": "ticketmessage"}
		for _, c := range sel {
			row[c] = soColumns[c](m, rd)
		}
		b, _ := json.Marshal(row)
		page.Value = append(page.Value, b)
	}
	more := hi < len(rows)
	s.mu.Unlock()
	if more {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("$skip", strconv.Itoa(hi))
		page.NextLink = "http://" + r.Host + r.URL.Path + "?" + nq.Encode()
		if s.cfg.LoopNextLink {
			page.NextLink = "http://" + r.Host + r.URL.RequestURI()
		}
	}
	s.answer(w, http.StatusOK, page)
}

// changeWhilePaging moves the archive under a listing (Shift, Delete,
// Grow); s.mu is held.
func (s *SuperOffice) changeWhilePaging(skip int) {
	if s.cfg.Shift > 0 && len(s.msgs) > 0 {
		first := s.msgs[0].Created
		for range s.cfg.Shift {
			s.newMessage(first.Add(-time.Minute)) // created "before" everything: later rows move forward
		}
	}
	if s.cfg.Delete > 0 && skip > s.cfg.Delete {
		// The rows just before the position: already served.
		var live []*SuperOfficeMessage
		for _, m := range s.msgs {
			if !m.Deleted {
				live = append(live, m)
			}
		}
		sort.SliceStable(live, func(i, j int) bool {
			if !live[i].Created.Equal(live[j].Created) {
				return live[i].Created.Before(live[j].Created)
			}
			return live[i].ID < live[j].ID
		})
		hi := min(skip-1, len(live))
		for _, m := range live[max(0, hi-s.cfg.Delete):max(0, hi)] {
			m.Deleted = true
		}
	}
	if s.cfg.Grow > 0 {
		var last time.Time
		for _, m := range s.msgs {
			if m.Created.After(last) {
				last = m.Created
			}
		}
		for i := range s.cfg.Grow {
			s.newMessage(last.Add(time.Duration(i+1) * time.Minute))
		}
	}
}

// answer writes v, or, for a Garble fault, the start of it.
func (s *SuperOffice) answer(w http.ResponseWriter, status int, v any) {
	if status == http.StatusOK && s.dice.roll(s.cfg.Faults.Garble) {
		s.Stats.Faulted.Add(1)
		b, _ := json.Marshal(v)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(b[:len(b)/2])
		return
	}
	writeJSON(w, status, v)
}

// entity renders a message's TicketMessageEntity (seed 004's properties);
// s.mu is held.
func (s *SuperOffice) entity(m *SuperOfficeMessage, rd render) map[string]any {
	var by, person any
	switch {
	case m.AssociateID > 0:
		by = map[string]any{"AssociateId": m.AssociateID, "Name": m.AssociateName, "FullName": m.AssociateName, "Type": "Employee", "EjUserId": m.AssociateID + 100}
	case s.cfg.Incoming == SOIncomingZero:
		by = map[string]any{"AssociateId": 0, "Name": "", "FullName": "", "Type": "Employee"}
	case s.cfg.Incoming == SOIncomingSystem:
		by = map[string]any{"AssociateId": 1, "Name": "SYSTEM", "FullName": "System user", "Type": "SystemAssociate"}
	}
	pid, pname := m.PersonID, m.PersonName
	if pid == 0 && s.cfg.RepliesNamePerson && m.Direction == api.Outgoing {
		pid, pname = m.TicketPersonID, fmt.Sprintf("Person %d", m.TicketPersonID-5000)
	}
	if pid > 0 {
		person = map[string]any{"PersonId": pid, "FullName": pname, "Firstname": "Person", "Lastname": strconv.FormatInt(pid-5000, 10)}
	}
	custom := map[string]any{}
	for _, f := range s.cfg.CustomFields {
		custom[f] = m.custom[f]
	}
	e := map[string]any{
		"EjMessageId": m.ID, "Ticket": map[string]any{"TicketId": m.TicketID, "Title": m.TicketTitle},
		"CreatedAt": rd.date(m.Created), "CreatedBy": by, "Author": m.Author, "Slevel": m.Slevel, "Type": m.Type,
		"MessageId": m.MessageID, "Body": m.Body, "HtmlBody": m.HTMLBody, "EmailHeader": "", "DebugInfo": "", "MailSorter": "",
		"MessageCategory": m.Category, "Person": person, "SearchTitle": m.SearchTitle, "MessageHeaders": []any{},
		"Important": m.Important, "Sentiment": 0, "SentimentConfidence": 0, "AttachmentsInfo": []any{},
		"ExtraFields": map[string]any{}, "CustomFields": custom, "TableRight": nil, "FieldProperties": map[string]any{},
	}
	for k, v := range m.extra {
		e[k] = v
	}
	return e
}

// message finds the request's message, or answers 404; s.mu is held.
func (s *SuperOffice) message(w http.ResponseWriter, r *http.Request) *SuperOfficeMessage {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	m, ok := s.byID[id]
	if !ok || m.Deleted {
		writeJSON(w, http.StatusNotFound, api.Error{Error: "Not Found", Message: fmt.Sprintf("TicketMessage %s does not exist", r.PathValue("id"))})
		return nil
	}
	return m
}

// getEntity is GET /TicketMessage/{id}.
func (s *SuperOffice) getEntity(w http.ResponseWriter, r *http.Request) {
	s.Stats.Entities.Add(1)
	rd, err := s.renderFor(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: err.Error()})
		return
	}
	s.mu.Lock()
	m := s.message(w, r)
	if m == nil {
		s.mu.Unlock()
		return
	}
	if slices.Contains(s.cfg.Vanished, m.ID) {
		m.Deleted = true
		s.mu.Unlock()
		writeJSON(w, http.StatusNotFound, api.Error{Error: "Not Found", Message: fmt.Sprintf("TicketMessage %d does not exist", m.ID)})
		return
	}
	e := s.entity(m, rd)
	if s.dice.roll(s.cfg.ConcurrentEdits) {
		// An agent saves the message right after this read.
		m.extra["TimeSpent"] = m.extra["TimeSpent"].(int64) + 5
		m.extra["Badge"] = "Edited"
		m.edited = true
		m.modified = s.tick()
	}
	s.mu.Unlock()
	s.answer(w, http.StatusOK, e)
}

// writable are the entity's properties a save may change, with their enum.
var writable = map[string][]string{
	"Author": nil, "Slevel": api.Slevels, "Type": api.Types, "MessageCategory": api.Categories, "Body": nil, "HtmlBody": nil,
	"MessageId": nil, "TimeSpent": nil, "Important": nil, "Language": nil, "SearchTitle": nil, "Badge": nil,
}

// readOnly are properties a save ignores.
var readOnly = map[string]bool{"EjMessageId": true, "Ticket": true, "CreatedAt": true, "CreatedBy": true, "Person": true,
	"EmailHeader": true, "DebugInfo": true, "MailSorter": true, "MessageHeaders": true, "Sentiment": true,
	"SentimentConfidence": true, "AttachmentsInfo": true, "ExtraFields": true, "TableRight": true, "FieldProperties": true, "_Links": true}

// patchEntity is PATCH /TicketMessage/{id} with a JSON merge patch.
func (s *SuperOffice) patchEntity(w http.ResponseWriter, r *http.Request) {
	s.Stats.Patches.Add(1)
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/merge-patch+json") {
		writeJSON(w, http.StatusUnsupportedMediaType, api.Error{Error: "sandbox: send a JSON merge patch (application/merge-patch+json)"})
		return
	}
	body, _ := io.ReadAll(r.Body)
	var patch map[string]any
	if err := json.Unmarshal(body, &patch); err != nil || patch == nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "Bad request", Message: "sandbox: the body is not a JSON merge patch object (JSON Patch arrays are not faked)"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.message(w, r)
	if m == nil {
		return
	}
	if v := r.Header.Get("If-Unmodified-Since"); v != "" && !s.cfg.IgnoreUnmodifiedSince {
		since, err := http.ParseTime(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "Bad request", Message: "If-Unmodified-Since: " + err.Error()})
			return
		}
		if m.modified.Truncate(time.Second).After(since) {
			s.Stats.Conflicts.Add(1)
			writeJSON(w, http.StatusPreconditionFailed, api.Error{Error: "Precondition Failed",
				Message: "Update aborted because TicketMessageEntity has changed since the requested If-Unmodified-Since timestamp."})
			return
		}
	}
	echo := map[string]any{}
	if err := s.apply(m, patch, echo); err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "Bad request", Message: err.Error()})
		return
	}
	m.saves++
	m.modified = s.tick()
	e := s.entity(m, render{zone: s.base, language: true})
	if s.cfg.EchoIgnored {
		cf := e["CustomFields"].(map[string]any)
		for k, v := range echo {
			cf[k] = v
		}
	}
	s.answer(w, http.StatusOK, e)
}

// apply lays a merge patch over m (RFC 7396: null clears); custom fields the
// tenant does not define are ignored, silently, and put in ignored.
func (s *SuperOffice) apply(m *SuperOfficeMessage, patch, ignored map[string]any) error {
	for k, v := range patch {
		switch {
		case k == "CustomFields":
			cf, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("CustomFields must be an object")
			}
			for f, fv := range cf {
				if !slices.Contains(s.cfg.CustomFields, f) {
					ignored[f] = fv
					continue
				}
				m.custom[f] = fv
			}
		case readOnly[k]:
			if k == "EjMessageId" {
				if n, ok := v.(float64); !ok || int64(n) != m.ID {
					return fmt.Errorf("EjMessageId does not match the id in the path")
				}
			}
		default:
			enum, ok := writable[k]
			if !ok {
				return fmt.Errorf("TicketMessageEntity has no property %q", k)
			}
			if enum != nil && v != nil {
				name, isText := v.(string)
				if !isText || !slices.Contains(enum, name) {
					return fmt.Errorf("%s %v is not one of %v", k, v, enum)
				}
			}
			s.setProperty(m, k, v)
		}
	}
	return nil
}

// setProperty sets one writable property; nil clears it.
func (s *SuperOffice) setProperty(m *SuperOfficeMessage, k string, v any) {
	str, _ := v.(string)
	switch k {
	case "Author":
		m.Author = str
	case "Slevel":
		m.Slevel = str
	case "Type":
		m.Type = str
	case "MessageCategory":
		m.Category = str
	case "Body":
		m.Body = str
	case "HtmlBody":
		m.HTMLBody = str
	case "MessageId":
		m.MessageID = str
	case "SearchTitle":
		m.SearchTitle = str
	case "Important":
		b, _ := v.(bool)
		m.Important = b
	case "TimeSpent":
		n, _ := v.(float64)
		m.extra[k] = int64(n)
	default:
		m.extra[k] = v
	}
}

// putEntity is PUT /TicketMessage/{id}?notify=…: a save of the whole
// entity (seed 004): every writable property not sent is cleared.
func (s *SuperOffice) putEntity(w http.ResponseWriter, r *http.Request) {
	s.Stats.Puts.Add(1)
	if strings.EqualFold(r.URL.Query().Get("notify"), "true") {
		// Allowed by the vendor, refused here: a migration must never notify.
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "Bad request", Message: "sandbox: notify=true would notify users"})
		return
	}
	var e map[string]any
	if err := json.NewDecoder(r.Body).Decode(&e); err != nil || e == nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "Bad request", Message: "Entity to save is not in request body."})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.message(w, r)
	if m == nil {
		return
	}
	full := map[string]any{}
	for k := range writable {
		full[k] = nil
	}
	for k, v := range e {
		full[k] = v
	}
	if _, ok := full["CustomFields"]; !ok {
		full["CustomFields"] = map[string]any{}
	}
	cleared := map[string]any{}
	for _, f := range s.cfg.CustomFields {
		cleared[f] = nil
	}
	for k, v := range full["CustomFields"].(map[string]any) {
		cleared[k] = v
	}
	full["CustomFields"] = cleared
	if err := s.apply(m, full, map[string]any{}); err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "Bad request", Message: err.Error()})
		return
	}
	m.saves++
	m.modified = s.tick()
	s.answer(w, http.StatusOK, s.entity(m, render{zone: s.base, language: true}))
}
