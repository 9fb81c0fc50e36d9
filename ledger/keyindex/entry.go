// Package keyindex answers, for the gate of a run, what the ledger knows of
// a key — without a query to the ledger's database for each record. It is
// derived from the ledger (which stays the truth, readable with the sqlite3
// shell) and rebuilt from it when it is missing or damaged.
//
// Entries are 32 bytes, keyed by a 120-bit SHA-256 fingerprint of the key.
// New entries go to a bounded in-memory table; a full table is sealed into a
// sorted, immutable run file with its own Bloom filter, block fences and
// block checksums; runs are merged in the background, newest first, so their
// number stays logarithmic and no pass ever rewrites the whole index while a
// run waits. A lookup costs a map probe, a Bloom probe per run and, for a key
// the index holds, one 4 KiB read.
package keyindex

import (
	"crypto/sha256"
	"encoding/binary"
)

// FP is a key's fingerprint: 120 bits of SHA-256, as unique as the UUIDv5
// keys themselves (122 bits of SHA-1).
type FP [15]byte

// Of is the fingerprint of key.
func Of(key string) FP {
	s := sha256.Sum256([]byte(key))
	var f FP
	copy(f[:], s[:15])
	return f
}

// Status of an entry.
const (
	Loaded  uint8 = 1
	Failed  uint8 = 2
	Pending uint8 = 3 // admitted, no outcome (dry runs)
)

// Entry is what the index keeps of a key: its latest outcome.
type Entry struct {
	FP     FP
	Status uint8
	Hash   uint64 // the first 8 bytes of the payload's hash
	Row    int64  // the ledger's row (< 2^40)
	Run    uint32 // the run that recorded it (< 2^24)
}

const entrySize = 32

func (e *Entry) put(b []byte) {
	copy(b[0:15], e.FP[:])
	b[15] = e.Status
	binary.BigEndian.PutUint64(b[16:24], e.Hash)
	r := uint64(e.Row)
	b[24], b[25], b[26], b[27], b[28] = byte(r>>32), byte(r>>24), byte(r>>16), byte(r>>8), byte(r)
	n := e.Run
	b[29], b[30], b[31] = byte(n>>16), byte(n>>8), byte(n)
}

func (e *Entry) get(b []byte) {
	copy(e.FP[:], b[0:15])
	e.Status = b[15]
	e.Hash = binary.BigEndian.Uint64(b[16:24])
	e.Row = int64(b[24])<<32 | int64(b[25])<<24 | int64(b[26])<<16 | int64(b[27])<<8 | int64(b[28])
	e.Run = uint32(b[29])<<16 | uint32(b[30])<<8 | uint32(b[31])
}

// less orders fingerprints as big-endian numbers.
func less(a, b *FP) bool {
	x, y := binary.BigEndian.Uint64(a[0:8]), binary.BigEndian.Uint64(b[0:8])
	if x != y {
		return x < y
	}
	return cmp7(a[8:15], b[8:15]) < 0
}

func cmp7(a, b []byte) int {
	for i := range 7 {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func compare(a, b *FP) int {
	switch {
	case less(a, b):
		return -1
	case *a == *b:
		return 0
	}
	return 1
}

// bloom positions come from the fingerprint itself: it is already a hash.
func (f *FP) halves() (uint64, uint64) {
	return binary.BigEndian.Uint64(f[0:8]), binary.BigEndian.Uint64(f[7:15]) | 1
}
