package pipeline

// runIndex maps the keys recorded in this run to their log row ids, in 8
// bytes a key: a 32-bit hash and a 32-bit row id per slot, open addressing.
// Two keys may share a hash: a lookup returns every candidate row, and the
// caller confirms the key against the ledger — so the index can be small
// without ever answering wrong.
type runIndex struct {
	slots []uint64 // hash<<32 | row id; 0 is empty
	n     int
}

func newRunIndex() *runIndex { return &runIndex{slots: make([]uint64, 1024)} }

// tag keeps a hash's high bits, never zero, so that a slot is never empty
// by accident.
func tag(h uint64) uint64 { return (h>>32 | 1) << 32 }

func (x *runIndex) add(h uint64, row int64) {
	if (x.n+1)*4 > len(x.slots)*3 { // keep the load under 3/4
		x.grow()
	}
	v := tag(h) | uint64(uint32(row))
	x.put(v, x.home(v))
	x.n++
}

func (x *runIndex) put(v, h uint64) {
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if x.slots[i] == 0 {
			x.slots[i] = v
			return
		}
	}
}

func (x *runIndex) grow() {
	old := x.slots
	x.slots = make([]uint64, 2*len(old))
	for _, v := range old {
		if v != 0 {
			// The slot's position came from the hash's low bits, which the
			// slot does not keep: rehash from the tag instead (its high
			// bits), consistently for add and lookup after a grow.
			x.put(v, x.home(v))
		}
	}
}

// home is where a stored value is looked for: from its tag, so that moves
// in grow and lookups agree.
func (x *runIndex) home(v uint64) uint64 { return v >> 32 }

// candidates calls fn with the row of every key that may be h.
func (x *runIndex) candidates(h uint64, fn func(row int64) bool) {
	t := tag(h)
	mask := uint64(len(x.slots) - 1)
	for i := x.home(t) & mask; ; i = (i + 1) & mask {
		v := x.slots[i]
		if v == 0 {
			return
		}
		if v&^0xFFFFFFFF == t && !fn(int64(uint32(v))) {
			return
		}
	}
}

func (x *runIndex) len() int { return x.n }

func (x *runIndex) reset() {
	clear(x.slots)
	x.n = 0
}
