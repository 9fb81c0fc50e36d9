// Package msg holds the values that flow between msgmigrate's stages:
// a source Record, the mapped Item a sink sends, and their Origin.
package msg

import (
	"fmt"
	"strings"
)

// Origin says where a record came from, for every error a user reads:
// "messages.csv:1235", "gorgias message 9876".
type Origin struct {
	Source string // file path or vendor name
	Line   int    // 1-based line or row; 0 when the record is an API object
	ID     string // API id, when the record has no line
}

func (o Origin) String() string {
	switch {
	case o.ID != "" && o.Line == 0:
		return o.Source + " message " + o.ID
	case o.Line > 0:
		return fmt.Sprintf("%s:%d", o.Source, o.Line)
	default:
		return o.Source
	}
}

// Record is one source row or message: field name → value. Values are
// string, int64, float64, bool, time.Time, []any, map[string]any or nil.
type Record struct {
	Origin Origin
	Fields map[string]any
}

// Route is the set of path parameters an item is sent to, in the sink's
// declared order (myKaarma: department, customer).
type Route []string

// String joins the route into one comparable key.
func (r Route) String() string { return strings.Join(r, "/") }

// Item is a mapped record, ready for a sink.
type Item struct {
	Key     string // idempotency key, e.g. myKaarma sourceUuid
	Route   Route
	Payload []byte // the item's JSON, exactly as the sink sends it
	Hash    [16]byte
	Origin  Origin
	// Source is the source record packed by EncodeFields, for the failures
	// file.
	Source []byte
	// Kept is the source fields the mapping keeps in the ledger (JSON).
	Kept []byte

	// While an item waits in an open batch, a run keeps its payload and
	// source on disk (PayloadRef, SourceRef) and Payload and Source are nil:
	// open batches hold many thousands of items.
	PayloadRef SpillRef
	SourceRef  SpillRef
}

// Size is the payload's length, wherever the payload is.
func (it *Item) Size() int {
	if it.Payload != nil {
		return len(it.Payload)
	}
	return int(it.PayloadRef.Len)
}

// SpillRef locates bytes in a run's spill files; the zero value is none.
type SpillRef struct {
	Seg int32 // segment number, from 1
	Len int32
	Off int64
}

// Skip is a record a source leaves out on purpose — a deleted message, a
// pending message a write-back must not mark as sent — with why. A source
// returns it from Next instead of the record; the run counts it as skipped
// by that reason, never silently.
type Skip struct {
	Origin Origin
	Reason string // short and stable: it is a count's label ("deleted")
}

func (s *Skip) Error() string { return s.Origin.String() + ": skipped: " + s.Reason }

// Error is a failure of one record, at one stage, with the origin that
// names it. It wraps the cause so callers can still use errors.Is/As.
type Error struct {
	Origin Origin
	Stage  Stage
	Key    string
	Code   string // vendor error code, when the vendor gave one
	Err    error
	// Raw is the record as the source had it, when it could not be read
	// (a CSV line, the values of a row's other columns): kept with the
	// failure so a user sees what it was. Sources cap it.
	Raw []byte
}

// Stage names where a record failed.
type Stage string

const (
	StageRead Stage = "read"
	StageMap  Stage = "map"
	StageLoad Stage = "load"
)

func (e *Error) Error() string {
	s := e.Origin.String() + ": " + e.Err.Error()
	if e.Code != "" {
		s = e.Origin.String() + ": " + e.Code + ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }
