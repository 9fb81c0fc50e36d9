package pipeline

import (
	"hash/maphash"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRunIndexFindsEveryRowThroughGrowth(t *testing.T) {
	x := newRunIndex()
	seed := maphash.MakeSeed()
	const n = 200_000
	for i := range n {
		x.add(maphash.String(seed, itoa(i)), int64(i+1))
	}
	assert.Equal(t, n, x.len())
	for _, i := range []int{0, 1, 77_777, n - 1} {
		var rows []int64
		x.candidates(maphash.String(seed, itoa(i)), func(row int64) bool { rows = append(rows, row); return true })
		assert.True(t, slices.Contains(rows, int64(i+1)), "key %d", i)
	}
	var none []int64
	x.candidates(maphash.String(seed, "never added"), func(row int64) bool { none = append(none, row); return true })
	assert.LessOrEqual(t, len(none), 1, "an absent key meets at most a rare tag collision")
	x.reset()
	assert.Equal(t, 0, x.len())
}

// Keys whose hashes share their high 32 bits are all found: the caller tells
// them apart.
func TestRunIndexKeepsCollidingKeys(t *testing.T) {
	x := newRunIndex()
	h := uint64(0xDEADBEEF_00000001)
	x.add(h, 10)
	x.add(h^0x1234, 20) // same high bits, other low bits
	var rows []int64
	x.candidates(h, func(row int64) bool { rows = append(rows, row); return true })
	assert.ElementsMatch(t, []int64{10, 20}, rows)
}

func itoa(i int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
		if i == 0 {
			return string(b)
		}
	}
}
