// Package ledger is a job's memory: per item its key, route, origin,
// payload hash, outcome, target id and last error; the runs; the records
// that failed before they had a key; and the watermark of incremental runs.
// An item is written as loaded only after the target acknowledged it, so a
// rerun after any crash sends again at most what was in flight.
//
// Two backends implement Ledger and pass one conformance suite
// (ledger/ledgertest): an embedded SQLite file per shard (ledger/sqlite, the
// default), and PostgreSQL shared by every shard of a job on a cluster
// (ledger/postgres, for state: postgres://…). A backend registers itself for
// the state values it serves.
package ledger

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/msgmigrate/msgmigrate/msg"
)

// Outcomes of an item.
const (
	Loaded = "loaded"
	Failed = "failed"
)

// Entry is an item's latest outcome.
type Entry struct {
	Key      string
	Route    []string
	Origin   msg.Origin
	Hash     [16]byte // the payload's
	Status   string   // Loaded or Failed
	TargetID string
	Code     string
	Error    string
	Payload  []byte // failed items only, for retry
	Kept     []byte // source fields a mapping keeps for a write-back (JSON)
	RunID    int64
	At       time.Time // when the outcome was recorded
}

// RecordFailure is a record that failed before it had a key: it could not
// be read, or not mapped. It stays in the ledger until a run reads that
// record correctly.
type RecordFailure struct {
	Origin msg.Origin
	Stage  string // read, map
	Error  string
	Raw    string // the record as the source had it, capped
	RunID  int64
}

// Seen is what the ledger knows of a key.
type Seen struct {
	Known  bool
	Status string
	Hash   uint64 // the first 8 bytes of the payload hash, big-endian
	RunID  int64
}

// Hash64 is the first 8 bytes of a payload hash, as Seen.Hash has it.
func Hash64(h [16]byte) uint64 {
	var v uint64
	for _, b := range h[:8] {
		v = v<<8 | uint64(b)
	}
	return v
}

// Run is one execution of a job (of one shard).
type Run struct {
	ID         int64
	Job        string
	Command    string
	StartedAt  time.Time
	FinishedAt time.Time // zero while running, or if the process died
	State      string    // running, completed, interrupted, failed, died
	LastOrigin string
	Counts     string // the report's counts, as JSON
}

// Counts are the ledger's totals.
type Counts struct {
	Loaded, Failed int64
	// RecordFailures by stage (read, map): records without a key yet.
	RecordFailures map[string]int64
}

// Group is one line of a breakdown.
type Group struct {
	Name   string // a code, or a route
	Loaded int64
	Failed int64
}

// Reader reads a ledger; it works while a run holds the ledger.
type Reader interface {
	Counts() (Counts, error)
	// Breakdown groups items by "code" (failed items) or "route".
	Breakdown(by string) ([]Group, error)
	Runs(n int) ([]Run, error)
	// Failed calls fn with every failed item (payload included) whose code
	// is one of codes (all when codes is empty), in the order recorded.
	Failed(codes []string, fn func(Entry) error) error
	// Loaded calls fn with every loaded item (kept fields included), in
	// the order recorded.
	Loaded(fn func(Entry) error) error
	RecordFailures(fn func(RecordFailure) error) error
	Meta(key string) (string, error)
	// Where names the ledger for messages (a file, or a database and shard).
	Where() string
	Close() error
}

// Ledger is one shard's ledger, open for a run: it holds the shard's run
// lock, so two processes can never record into one shard at once.
type Ledger interface {
	Reader
	StartRun(job, command string) (int64, error)
	Progress(runID int64, lastOrigin string) error
	FinishRun(runID int64, state, lastOrigin string, counts any) error
	SetMeta(key, value string) error
	// Lookup fills out[i] for keys[i].
	Lookup(keys []string, out []Seen) error
	// Origin is where the record an item came from was, for messages.
	Origin(key string) (string, error)
	// Write records outcomes and record failures, and clears the record
	// failures of records read correctly since, in one durable
	// transaction. A loaded item is never downgraded by a later failure.
	Write(runID int64, items []Entry, failures []RecordFailure, cleared []msg.Origin) error
	// Vacuum gives back the room a ledger no longer needs.
	Vacuum() error
}

// Sizer is implemented by ledgers that can say how much room they take.
type Sizer interface {
	Size() (int64, error)
}

// Shard is one shard of a job; Count 0 means the job is not sharded.
type Shard struct{ Index, Count int }

func (s Shard) String() string {
	if s.Count == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Options shape how a ledger is opened for a run.
type Options struct {
	Shard Shard
	// Traces are files an earlier run of the job leaves (its report): if
	// one exists and the ledger does not, the ledger was lost — refused,
	// unless NewLedger.
	Traces []string
	// NewLedger starts over on purpose: a ledger that is damaged or lost
	// (or healthy) is set aside, and everything is sent again.
	NewLedger bool
	Log       *slog.Logger
}

// ErrNotLedger is a state that exists but holds no ledger (empty, another
// file, another database), or a ledger that vanished: never taken for a
// fresh one.
var ErrNotLedger = errors.New("not a ledger")

// Backend opens ledgers for the state values it serves.
type Backend interface {
	// Serves reports whether state is this backend's ("postgres://…").
	Serves(state string) bool
	Open(state string, o Options) (Ledger, error)
	// Readers opens a reader per shard the job has (one when it is not
	// sharded), even while runs hold them.
	Readers(state string) ([]Reader, error)
}

var (
	mu       sync.Mutex
	backends []Backend
)

// Register makes a backend available.
func Register(b Backend) {
	mu.Lock()
	defer mu.Unlock()
	backends = append(backends, b)
}

func backend(state string) (Backend, error) {
	mu.Lock()
	defer mu.Unlock()
	for _, b := range backends {
		if b.Serves(state) {
			return b, nil
		}
	}
	return nil, fmt.Errorf("state %q: no ledger backend serves it (known: a file path, or postgres://…)", Redact(state))
}

// Open opens a job's ledger (one shard's) for a run.
func Open(state string, o Options) (Ledger, error) {
	b, err := backend(state)
	if err != nil {
		return nil, err
	}
	return b.Open(state, o)
}

// Readers opens every shard's ledger of a job to read.
func Readers(state string) ([]Reader, error) {
	b, err := backend(state)
	if err != nil {
		return nil, err
	}
	return b.Readers(state)
}

// Redact hides a password in a state URL.
func Redact(state string) string {
	scheme, rest, ok := strings.Cut(state, "://")
	if !ok {
		return state
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return state
	}
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return state
}
