package parquet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	pq "github.com/xitongsys/parquet-go/parquet"
)

// The decoders below read a page's values one at a time from its
// decompressed bytes, so a page costs its bytes and nothing per value: a
// dictionary-encoded page of a low-cardinality column can hold a whole row
// group's rows in a few kilobytes. Every read is bounds-checked — a damaged
// page is an error, never a panic or a huge allocation — and each decoder
// can skip values without producing them, to check a page before any of
// its rows is handed out.
//
// Encodings as the format specifies them:
// https://parquet.apache.org/docs/file-format/data-pages/encodings/

var errShort = errors.New("data ends early")

// valueDecoder yields a page's non-null values in order.
type valueDecoder interface {
	next() (any, error)
	skip(n int) error
}

// readBits reads width (≤ 64) bits at bit offset bit, least significant
// bit first; ok is false when they are not all in data.
func readBits(data []byte, bit int, width uint) (uint64, bool) {
	if width == 0 {
		return 0, true
	}
	end := bit + int(width)
	if bit < 0 || end > len(data)*8 {
		return 0, false
	}
	i, shift := bit>>3, uint(bit&7)
	var w uint64
	if i+8 <= len(data) {
		w = binary.LittleEndian.Uint64(data[i:])
	} else {
		for k := 0; i+k < len(data); k++ {
			w |= uint64(data[i+k]) << (8 * k)
		}
	}
	v := w >> shift
	if shift+width > 64 {
		v |= uint64(data[i+8]) << (64 - shift)
	}
	if width < 64 {
		v &= 1<<width - 1
	}
	return v, true
}

// rleDecoder reads the RLE / bit-packed hybrid encoding: repetition and
// definition levels, dictionary indices, RLE booleans.
type rleDecoder struct {
	data  []byte
	pos   int
	width uint
	rle   int    // values left in the current RLE run
	val   uint64 // its value
	bp    int    // values left in the current bit-packed run
	bit   int    // bit offset of the next bit-packed value
}

// maxRun bounds a run's length as read from the data: no page has more
// values, and it keeps counts in an int on every platform.
const maxRun = 1 << 31

func newRLE(data []byte, width int) (*rleDecoder, error) {
	if width < 0 || width > 32 {
		return nil, fmt.Errorf("RLE bit width %d out of range", width)
	}
	return &rleDecoder{data: data, width: uint(width)}, nil
}

func (d *rleDecoder) next() (uint64, error) {
	for d.rle == 0 && d.bp == 0 {
		if err := d.run(); err != nil {
			return 0, err
		}
	}
	if d.rle > 0 {
		d.rle--
		return d.val, nil
	}
	v, ok := readBits(d.data, d.bit, d.width)
	if !ok {
		return 0, fmt.Errorf("RLE: %w", errShort)
	}
	d.bp--
	d.bit += int(d.width)
	return v, nil
}

// run reads the next run's header.
func (d *rleDecoder) run() error {
	if d.pos >= len(d.data) {
		return fmt.Errorf("RLE: %w", errShort)
	}
	h, n := binary.Uvarint(d.data[d.pos:])
	if n <= 0 {
		return errors.New("RLE: bad run header")
	}
	d.pos += n
	if h&1 == 1 {
		groups := h >> 1
		if groups > maxRun/8 {
			return fmt.Errorf("RLE: bit-packed run of %d groups", groups)
		}
		count, size := int(groups)*8, int(groups)*int(d.width)
		if avail := len(d.data) - d.pos; size > avail {
			// Writers may leave out the unused tail of the last group.
			size = avail
			count = avail * 8 / int(d.width)
		}
		d.bp, d.bit = count, d.pos*8
		d.pos += size
		return nil
	}
	count := h >> 1
	if count > maxRun {
		return fmt.Errorf("RLE: run of %d values", count)
	}
	nb := int(d.width+7) / 8
	if d.pos+nb > len(d.data) {
		return fmt.Errorf("RLE: %w", errShort)
	}
	var v uint64
	for k := range nb {
		v |= uint64(d.data[d.pos+k]) << (8 * k)
	}
	if d.width < 64 && v >= 1<<d.width {
		return fmt.Errorf("RLE: value %d wider than %d bits", v, d.width)
	}
	d.rle, d.val = int(count), v
	d.pos += nb
	return nil
}

func (d *rleDecoder) skip(n int) error {
	for ; n > 0; n-- {
		if _, err := d.next(); err != nil {
			return err
		}
	}
	return nil
}

// levels reads a page's repetition or definition levels; max 0 means the
// column has none and every level is 0.
type levels struct {
	rle *rleDecoder
	max int32
}

func newLevels(data []byte, max int32) (*levels, error) {
	l := &levels{max: max}
	if max == 0 {
		return l, nil
	}
	w := 0
	for v := max; v > 0; v >>= 1 {
		w++
	}
	var err error
	l.rle, err = newRLE(data, w)
	return l, err
}

func (l *levels) next() (int32, error) {
	if l.rle == nil {
		return 0, nil
	}
	v, err := l.rle.next()
	if err != nil {
		return 0, err
	}
	if v > uint64(l.max) {
		return 0, fmt.Errorf("level %d above the column's maximum %d", v, l.max)
	}
	return int32(v), nil
}

// lengthPrefixed splits off the 4-byte little-endian length and the data it
// covers (v1 data pages' levels, RLE booleans).
func lengthPrefixed(data []byte) (body, rest []byte, err error) {
	if len(data) < 4 {
		return nil, nil, errShort
	}
	n := binary.LittleEndian.Uint32(data)
	if uint64(n) > uint64(len(data)-4) {
		return nil, nil, fmt.Errorf("length %d past the %d bytes left", n, len(data)-4)
	}
	return data[4 : 4+n], data[4+n:], nil
}

// colType is the physical type a decoder produces.
type colType struct {
	typ pq.Type
	len int // FIXED_LEN_BYTE_ARRAY's length
}

// plainDecoder reads PLAIN values. When str is set (a dictionary page), byte
// arrays are slices of it, so a dictionary costs one allocation.
type plainDecoder struct {
	t    colType
	data []byte
	str  string
	pos  int
	bit  int // booleans
}

func (d *plainDecoder) width() int {
	switch d.t.typ {
	case pq.Type_INT32, pq.Type_FLOAT:
		return 4
	case pq.Type_INT64, pq.Type_DOUBLE:
		return 8
	case pq.Type_INT96:
		return 12
	case pq.Type_FIXED_LEN_BYTE_ARRAY:
		return d.t.len
	}
	return 0
}

func (d *plainDecoder) bytes(a, b int) string {
	if d.str != "" {
		return d.str[a:b]
	}
	return string(d.data[a:b])
}

func (d *plainDecoder) next() (any, error) {
	switch d.t.typ {
	case pq.Type_BOOLEAN:
		v, ok := readBits(d.data, d.bit, 1)
		if !ok {
			return nil, fmt.Errorf("PLAIN: %w", errShort)
		}
		d.bit++
		return v == 1, nil
	case pq.Type_BYTE_ARRAY:
		if d.pos+4 > len(d.data) {
			return nil, fmt.Errorf("PLAIN: %w", errShort)
		}
		n := int(binary.LittleEndian.Uint32(d.data[d.pos:]))
		if n < 0 || n > len(d.data)-d.pos-4 {
			return nil, fmt.Errorf("PLAIN: byte array of %d bytes past the %d left", uint32(n), len(d.data)-d.pos-4)
		}
		a := d.pos + 4
		d.pos = a + n
		return d.bytes(a, d.pos), nil
	}
	w := d.width()
	if w <= 0 || d.pos+w > len(d.data) {
		return nil, fmt.Errorf("PLAIN: %w", errShort)
	}
	b := d.data[d.pos : d.pos+w]
	d.pos += w
	switch d.t.typ {
	case pq.Type_INT32:
		return int32(binary.LittleEndian.Uint32(b)), nil
	case pq.Type_INT64:
		return int64(binary.LittleEndian.Uint64(b)), nil
	case pq.Type_FLOAT:
		return math.Float32frombits(binary.LittleEndian.Uint32(b)), nil
	case pq.Type_DOUBLE:
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	}
	return d.bytes(d.pos-w, d.pos), nil
}

func (d *plainDecoder) skip(n int) error {
	switch d.t.typ {
	case pq.Type_BOOLEAN:
		if d.bit+n > len(d.data)*8 {
			return fmt.Errorf("PLAIN: %w", errShort)
		}
		d.bit += n
		return nil
	case pq.Type_BYTE_ARRAY:
		for ; n > 0; n-- {
			if d.pos+4 > len(d.data) {
				return fmt.Errorf("PLAIN: %w", errShort)
			}
			l := int(binary.LittleEndian.Uint32(d.data[d.pos:]))
			if l < 0 || l > len(d.data)-d.pos-4 {
				return fmt.Errorf("PLAIN: byte array of %d bytes past the %d left", uint32(l), len(d.data)-d.pos-4)
			}
			d.pos += 4 + l
		}
		return nil
	}
	w := d.width()
	if w <= 0 || n > (len(d.data)-d.pos)/w {
		return fmt.Errorf("PLAIN: %w", errShort)
	}
	d.pos += n * w
	return nil
}

// dictDecoder reads RLE_DICTIONARY / PLAIN_DICTIONARY indices and yields
// the dictionary's values.
type dictDecoder struct {
	idx  *rleDecoder
	dict []any
}

func newDictDecoder(data []byte, dict []any) (*dictDecoder, error) {
	if len(data) < 1 {
		return nil, fmt.Errorf("dictionary indices: %w", errShort)
	}
	r, err := newRLE(data[1:], int(data[0]))
	if err != nil {
		return nil, fmt.Errorf("dictionary indices: %w", err)
	}
	return &dictDecoder{idx: r, dict: dict}, nil
}

func (d *dictDecoder) index() (int, error) {
	i, err := d.idx.next()
	if err != nil {
		return 0, fmt.Errorf("dictionary indices: %w", err)
	}
	if i >= uint64(len(d.dict)) {
		return 0, fmt.Errorf("dictionary index %d past the dictionary's %d values", i, len(d.dict))
	}
	return int(i), nil
}

func (d *dictDecoder) next() (any, error) {
	i, err := d.index()
	if err != nil {
		return nil, err
	}
	return d.dict[i], nil
}

func (d *dictDecoder) skip(n int) error {
	for ; n > 0; n-- {
		if _, err := d.index(); err != nil {
			return err
		}
	}
	return nil
}

// boolRLE reads RLE-encoded booleans (a 4-byte length, then bit width 1).
type boolRLE struct{ r *rleDecoder }

func newBoolRLE(data []byte) (*boolRLE, error) {
	body, _, err := lengthPrefixed(data)
	if err != nil {
		return nil, fmt.Errorf("RLE booleans: %w", err)
	}
	r, _ := newRLE(body, 1)
	return &boolRLE{r}, nil
}

func (d *boolRLE) next() (any, error) {
	v, err := d.r.next()
	return v == 1, err
}

func (d *boolRLE) skip(n int) error { return d.r.skip(n) }

// deltaDecoder reads DELTA_BINARY_PACKED integers, one miniblock at a time.
type deltaDecoder struct {
	data      []byte
	pos       int
	is32      bool
	perBlock  int // miniblocks a block
	perMini   int // values a miniblock
	total     int // values left in the stream, the first included
	started   bool
	last      int64
	minDelta  int64
	widths    []byte // the current block's miniblock bit widths
	mini      int    // current miniblock of the block
	left      int    // values left in the current miniblock
	bit       int    // bit offset of its next delta
	width     uint
	blockVals int
}

func newDelta(data []byte, is32 bool) (*deltaDecoder, error) {
	d := &deltaDecoder{data: data, is32: is32}
	block, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	minis, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	total, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	first, err := d.varint()
	if err != nil {
		return nil, err
	}
	if block == 0 || block%128 != 0 || block > 1<<20 || minis == 0 || block%minis != 0 || (block/minis)%32 != 0 {
		return nil, fmt.Errorf("DELTA_BINARY_PACKED: block of %d values in %d miniblocks", block, minis)
	}
	if total > maxRun {
		return nil, fmt.Errorf("DELTA_BINARY_PACKED: %d values", total)
	}
	d.perBlock, d.perMini, d.blockVals = int(minis), int(block/minis), int(block)
	d.total, d.last = int(total), first
	return d, nil
}

func (d *deltaDecoder) uvarint() (uint64, error) {
	v, n := binary.Uvarint(d.data[min(d.pos, len(d.data)):])
	if n <= 0 {
		return 0, fmt.Errorf("DELTA_BINARY_PACKED: bad varint at byte %d", d.pos)
	}
	d.pos += n
	return v, nil
}

func (d *deltaDecoder) varint() (int64, error) {
	v, n := binary.Varint(d.data[min(d.pos, len(d.data)):])
	if n <= 0 {
		return 0, fmt.Errorf("DELTA_BINARY_PACKED: bad varint at byte %d", d.pos)
	}
	d.pos += n
	return v, nil
}

// miniblock moves to the next miniblock that holds values, reading a block
// header when one begins.
func (d *deltaDecoder) miniblock() error {
	if d.widths == nil || d.mini+1 >= d.perBlock {
		md, err := d.varint()
		if err != nil {
			return err
		}
		if d.pos+d.perBlock > len(d.data) {
			return fmt.Errorf("DELTA_BINARY_PACKED: %w", errShort)
		}
		d.minDelta, d.widths, d.mini = md, d.data[d.pos:d.pos+d.perBlock], 0
		d.pos += d.perBlock
	} else {
		d.mini++
	}
	w := uint(d.widths[d.mini])
	if w > 64 || (d.is32 && w > 32) {
		return fmt.Errorf("DELTA_BINARY_PACKED: miniblock bit width %d", w)
	}
	size := d.perMini * int(w) / 8
	if d.pos+size > len(d.data) {
		return fmt.Errorf("DELTA_BINARY_PACKED: %w", errShort)
	}
	d.width, d.bit, d.left = w, d.pos*8, d.perMini
	d.pos += size
	return nil
}

func (d *deltaDecoder) nextInt() (int64, error) {
	if d.total <= 0 {
		return 0, fmt.Errorf("DELTA_BINARY_PACKED: %w", errShort)
	}
	d.total--
	if !d.started {
		d.started = true
		return d.norm(d.last), nil
	}
	if d.left == 0 {
		if err := d.miniblock(); err != nil {
			return 0, err
		}
	}
	v, _ := readBits(d.data, d.bit, d.width) // in bounds: miniblock checked its size
	d.bit += int(d.width)
	d.left--
	d.last = d.norm(d.last + d.minDelta + int64(v))
	return d.last, nil
}

// norm wraps to 32 bits for INT32 columns, as their writers' arithmetic did.
func (d *deltaDecoder) norm(v int64) int64 {
	if d.is32 {
		return int64(int32(v))
	}
	return v
}

func (d *deltaDecoder) next() (any, error) {
	v, err := d.nextInt()
	if err != nil {
		return nil, err
	}
	if d.is32 {
		return int32(v), nil
	}
	return v, nil
}

func (d *deltaDecoder) skip(n int) error {
	for ; n > 0; n-- {
		if _, err := d.nextInt(); err != nil {
			return err
		}
	}
	return nil
}

// end walks the rest of the stream without producing values and returns the
// offset just past it: the byte arrays of DELTA_LENGTH_BYTE_ARRAY start there.
func (d *deltaDecoder) end() (int, error) {
	c := *d
	if c.total > 0 && !c.started {
		c.total--
		c.started = true
	}
	c.total -= min(c.total, c.left)
	c.left = 0
	for c.total > 0 {
		if err := c.miniblock(); err != nil {
			return 0, err
		}
		c.total -= min(c.total, c.perMini)
		c.left = 0
	}
	return c.pos, nil
}

// deltaLengthDecoder reads DELTA_LENGTH_BYTE_ARRAY: the lengths, delta
// encoded, then the bytes one after the other.
type deltaLengthDecoder struct {
	lens *deltaDecoder
	data []byte
	pos  int
}

func newDeltaLength(data []byte) (*deltaLengthDecoder, int, error) {
	lens, err := newDelta(data, true)
	if err != nil {
		return nil, 0, fmt.Errorf("lengths: %w", err)
	}
	end, err := lens.end()
	if err != nil {
		return nil, 0, fmt.Errorf("lengths: %w", err)
	}
	n := 0
	for c := *lens; c.total > 0; {
		l, err := c.nextInt()
		if err != nil {
			return nil, 0, fmt.Errorf("lengths: %w", err)
		}
		if l < 0 {
			return nil, 0, fmt.Errorf("negative length %d", l)
		}
		if n += int(l); n > len(data)-end {
			return nil, 0, fmt.Errorf("lengths add up past the %d bytes left", len(data)-end)
		}
	}
	return &deltaLengthDecoder{lens: lens, data: data, pos: end}, end + n, nil
}

func (d *deltaLengthDecoder) nextBytes() ([]byte, error) {
	l, err := d.lens.nextInt()
	if err != nil {
		return nil, err
	}
	// Lengths were checked against the data when the decoder was made.
	b := d.data[d.pos : d.pos+int(l)]
	d.pos += int(l)
	return b, nil
}

func (d *deltaLengthDecoder) next() (any, error) {
	b, err := d.nextBytes()
	if err != nil {
		return nil, fmt.Errorf("DELTA_LENGTH_BYTE_ARRAY: %w", err)
	}
	return string(b), nil
}

func (d *deltaLengthDecoder) skip(n int) error {
	for ; n > 0; n-- {
		if _, err := d.nextBytes(); err != nil {
			return fmt.Errorf("DELTA_LENGTH_BYTE_ARRAY: %w", err)
		}
	}
	return nil
}

// deltaByteArrayDecoder reads DELTA_BYTE_ARRAY: each value is a prefix of
// the one before and a suffix.
type deltaByteArrayDecoder struct {
	prefix *deltaDecoder
	suffix *deltaLengthDecoder
	prev   []byte // the value before
}

func newDeltaByteArray(data []byte) (*deltaByteArrayDecoder, error) {
	p, err := newDelta(data, true)
	if err != nil {
		return nil, fmt.Errorf("DELTA_BYTE_ARRAY prefixes: %w", err)
	}
	end, err := p.end()
	if err != nil {
		return nil, fmt.Errorf("DELTA_BYTE_ARRAY prefixes: %w", err)
	}
	s, _, err := newDeltaLength(data[end:])
	if err != nil {
		return nil, fmt.Errorf("DELTA_BYTE_ARRAY suffixes: %w", err)
	}
	return &deltaByteArrayDecoder{prefix: p, suffix: s}, nil
}

// step reads the next prefix length and suffix into prev.
func (d *deltaByteArrayDecoder) step() error {
	p, err := d.prefix.nextInt()
	if err != nil {
		return fmt.Errorf("DELTA_BYTE_ARRAY: %w", err)
	}
	s, err := d.suffix.nextBytes()
	if err != nil {
		return fmt.Errorf("DELTA_BYTE_ARRAY: %w", err)
	}
	if p < 0 || int(p) > len(d.prev) {
		return fmt.Errorf("DELTA_BYTE_ARRAY: prefix of %d bytes of a %d-byte value", p, len(d.prev))
	}
	d.prev = append(d.prev[:p], s...)
	return nil
}

func (d *deltaByteArrayDecoder) next() (any, error) {
	if err := d.step(); err != nil {
		return nil, err
	}
	return string(d.prev), nil
}

func (d *deltaByteArrayDecoder) skip(n int) error {
	for ; n > 0; n-- {
		if err := d.step(); err != nil {
			return err
		}
	}
	return nil
}

// splitDecoder reads BYTE_STREAM_SPLIT: byte k of value i is at k×n + i.
type splitDecoder struct {
	t    colType
	data []byte
	n, w int
	i    int
}

func newSplit(data []byte, t colType, n int) (*splitDecoder, error) {
	w := (&plainDecoder{t: t}).width()
	if w <= 0 || t.typ == pq.Type_INT96 {
		return nil, fmt.Errorf("BYTE_STREAM_SPLIT on %v", t.typ)
	}
	if n > len(data)/w {
		return nil, fmt.Errorf("BYTE_STREAM_SPLIT: %d values in %d bytes", n, len(data))
	}
	return &splitDecoder{t: t, data: data, n: n, w: w}, nil
}

func (d *splitDecoder) next() (any, error) {
	if d.i >= d.n {
		return nil, fmt.Errorf("BYTE_STREAM_SPLIT: %w", errShort)
	}
	b := make([]byte, d.w)
	for k := range d.w {
		b[k] = d.data[k*d.n+d.i]
	}
	d.i++
	p := plainDecoder{t: d.t, data: b}
	return p.next()
}

func (d *splitDecoder) skip(n int) error {
	if n > d.n-d.i {
		return fmt.Errorf("BYTE_STREAM_SPLIT: %w", errShort)
	}
	d.i += n
	return nil
}

// newValueDecoder returns the decoder of a data page's values; n is the
// number of non-null values the levels promise.
func newValueDecoder(enc pq.Encoding, t colType, data []byte, n int, dict []any, dictErr error) (valueDecoder, error) {
	switch enc {
	case pq.Encoding_PLAIN:
		return &plainDecoder{t: t, data: data}, nil
	case pq.Encoding_PLAIN_DICTIONARY, pq.Encoding_RLE_DICTIONARY:
		if dictErr != nil {
			return nil, dictErr
		}
		if dict == nil {
			return nil, errors.New("dictionary-encoded page with no dictionary page before it")
		}
		return newDictDecoder(data, dict)
	case pq.Encoding_RLE:
		if t.typ != pq.Type_BOOLEAN {
			return nil, fmt.Errorf("RLE values of type %v", t.typ)
		}
		return newBoolRLE(data)
	case pq.Encoding_DELTA_BINARY_PACKED:
		if t.typ != pq.Type_INT32 && t.typ != pq.Type_INT64 {
			return nil, fmt.Errorf("DELTA_BINARY_PACKED values of type %v", t.typ)
		}
		return newDelta(data, t.typ == pq.Type_INT32)
	case pq.Encoding_DELTA_LENGTH_BYTE_ARRAY:
		if t.typ != pq.Type_BYTE_ARRAY {
			return nil, fmt.Errorf("DELTA_LENGTH_BYTE_ARRAY values of type %v", t.typ)
		}
		d, _, err := newDeltaLength(data)
		if err != nil {
			return nil, fmt.Errorf("DELTA_LENGTH_BYTE_ARRAY: %w", err)
		}
		return d, nil
	case pq.Encoding_DELTA_BYTE_ARRAY:
		if t.typ != pq.Type_BYTE_ARRAY && t.typ != pq.Type_FIXED_LEN_BYTE_ARRAY {
			return nil, fmt.Errorf("DELTA_BYTE_ARRAY values of type %v", t.typ)
		}
		return newDeltaByteArray(data)
	case pq.Encoding_BYTE_STREAM_SPLIT:
		return newSplit(data, t, n)
	}
	return nil, fmt.Errorf("unsupported encoding %v", enc)
}
