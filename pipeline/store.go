package pipeline

import (
	"database/sql"
	"errors"
	"hash/maphash"
	"maps"
	"sync"

	"github.com/bits-and-blooms/bloom/v3"

	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/msg"
)

// store is what the gate asks about keys and the recorder writes to.
type store interface {
	Lookup(key string) (ledger.Seen, bool, error)
	Admit(it *msg.Item)
	Write(runID int64, items []ledger.Entry, failures []ledger.RecordFailure) error
	Finish() error
}

// ledgerStore answers the gate from the ledger without a query for nearly
// every key. Outcomes of this run are in the ledger's log, found by row id
// through a map of key hashes; outcomes of earlier runs are in its items
// table, behind a Bloom filter, so a new key — nearly every key of a first
// run — costs no query. A "maybe" or a hash match is confirmed by the ledger:
// a false positive costs a query, never a wrong answer. Past maxRun outcomes
// the log is merged into the items table and the map starts again, so memory
// stays bounded however long the input.
type ledgerStore struct {
	l      *ledger.Ledger
	mu     sync.Mutex
	bloom  *bloom.BloomFilter // keys in the items table, and this run's
	run    *runIndex          // this run's keys → log row ids
	maxRun int
	seed   maphash.Seed
}

// bloomCapacity keys at a 1% false-positive rate take 4.8 MB; past it the
// filter only says "maybe" more often.
const bloomCapacity = 4_000_000

// compactEvery is how many outcomes the run index holds before the log is
// merged (2^19 slots, 4 MB); a variable so tests can make it small. Larger
// merges were measured to cost more peak memory (SQLite's sorter) than the
// rarer stalls save.
var compactEvery = 300_000

func newLedgerStore(l *ledger.Ledger) (*ledgerStore, error) {
	s := &ledgerStore{l: l, bloom: bloom.NewWithEstimates(bloomCapacity, 0.01),
		run: newRunIndex(), maxRun: compactEvery, seed: maphash.MakeSeed()}
	if err := l.Keys(func(k string) { s.bloom.AddString(k) }); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *ledgerStore) Lookup(key string) (ledger.Seen, bool, error) {
	s.mu.Lock()
	var rows []int64
	s.run.candidates(maphash.String(s.seed, key), func(row int64) bool {
		rows = append(rows, row)
		return true
	})
	inItems := s.bloom.TestString(key)
	s.mu.Unlock()
	for _, row := range rows {
		k, seen, err := s.l.LogEntry(row)
		switch {
		case err == nil && k == key:
			return seen, true, nil
		case errors.Is(err, sql.ErrNoRows):
			inItems = true // merged into items meanwhile
		case err != nil:
			return seen, false, err
		}
	}
	if !inItems {
		return ledger.Seen{}, false, nil
	}
	return s.l.Lookup(key)
}

func (s *ledgerStore) Admit(*msg.Item) {}

func (s *ledgerStore) Write(runID int64, items []ledger.Entry, failures []ledger.RecordFailure) error {
	ids, err := s.l.Write(runID, items, failures)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range items {
		s.run.add(maphash.String(s.seed, e.Key), ids[i])
		// In the filter at once: after a merge the key is in the items
		// table, and the merge need not list the keys again.
		s.bloom.AddString(e.Key)
	}
	if s.run.len() < s.maxRun {
		return nil
	}
	// Holding mu, the gate waits: it sees either the log and the map, or
	// the items table and the filter, never neither.
	if err := s.l.Compact(nil); err != nil {
		return err
	}
	s.run.reset()
	return nil
}

// Finish leaves the run's log as it is: the next Open merges it, so the
// run ends as soon as its last outcome is recorded.
func (s *ledgerStore) Finish() error { return nil }

// memStore stands in for the ledger in a dry run: it remembers the keys the
// run admitted, to find duplicates, and writes nothing.
type memStore struct {
	mu   sync.Mutex
	seen map[string]ledger.Seen
}

func newMemStore() *memStore { return &memStore{seen: map[string]ledger.Seen{}} }

func (s *memStore) Lookup(key string) (ledger.Seen, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.seen[key]
	return v, ok, nil
}

func (s *memStore) Admit(it *msg.Item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[it.Key] = ledger.Seen{Origin: it.Origin.String(), Hash: it.Hash[:], Status: ledger.Loaded}
}

func (s *memStore) Write(int64, []ledger.Entry, []ledger.RecordFailure) error { return nil }

func (s *memStore) Finish() error { return nil }

// openKeys are the keys admitted but not yet recorded: in open batches or in
// flight. Bounded by the batcher's and the loader's limits.
type openKeys struct {
	mu       sync.Mutex
	m        map[string]openEntry
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

func (o *openKeys) release(keys []string) {
	o.mu.Lock()
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
