package keyindex

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func entry(key string, status uint8, row int64, run uint32) Entry {
	return Entry{FP: Of(key), Status: status, Hash: uint64(row) * 7919, Row: row, Run: run}
}

func TestEntryRoundTrip(t *testing.T) {
	e := Entry{FP: Of("k"), Status: Failed, Hash: 0xdeadbeefcafef00d, Row: 1<<40 - 1, Run: 1<<24 - 1}
	var b [entrySize]byte
	e.put(b[:])
	var got Entry
	got.get(b[:])
	assert.Equal(t, e, got)
}

// A model test: whatever the order of adds, seals, merges and reopens, a
// lookup answers what a map would.
func TestIndexAgreesWithAMap(t *testing.T) {
	dir := t.TempDir()
	x, covered, err := Open(dir, 100)
	require.NoError(t, err)
	assert.Zero(t, covered)
	model := map[string]Entry{}
	rng := rand.New(rand.NewPCG(1, 2))
	row := int64(0)
	check := func() {
		t.Helper()
		for k, want := range model {
			got, ok, err := x.Lookup(Of(k))
			require.NoError(t, err)
			require.True(t, ok, k)
			require.Equal(t, want, got, k)
		}
		for i := range 200 {
			_, ok, err := x.Lookup(Of("absent-" + strconv.Itoa(i)))
			require.NoError(t, err)
			require.False(t, ok)
		}
	}
	for round := range 40 {
		var batch []Entry
		for range rng.IntN(60) + 1 {
			// Keys repeat across rounds: a later outcome wins.
			k := "key-" + strconv.Itoa(rng.IntN(2000))
			row++
			e := entry(k, uint8(rng.IntN(2)+1), row, uint32(round+1))
			batch = append(batch, e)
			model[k] = e
		}
		require.NoError(t, x.Add(batch, row))
		if round%7 == 3 {
			require.NoError(t, x.Compact(context.Background()))
		}
		if round%11 == 5 {
			require.NoError(t, x.Flush())
			require.NoError(t, x.Close())
			x, covered, err = Open(dir, 100)
			require.NoError(t, err)
			assert.Equal(t, row, covered, "everything was sealed")
		}
		check()
	}
	require.NoError(t, x.Compact(context.Background()))
	assert.Less(t, x.Len(), 3*mergeWidth, "runs are merged as they pile up")
	check()
	require.NoError(t, x.Close())
}

// What a run did not seal is not covered: the ledger catches it up.
func TestUnsealedEntriesAreNotCovered(t *testing.T) {
	dir := t.TempDir()
	x, _, err := Open(dir, 1000)
	require.NoError(t, err)
	require.NoError(t, x.Add([]Entry{entry("a", Loaded, 1, 1)}, 1))
	require.NoError(t, x.Flush())
	require.NoError(t, x.Add([]Entry{entry("b", Loaded, 2, 1)}, 2))
	require.NoError(t, x.Close()) // a crash: b was never sealed
	x, covered, err := Open(dir, 1000)
	require.NoError(t, err)
	defer x.Close()
	assert.Equal(t, int64(1), covered)
	_, ok, _ := x.Lookup(Of("a"))
	assert.True(t, ok)
	_, ok, _ = x.Lookup(Of("b"))
	assert.False(t, ok, "the caller re-adds rows after covered")
}

func sealed(t *testing.T, n int) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	x, _, err := Open(dir, n+1)
	require.NoError(t, err)
	var es []Entry
	for i := range n {
		es = append(es, entry(strconv.Itoa(i), Loaded, int64(i+1), 1))
	}
	require.NoError(t, x.Add(es, int64(n)))
	require.NoError(t, x.Flush())
	require.NoError(t, x.Close())
	names, err := runNames(dir)
	require.NoError(t, err)
	require.Len(t, names, 1)
	return dir, names
}

// Damage is found, never read as an answer: the ledger then rebuilds the
// index.
func TestDamageIsFound(t *testing.T) {
	t.Run("a flipped byte in a block", func(t *testing.T) {
		dir, names := sealed(t, 1000)
		path := filepath.Join(dir, names[0])
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		b[headerSize+100] ^= 0xff
		require.NoError(t, os.WriteFile(path, b, 0o644))
		x, _, err := Open(dir, 0)
		require.NoError(t, err, "blocks are checked when read")
		defer x.Close()
		var errs int
		for i := range 1000 {
			if _, _, err := x.Lookup(Of(strconv.Itoa(i))); err != nil {
				require.ErrorIs(t, err, ErrCorrupt)
				errs++
			}
		}
		assert.Positive(t, errs)
	})
	t.Run("a truncated run", func(t *testing.T) {
		dir, names := sealed(t, 1000)
		path := filepath.Join(dir, names[0])
		st, _ := os.Stat(path)
		require.NoError(t, os.Truncate(path, st.Size()-10))
		_, _, err := Open(dir, 0)
		assert.ErrorIs(t, err, ErrCorrupt)
	})
	t.Run("a missing manifest", func(t *testing.T) {
		dir, _ := sealed(t, 10)
		require.NoError(t, os.Remove(filepath.Join(dir, manifestName)))
		_, _, err := Open(dir, 0)
		assert.ErrorIs(t, err, ErrCorrupt)
	})
	t.Run("a missing run", func(t *testing.T) {
		dir, names := sealed(t, 10)
		require.NoError(t, os.Remove(filepath.Join(dir, names[0])))
		_, _, err := Open(dir, 0)
		assert.ErrorIs(t, err, ErrCorrupt)
	})
}

func TestStraysAreRemoved(t *testing.T) {
	dir, names := sealed(t, 10)
	for _, stray := range []string{"000099.run", "000007.run.tmp", manifestName + ".tmp"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, stray), []byte("left by a crash"), 0o644))
	}
	x, _, err := Open(dir, 0)
	require.NoError(t, err)
	defer x.Close()
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got []string
	for _, e := range left {
		got = append(got, e.Name())
	}
	assert.ElementsMatch(t, []string{manifestName, names[0]}, got)
}

func TestBloomHasNoFalseNegatives(t *testing.T) {
	bloom := make([]uint64, 160)
	for i := range 1000 {
		fp := Of(strconv.Itoa(i))
		bloomAdd(bloom, &fp)
	}
	fps := 0
	for i := range 1000 {
		fp := Of(strconv.Itoa(i))
		require.True(t, bloomHas(bloom, &fp))
		other := Of("x" + strconv.Itoa(i))
		if bloomHas(bloom, &other) {
			fps++
		}
	}
	assert.Less(t, fps, 50, "about 1% false positives at 10 bits a key")
}

func TestOrderIsBigEndian(t *testing.T) {
	var a, b FP
	binary.BigEndian.PutUint64(a[:], 1)
	binary.BigEndian.PutUint64(b[:], 2)
	assert.True(t, less(&a, &b))
	a[14], b[14] = 9, 1
	binary.BigEndian.PutUint64(b[:], 1)
	assert.True(t, less(&b, &a))
	assert.False(t, errors.Is(nil, ErrCorrupt))
}

func BenchmarkLookup(b *testing.B) {
	dir := b.TempDir()
	x, _, err := Open(dir, 1<<17)
	require.NoError(b, err)
	defer x.Close()
	const n = 1 << 20
	es := make([]Entry, 0, 4096)
	for i := range n {
		es = append(es, entry(strconv.Itoa(i), Loaded, int64(i+1), 1))
		if len(es) == cap(es) {
			require.NoError(b, x.Add(es, int64(i+1)))
			es = es[:0]
		}
	}
	require.NoError(b, x.Flush())
	require.NoError(b, x.Compact(context.Background()))
	fps := make([]FP, 4096)
	for i := range fps {
		fps[i] = Of(strconv.Itoa(i * 251 % n))
	}
	b.ResetTimer()
	for i := range b.N {
		if _, ok, err := x.Lookup(fps[i%len(fps)]); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
