package pipeline

import (
	"errors"
	"maps"
	"os"
	"sync"

	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/ledger/keyindex"
	"github.com/msgmigrate/msgmigrate/msg"
)

// store is what the gate asks about keys and the recorder writes to: the
// job's ledger, or in a dry run a scratch index of this run's keys.
type store interface {
	Lookup(keys []string, out []ledger.Seen) error
	Origin(key string) (string, error)
	Write(runID int64, items []ledger.Entry, failures []ledger.RecordFailure, cleared []msg.Origin) error
}

// dryStore remembers the keys a dry run admitted, to find duplicates, in a
// key index in a scratch directory: bounded memory however long the input.
type dryStore struct {
	dir    string
	source string
	x      *keyindex.Index
}

func newDryStore(source string) (*dryStore, error) {
	dir, err := os.MkdirTemp("", "msgmigrate-dry-run-")
	if err != nil {
		return nil, err
	}
	x, _, err := keyindex.Open(dir, 0)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &dryStore{dir: dir, source: source, x: x}, nil
}

func (s *dryStore) Lookup(keys []string, out []ledger.Seen) error {
	for i, k := range keys {
		e, ok, err := s.x.Lookup(keyindex.Of(k))
		if err != nil {
			return err
		}
		out[i] = ledger.Seen{Known: ok, Status: ledger.Loaded, Hash: e.Hash, RunID: int64(e.Run)}
	}
	return nil
}

// admit remembers an item the dry run would send; the entry's row holds
// the record's line, for the duplicate's message.
func (s *dryStore) admit(it *msg.Item, runID int64) error {
	return s.x.Add([]keyindex.Entry{{FP: keyindex.Of(it.Key), Status: keyindex.Pending, Hash: ledger.Hash64(it.Hash), Row: int64(it.Origin.Line), Run: uint32(runID)}}, 0)
}

func (s *dryStore) Origin(key string) (string, error) {
	e, ok, err := s.x.Lookup(keyindex.Of(key))
	if err != nil || !ok || e.Row == 0 {
		return "", err
	}
	return msg.Origin{Source: s.source, Line: int(e.Row)}.String(), nil
}

func (s *dryStore) Write(int64, []ledger.Entry, []ledger.RecordFailure, []msg.Origin) error {
	return nil
}

func (s *dryStore) Close() error {
	return errors.Join(s.x.Close(), os.RemoveAll(s.dir))
}

// openKeys are the keys admitted but not yet recorded: in open batches or in
// flight. Bounded by the batcher's and the loader's limits. The recorder
// releases keys once they are in the ledger, but they leave the map only
// when the gate applies the releases, before it asks the ledger: so what
// the gate was told about a key is never stale while it admits a batch.
type openKeys struct {
	mu       sync.Mutex
	m        map[string]openEntry
	pending  []string
	released int
}

type openEntry struct {
	hash [16]byte
	line int // the first occurrence's line, for the duplicate message
}

func newOpenKeys() *openKeys { return &openKeys{m: map[string]openEntry{}} }

func (o *openKeys) get(key string) (openEntry, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e, ok := o.m[key]
	return e, ok
}

func (o *openKeys) add(it *msg.Item) {
	o.mu.Lock()
	o.m[it.Key] = openEntry{hash: it.Hash, line: it.Origin.Line}
	o.mu.Unlock()
}

// release marks keys as recorded.
func (o *openKeys) release(keys []string) {
	o.mu.Lock()
	o.pending = append(o.pending, keys...)
	o.mu.Unlock()
}

// apply removes the recorded keys; the gate calls it before a lookup.
func (o *openKeys) apply() {
	o.mu.Lock()
	keys := o.pending
	o.pending = nil
	for _, k := range keys {
		delete(o.m, k)
	}
	// A Go map never gives back the room it once needed: start a fresh one
	// now and then, so a burst of open keys is not held for the whole run.
	o.released += len(keys)
	if o.released > 1_000_000 {
		fresh := make(map[string]openEntry, len(o.m))
		maps.Copy(fresh, o.m)
		o.m = fresh
		o.released = 0
	}
	o.mu.Unlock()
}
