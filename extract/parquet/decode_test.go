package parquet

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go/encoding/bytestreamsplit"
	"github.com/parquet-go/parquet-go/encoding/delta"
	pgplain "github.com/parquet-go/parquet-go/encoding/plain"
	"github.com/parquet-go/parquet-go/encoding/rle"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	pq "github.com/xitongsys/parquet-go/parquet"
)

// The decoders are checked against another implementation's encoders
// (parquet-go/parquet-go), and fuzzed: damaged bytes are an error, never a
// panic, and checking a page (skip) agrees with reading it (next).

func byteArrays(vals []string) (data []byte, offsets []uint32) {
	offsets = append(offsets, 0)
	for _, v := range vals {
		data = append(data, v...)
		offsets = append(offsets, uint32(len(data)))
	}
	return data, offsets
}

// decodeAll reads n values, and checks that skipping k of them then reading
// one gives value k.
func decodeAll(t *testing.T, mk func() (valueDecoder, error), n int) []any {
	t.Helper()
	d, err := mk()
	require.NoError(t, err)
	out := make([]any, n)
	for i := range out {
		out[i], err = d.next()
		require.NoError(t, err, "value %d", i)
	}
	if n > 0 {
		k := n / 2
		d, err := mk()
		require.NoError(t, err)
		require.NoError(t, d.skip(k))
		v, err := d.next()
		require.NoError(t, err)
		require.Equal(t, out[k], v, "skip then next")
		d, _ = mk()
		require.NoError(t, d.skip(n), "the whole page checks")
	}
	return out
}

func TestDecodersAgainstAnotherEncoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ints64 := func(n int, spread int64) []int64 {
		v := make([]int64, n)
		for i := range v {
			v[i] = rng.Int64N(2*spread+1) - spread
		}
		return v
	}
	for _, n := range []int{0, 1, 7, 128, 129, 1000, 4099} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			// DELTA_BINARY_PACKED, 64 and 32 bits, with extremes and runs.
			for _, spread := range []int64{0, 3, 1 << 20, math.MaxInt64 / 2} {
				v := ints64(n, spread)
				if n > 2 {
					v[1], v[2] = math.MinInt64, math.MaxInt64
				}
				enc, err := (&delta.BinaryPackedEncoding{}).EncodeInt64(nil, v)
				require.NoError(t, err)
				got := decodeAll(t, func() (valueDecoder, error) { return newDelta(enc, false) }, n)
				for i := range v {
					require.Equal(t, v[i], got[i])
				}
				v32 := make([]int32, n)
				for i := range v32 {
					v32[i] = int32(v[i])
				}
				enc, err = (&delta.BinaryPackedEncoding{}).EncodeInt32(nil, v32)
				require.NoError(t, err)
				got = decodeAll(t, func() (valueDecoder, error) { return newDelta(enc, true) }, n)
				for i := range v32 {
					require.Equal(t, v32[i], got[i])
				}
			}
			// Byte arrays: shared prefixes, empty and multi-byte values.
			strs := make([]string, n)
			for i := range strs {
				strs[i] = strings.Repeat("ä", rng.IntN(4)) + fmt.Sprint("row ", i/3, " ✓")[:rng.IntN(8)]
			}
			data, offs := byteArrays(strs)
			dlba, err := (&delta.LengthByteArrayEncoding{}).EncodeByteArray(nil, data, offs)
			require.NoError(t, err)
			dba, err := (&delta.ByteArrayEncoding{}).EncodeByteArray(nil, data, offs)
			require.NoError(t, err)
			plain, err := (&pgplain.Encoding{}).EncodeByteArray(nil, data, offs)
			require.NoError(t, err)
			for name, mk := range map[string]func() (valueDecoder, error){
				"DELTA_LENGTH_BYTE_ARRAY": func() (valueDecoder, error) {
					return newValueDecoder(pq.Encoding_DELTA_LENGTH_BYTE_ARRAY, colType{typ: pq.Type_BYTE_ARRAY}, dlba, n, nil, nil)
				},
				"DELTA_BYTE_ARRAY": func() (valueDecoder, error) {
					return newValueDecoder(pq.Encoding_DELTA_BYTE_ARRAY, colType{typ: pq.Type_BYTE_ARRAY}, dba, n, nil, nil)
				},
				"PLAIN": func() (valueDecoder, error) {
					return &plainDecoder{t: colType{typ: pq.Type_BYTE_ARRAY}, data: plain}, nil
				},
			} {
				got := decodeAll(t, mk, n)
				for i := range strs {
					require.Equal(t, strs[i], got[i], "%s value %d", name, i)
				}
			}
			// RLE / bit-packed hybrid at every width levels and indices use.
			for w := 0; w <= 32; w += 1 + w/4 {
				v := make([]int32, n)
				for i := range v {
					if w > 0 {
						v[i] = int32(rng.Uint32() >> (32 - w))
					}
					if i%50 < 20 && i > 0 {
						v[i] = v[i-1] // runs
					}
				}
				enc, err := (&rle.Encoding{BitWidth: w}).EncodeInt32(nil, v)
				require.NoError(t, err)
				d, err := newRLE(enc, w)
				require.NoError(t, err)
				for i := range v {
					got, err := d.next()
					require.NoError(t, err, "width %d value %d", w, i)
					require.Equal(t, uint32(v[i]), uint32(got), "width %d value %d", w, i)
				}
				// Dictionary indices: a bit width byte, then the same.
				dict := make([]any, 1<<min(w, 16))
				for i := range dict {
					dict[i] = fmt.Sprint("v", i)
				}
				if w <= 16 {
					idx, err := (&rle.DictionaryEncoding{}).EncodeInt32(nil, v)
					require.NoError(t, err)
					got := decodeAll(t, func() (valueDecoder, error) { return newDictDecoder(idx, dict) }, n)
					for i := range v {
						require.Equal(t, dict[v[i]], got[i])
					}
				}
			}
			// BYTE_STREAM_SPLIT and PLAIN numbers.
			f64 := make([]float64, n)
			f32 := make([]float32, n)
			i64 := ints64(n, math.MaxInt64/2)
			for i := range f64 {
				f64[i], f32[i] = rng.NormFloat64()*1e6, float32(rng.NormFloat64())
			}
			bss := &bytestreamsplit.Encoding{}
			e64, _ := bss.EncodeDouble(nil, f64)
			e32, _ := bss.EncodeFloat(nil, f32)
			ei, _ := bss.EncodeInt64(nil, i64)
			p64, _ := (&pgplain.Encoding{}).EncodeDouble(nil, f64)
			for _, c := range []struct {
				enc  pq.Encoding
				typ  pq.Type
				data []byte
				want func(i int) any
			}{
				{pq.Encoding_BYTE_STREAM_SPLIT, pq.Type_DOUBLE, e64, func(i int) any { return f64[i] }},
				{pq.Encoding_BYTE_STREAM_SPLIT, pq.Type_FLOAT, e32, func(i int) any { return f32[i] }},
				{pq.Encoding_BYTE_STREAM_SPLIT, pq.Type_INT64, ei, func(i int) any { return i64[i] }},
				{pq.Encoding_PLAIN, pq.Type_DOUBLE, p64, func(i int) any { return f64[i] }},
			} {
				got := decodeAll(t, func() (valueDecoder, error) {
					return newValueDecoder(c.enc, colType{typ: c.typ}, c.data, n, nil, nil)
				}, n)
				for i := range got {
					require.Equal(t, c.want(i), got[i], "%v %v value %d", c.enc, c.typ, i)
				}
			}
		})
	}
}

func TestDecoderErrors(t *testing.T) {
	bytesT := colType{typ: pq.Type_BYTE_ARRAY}
	for _, tt := range []struct {
		Name string
		Mk   func() (valueDecoder, error)
		N    int
		Says string
	}{
		{"ByteArrayPastTheEnd", func() (valueDecoder, error) {
			return &plainDecoder{t: bytesT, data: binary.LittleEndian.AppendUint32(nil, 1<<31)}, nil
		}, 1, "past the"},
		{"IndexPastTheDictionary", func() (valueDecoder, error) { return newDictDecoder([]byte{2, 2, 3}, []any{"a", "b"}) }, 1, "past the dictionary's 2 values"},
		{"RunPastTheEnd", func() (valueDecoder, error) {
			return newDictDecoder([]byte{3, 0x03, 0xff}, []any{0, 1, 2, 3, 4, 5, 6, 7}) // 8 values promised, 2 there
		}, 8, "ends early"},
		{"WideRLEValue", func() (valueDecoder, error) { return newDictDecoder([]byte{1, 2, 3}, []any{"a", "b"}) }, 1, "wider than 1 bits"},
		{"BadDeltaHeader", func() (valueDecoder, error) { return newDelta([]byte{100, 4, 1, 0}, false) }, 1, "block of 100 values"},
		{"DeltaLengthsPastTheData", func() (valueDecoder, error) {
			enc, _ := (&delta.BinaryPackedEncoding{}).EncodeInt32(nil, []int32{5, 500})
			return newValueDecoder(pq.Encoding_DELTA_LENGTH_BYTE_ARRAY, bytesT, append(enc, "hello"...), 2, nil, nil)
		}, 2, "past the"},
		{"DictionaryPageMissing", func() (valueDecoder, error) {
			return newValueDecoder(pq.Encoding_RLE_DICTIONARY, bytesT, []byte{1, 2, 0}, 1, nil, nil)
		}, 1, "no dictionary page"},
		{"UnknownEncoding", func() (valueDecoder, error) {
			return newValueDecoder(pq.Encoding(42), bytesT, nil, 1, nil, nil)
		}, 1, "unsupported encoding"},
	} {
		t.Run(tt.Name, func(t *testing.T) {
			d, err := tt.Mk()
			if err == nil {
				err = d.skip(tt.N)
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.Says)
		})
	}
}

// FuzzDecoders feeds any bytes to every decoder: no panic, and a page that
// checks (skip) reads (next) — the guarantee that a page's rows are handed
// out only when all of them can be.
func FuzzDecoders(f *testing.F) {
	enc, _ := (&delta.BinaryPackedEncoding{}).EncodeInt64(nil, []int64{1, 5, -3, 1 << 40})
	f.Add(uint8(0), uint8(3), enc)
	f.Add(uint8(1), uint8(4), []byte{3, 0x03, 0x88, 0xc6, 0xfa})
	f.Add(uint8(2), uint8(2), []byte{2, 0, 0, 0, 'h', 'i', 0, 0, 0, 0})
	dlba, _ := (&delta.ByteArrayEncoding{}).EncodeByteArray(nil, []byte("abcabd"), []uint32{0, 3, 6})
	f.Add(uint8(4), uint8(2), dlba)
	f.Fuzz(func(t *testing.T, kind, n uint8, data []byte) {
		dict := []any{"a", "b", "c"}
		cases := []struct {
			enc pq.Encoding
			t   colType
		}{
			{pq.Encoding_DELTA_BINARY_PACKED, colType{typ: pq.Type_INT64}},
			{pq.Encoding_RLE_DICTIONARY, colType{typ: pq.Type_BYTE_ARRAY}},
			{pq.Encoding_PLAIN, colType{typ: pq.Type_BYTE_ARRAY}},
			{pq.Encoding_DELTA_LENGTH_BYTE_ARRAY, colType{typ: pq.Type_BYTE_ARRAY}},
			{pq.Encoding_DELTA_BYTE_ARRAY, colType{typ: pq.Type_BYTE_ARRAY}},
			{pq.Encoding_DELTA_BINARY_PACKED, colType{typ: pq.Type_INT32}},
			{pq.Encoding_RLE, colType{typ: pq.Type_BOOLEAN}},
			{pq.Encoding_BYTE_STREAM_SPLIT, colType{typ: pq.Type_DOUBLE}},
			{pq.Encoding_PLAIN, colType{typ: pq.Type_FIXED_LEN_BYTE_ARRAY, len: 3}},
			{pq.Encoding_PLAIN, colType{typ: pq.Type_BOOLEAN}},
		}
		c := cases[int(kind)%len(cases)]
		mk := func() (valueDecoder, error) { return newValueDecoder(c.enc, c.t, data, int(n), dict, nil) }
		d, err := mk()
		if err != nil {
			return
		}
		skipErr := d.skip(int(n))
		d, _ = mk()
		var nextErr error
		for range int(n) {
			if _, nextErr = d.next(); nextErr != nil {
				break
			}
		}
		if (skipErr == nil) != (nextErr == nil) {
			t.Fatalf("skip: %v, next: %v", skipErr, nextErr)
		}
		for _, w := range []int{0, 1, 5, 17, 32} {
			l, _ := newRLE(data, w)
			for range int(n) {
				if _, err := l.next(); err != nil {
					break
				}
			}
		}
	})
}
