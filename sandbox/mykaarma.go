package sandbox

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	api "github.com/msgmigrate/msgmigrate/api/mykaarma"
)

// MyKaarmaConfig configures the myKaarma historical endpoint fake.
type MyKaarmaConfig struct {
	Username, Password string
	MaxItems           int  // items per request; over it, 400 REQUEST_TOO_LARGE. 0 = 1000
	MaxBodyBytes       int  // over it, 413. 0 = 4 MiB
	CountOnly          bool // keep counts, not payloads (benchmarks)
	// Answer is which part of the 200 carries the items' outcomes, which
	// the vendor does not say (VENDORS.md): "both" (the default), "lists"
	// (succesfullySubmittedSourceUuids / failedSourceUuids only) or
	// "entries" (saveMessageResponse only).
	Answer string
	Faults
}

// The readings of a 200.
const (
	AnswerBoth    = "both"
	AnswerLists   = "lists"
	AnswerEntries = "entries"
)

// Stored is what the fake keeps of one message.
type Stored struct {
	SourceUUID  string
	MessageUUID string
	Department  string
	Customer    string
	Payload     json.RawMessage
	Times       int // how many times it was received and accepted
}

// MyKaarmaStats count what the fake saw.
type MyKaarmaStats struct {
	Requests  atomic.Int64
	Accepted  atomic.Int64 // items accepted, repeats included
	Rejected  atomic.Int64 // items rejected inside a 200
	Throttled atomic.Int64
	Faulted   atomic.Int64 // 5xx, drops and garbled answers
	Items     atomic.Int64 // items received in answered requests
	FirstAt   atomic.Int64 // unix nanoseconds of the first request
}

// MyKaarma fakes PUT /department/{d}/customer/{c}/communication/historical.
type MyKaarma struct {
	cfg    MyKaarmaConfig
	dice   *dice
	bucket *bucket
	Stats  MyKaarmaStats

	mu     sync.Mutex
	store  map[string]*Stored
	unique atomic.Int64
}

// messageNS makes the fake's messageUuid a function of sourceUuid, as a real
// idempotent import would.
var messageNS = uuid.MustParse("b0f3c5de-6a0e-4a55-8a53-5e0b7d3f6a21")

// NewMyKaarma returns the fake.
func NewMyKaarma(cfg MyKaarmaConfig) *MyKaarma {
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = 1000
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	m := &MyKaarma{cfg: cfg, dice: newDice(cfg.Seed), store: map[string]*Stored{}}
	if cfg.RateLimit > 0 {
		m.bucket = newBucket(cfg.RateLimit, max(1, cfg.RateLimit/10))
	}
	return m
}

// Handler serves the endpoint below base (e.g. "/communications").
func (m *MyKaarma) Handler(base string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT "+base+"/department/{department}/customer/{customer}/communication/historical", m.historical)
	mux.HandleFunc(base+"/", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, http.StatusNotFound, "NOT_FOUND", "Not Found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (m *MyKaarma) historical(w http.ResponseWriter, r *http.Request) {
	m.Stats.Requests.Add(1)
	m.Stats.FirstAt.CompareAndSwap(0, time.Now().UnixNano())
	f := m.cfg.Faults
	if m.dice.fault(w, r, f, &m.Stats.Faulted, &m.Stats.Throttled, func(status int) {
		writeAPIError(w, status, map[int]string{429: "TOO_MANY_REQUESTS", 500: "INTERNAL_ERROR", 503: "SERVICE_UNAVAILABLE"}[status], http.StatusText(status), "try again later")
	}) {
		return
	}
	if m.bucket != nil {
		if ok, wait := m.bucket.take(time.Now()); !ok {
			m.Stats.Throttled.Add(1)
			w.Header().Set("Retry-After", retryAfterValue(wait))
			writeAPIError(w, http.StatusTooManyRequests, "RATE_LIMITED", "Too Many Requests", "rate limit exceeded")
			return
		}
	}
	user, pass, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(m.cfg.Username)) != 1 ||
		subtle.ConstantTimeCompare([]byte(pass), []byte(m.cfg.Password)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="mykaarma"`)
		writeAPIError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Unauthorized", "bad or missing service-subscriber credentials")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeAPIError(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Unsupported Media Type", "Content-Type must be application/json")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(m.cfg.MaxBodyBytes)+1))
	if err != nil {
		return
	}
	if len(body) > m.cfg.MaxBodyBytes {
		writeAPIError(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "Payload Too Large", fmt.Sprintf("the body exceeds %d bytes", m.cfg.MaxBodyBytes))
		return
	}
	dept, cust := r.PathValue("department"), r.PathValue("customer")
	if !uuidRE.MatchString(dept) {
		writeAPIError(w, http.StatusBadRequest, "INVALID_DEPARTMENT_UUID", "Bad Request", fmt.Sprintf("departmentUUID %q is not a UUID", dept))
		return
	}
	if !uuidRE.MatchString(cust) {
		writeAPIError(w, http.StatusBadRequest, "INVALID_CUSTOMER_UUID", "Bad Request", fmt.Sprintf("customerUUID %q is not a UUID", cust))
		return
	}
	if m.cfg.CountOnly {
		// Benchmarks: one typed decode of the whole body when it is clean.
		var typed struct {
			SaveMessageRequestList []api.SaveMessageRequest `json:"saveMessageRequestList"`
			CallBackPathURL        string                   `json:"callBackPathUrl"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&typed); err == nil && len(typed.SaveMessageRequestList) > 0 && len(typed.SaveMessageRequestList) <= m.cfg.MaxItems {
			m.Stats.Items.Add(int64(len(typed.SaveMessageRequestList)))
			m.respond(w, m.saveTyped(dept, cust, typed.SaveMessageRequestList, nil))
			return
		}
	}
	var req api.Request
	if err := json.Unmarshal(body, &req); err != nil {
		writeAPIError(w, http.StatusBadRequest, "MALFORMED_JSON", "Bad Request", err.Error())
		return
	}
	if len(req.SaveMessageRequestList) == 0 {
		writeAPIError(w, http.StatusBadRequest, "EMPTY_REQUEST", "Bad Request", "saveMessageRequestList is empty")
		return
	}
	if len(req.SaveMessageRequestList) > m.cfg.MaxItems {
		writeAPIError(w, http.StatusBadRequest, "REQUEST_TOO_LARGE", "Bad Request", fmt.Sprintf("too many items: %d, at most %d", len(req.SaveMessageRequestList), m.cfg.MaxItems))
		return
	}
	m.Stats.Items.Add(int64(len(req.SaveMessageRequestList)))
	items := make([]api.SaveMessageRequest, len(req.SaveMessageRequestList))
	errs := make([]error, len(items))
	for i, raw := range req.SaveMessageRequestList {
		errs[i] = decodeStrict(raw, &items[i])
	}
	m.respond(w, m.saveTyped(dept, cust, items, errs, req.SaveMessageRequestList...))
}

// respond answers 200, or a cut-short 200 when the dice say so.
func (m *MyKaarma) respond(w http.ResponseWriter, resp *api.Response) {
	switch m.cfg.Answer {
	case AnswerLists:
		resp.SaveMessageResponse = nil
	case AnswerEntries:
		resp.SuccesfullySubmittedSourceUuids, resp.FailedSourceUuids = nil, nil
	}
	if m.dice.roll(m.cfg.Faults.Garble) {
		m.Stats.Faulted.Add(1)
		full, _ := json.Marshal(resp)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(full[:len(full)/2])
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// saveTyped validates and stores decoded items; errs[i] is item i's decoding
// error, raw[i] its bytes (kept unless CountOnly).
func (m *MyKaarma) saveTyped(dept, cust string, list []api.SaveMessageRequest, errs []error, raw ...json.RawMessage) *api.Response {
	resp := &api.Response{
		SaveMessageResponse:             make([]api.ItemResponse, 0, len(list)),
		SuccesfullySubmittedSourceUuids: []string{},
		FailedSourceUuids:               []string{},
		Errors:                          []api.Error{},
		Warnings:                        []api.Warning{},
	}
	seen := make(map[string]bool, len(list))
	for i := range list {
		it := &list[i]
		var err error
		if errs != nil {
			err = errs[i]
		}
		src := it.SourceUUID
		if src == "" {
			src = fmt.Sprintf("#%d", i)
		}
		var code, text string
		switch {
		case err != nil:
			code, text = "INVALID_MESSAGE", err.Error()
		case it.SourceUUID == "":
			code, text = "MISSING_SOURCE_UUID", "sourceUuid is required"
		case seen[it.SourceUUID]:
			code, text = "DUPLICATE_SOURCE_UUID", "sourceUuid appears twice in the request"
		default:
			code, text = validate(it)
		}
		seen[it.SourceUUID] = true
		if code == "" && m.cfg.Reject > 0 && rejected(it.SourceUUID, m.cfg.Reject) {
			code, text = "MESSAGE_REJECTED", "the message was rejected by the dealership's rules (sandbox fault injection)"
		}
		if code != "" {
			m.Stats.Rejected.Add(1)
			resp.FailedSourceUuids = append(resp.FailedSourceUuids, src)
			resp.SaveMessageResponse = append(resp.SaveMessageResponse, api.ItemResponse{
				SourceUUID: src,
				Errors:     []api.Error{{ErrorCode: code, ErrorDescription: text, ErrorUID: uuid.NewString()}},
			})
			continue
		}
		id := uuid.NewSHA1(messageNS, []byte(it.SourceUUID)).String()
		var r json.RawMessage
		if i < len(raw) {
			r = raw[i]
		}
		m.keep(dept, cust, id, it, r)
		m.Stats.Accepted.Add(1)
		resp.SuccesfullySubmittedSourceUuids = append(resp.SuccesfullySubmittedSourceUuids, it.SourceUUID)
		resp.SaveMessageResponse = append(resp.SaveMessageResponse, api.ItemResponse{SourceUUID: it.SourceUUID, MessageUUID: id, Errors: []api.Error{}, Warnings: []api.Warning{}})
	}
	return resp
}

func (m *MyKaarma) keep(dept, cust, id string, it *api.SaveMessageRequest, raw json.RawMessage) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.store[it.SourceUUID]
	if s == nil {
		s = &Stored{SourceUUID: it.SourceUUID, MessageUUID: id}
		if !m.cfg.CountOnly {
			m.store[it.SourceUUID] = s
		}
		m.unique.Add(1)
	}
	s.Department, s.Customer, s.Times = dept, cust, s.Times+1
	if !m.cfg.CountOnly {
		s.Payload = slices.Clone(raw)
	}
}

// decodeStrict decodes one item, rejecting fields the vendor does not know.
func decodeStrict(raw []byte, v *api.SaveMessageRequest) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// rejected picks the same items on every attempt, as a vendor's rule would.
func rejected(sourceUUID string, p float64) bool {
	h := sha256.Sum256([]byte(sourceUUID))
	return float64(binary.BigEndian.Uint64(h[:8])%1_000_000) < p*1_000_000
}

var purposeRE = regexp.MustCompile(`^[A-Z]$`)

// validate checks an item as the vendor documents it.
func validate(it *api.SaveMessageRequest) (code, text string) {
	for name, v := range map[string]string{"sentOn": it.SentOn, "receivedOn": it.ReceivedOn} {
		if v == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
			return "INVALID_DATE", fmt.Sprintf("%s %q is not an ISO-8601 date-time", name, v)
		}
	}
	if len(it.NotificationAttributes) > 0 {
		return "NOTIFICATION_NOT_ALLOWED", "historical messages must not carry notificationAttributes"
	}
	a := it.MessageAttributes
	if a == nil {
		return "MISSING_MESSAGE_ATTRIBUTES", "messageAttributes is required"
	}
	if a.Type != "" && !slices.Contains(api.Types, a.Type) {
		return "INVALID_TYPE", fmt.Sprintf("type %q is not one of %v", a.Type, api.Types)
	}
	if a.Protocol != "" && !slices.Contains(api.Protocols, a.Protocol) {
		return "INVALID_PROTOCOL", fmt.Sprintf("protocol %q is not one of %v", a.Protocol, api.Protocols)
	}
	if a.Purpose != "" && !purposeRE.MatchString(a.Purpose) {
		return "INVALID_PURPOSE", fmt.Sprintf("purpose %q is not a one-letter code", a.Purpose)
	}
	if a.Body == "" && len(a.Attachments) == 0 {
		return "MISSING_BODY", "a message needs a body or an attachment"
	}
	for i, at := range a.Attachments {
		if at.FileURL == "" {
			return "INVALID_ATTACHMENT", fmt.Sprintf("attachments[%d].fileURL is required", i)
		}
	}
	return "", ""
}

// Stored returns what the fake holds for a sourceUuid.
func (m *MyKaarma) Stored(sourceUUID string) (Stored, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.store[sourceUUID]
	if !ok {
		return Stored{}, false
	}
	return *s, true
}

// All returns every stored message.
func (m *MyKaarma) All() []Stored {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Stored, 0, len(m.store))
	for _, s := range m.store {
		out = append(out, *s)
	}
	return out
}

// Unique is the number of distinct sourceUuids accepted.
func (m *MyKaarma) Unique() int64 { return m.unique.Load() }

func writeAPIError(w http.ResponseWriter, status int, code, title, message string) {
	writeJSON(w, status, api.APIError{
		Errors:       []api.APIErrorEntry{{ErrorCode: code, ErrorTitle: title, ErrorMessage: message}},
		APIRequestID: uuid.NewString(),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
