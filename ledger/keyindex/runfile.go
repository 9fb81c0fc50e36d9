package keyindex

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sort"
)

// A run file:
//
//	[0, 4096)          header (magic)
//	[4096, 4096+32n)   entries sorted by fingerprint, in blocks of 128 (4 KiB)
//	                   fences: the first fingerprint of each block, 15 bytes each
//	                   checksums: CRC-32C of each block, 4 bytes each
//	                   Bloom filter words, 8 bytes each
//	last 64 bytes      footer: magic, n, blocks, words, CRC-32C of fences+checksums+Bloom
const (
	headerSize  = 4096
	blockSize   = 4096
	perBlock    = blockSize / entrySize
	footerSize  = 64
	bloomK      = 7
	bitsPerKey  = 10
	magicHeader = "msgmigrate key index run 1\n"
	magicFooter = "MMKIRUN1"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is a run file or manifest that does not read back as written:
// the index is rebuilt from the ledger.
var ErrCorrupt = errors.New("key index: corrupt")

// run is an open, immutable run file.
type run struct {
	name   string
	f      *os.File
	n      int
	fences []FP
	crcs   []uint32
	bloom  []uint64
}

// writeRun writes sorted, unique entries to path (through a temporary file
// and fsync, so a run file is whole or absent).
func writeRun(path string, next func() (Entry, bool), n int) (err error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 256<<10)
	hdr := make([]byte, headerSize)
	copy(hdr, magicHeader)
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	words := max(1, (n*bitsPerKey+63)/64)
	bloom := make([]uint64, words)
	var fences []FP
	var crcs []uint32
	var block [blockSize]byte
	inBlock, count := 0, 0
	flush := func() error {
		if inBlock == 0 {
			return nil
		}
		b := block[:inBlock*entrySize]
		crcs = append(crcs, crc32.Checksum(b, castagnoli))
		_, err := w.Write(b)
		inBlock = 0
		return err
	}
	var prev FP
	for {
		e, ok := next()
		if !ok {
			break
		}
		if count > 0 && !less(&prev, &e.FP) {
			return fmt.Errorf("key index: run %s: entries out of order", path)
		}
		prev = e.FP
		if inBlock == 0 {
			fences = append(fences, e.FP)
		}
		e.put(block[inBlock*entrySize:])
		inBlock++
		count++
		bloomAdd(bloom, &e.FP)
		if inBlock == perBlock {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	meta := make([]byte, 0, len(fences)*15+len(crcs)*4+len(bloom)*8)
	for i := range fences {
		meta = append(meta, fences[i][:]...)
	}
	for _, c := range crcs {
		meta = binary.BigEndian.AppendUint32(meta, c)
	}
	for _, word := range bloom {
		meta = binary.BigEndian.AppendUint64(meta, word)
	}
	foot := make([]byte, footerSize)
	copy(foot, magicFooter)
	binary.BigEndian.PutUint64(foot[8:], uint64(count))
	binary.BigEndian.PutUint64(foot[16:], uint64(len(fences)))
	binary.BigEndian.PutUint64(foot[24:], uint64(words))
	binary.BigEndian.PutUint32(foot[32:], crc32.Checksum(meta, castagnoli))
	if _, err := w.Write(meta); err != nil {
		return err
	}
	if _, err := w.Write(foot); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func bloomAdd(bloom []uint64, fp *FP) {
	m := uint64(len(bloom) * 64)
	h1, h2 := fp.halves()
	for i := range uint64(bloomK) {
		bit := (h1 + i*h2) % m
		bloom[bit/64] |= 1 << (bit % 64)
	}
}

func bloomHas(bloom []uint64, fp *FP) bool {
	m := uint64(len(bloom) * 64)
	h1, h2 := fp.halves()
	for i := range uint64(bloomK) {
		bit := (h1 + i*h2) % m
		if bloom[bit/64]&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

// openRun opens a run file and reads its fences, checksums and Bloom filter.
func openRun(dir, name string) (*run, error) {
	f, err := os.Open(dir + "/" + name)
	if err != nil {
		return nil, err
	}
	r, err := readRunMeta(f, name)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func readRunMeta(f *os.File, name string) (*run, error) {
	bad := func(why string) error { return fmt.Errorf("%w: run %s: %s", ErrCorrupt, name, why) }
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < headerSize+footerSize {
		return nil, bad("too short")
	}
	foot := make([]byte, footerSize)
	if _, err := f.ReadAt(foot, size-footerSize); err != nil {
		return nil, err
	}
	if string(foot[:8]) != magicFooter {
		return nil, bad("no footer")
	}
	n := binary.BigEndian.Uint64(foot[8:])
	nb := binary.BigEndian.Uint64(foot[16:])
	words := binary.BigEndian.Uint64(foot[24:])
	metaLen := nb*15 + nb*4 + words*8
	if n > 1<<40 || nb != (n+perBlock-1)/perBlock || uint64(size) != headerSize+n*entrySize+metaLen+footerSize {
		return nil, bad("sizes do not add up")
	}
	meta := make([]byte, metaLen)
	if _, err := f.ReadAt(meta, int64(headerSize+n*entrySize)); err != nil {
		return nil, err
	}
	if crc32.Checksum(meta, castagnoli) != binary.BigEndian.Uint32(foot[32:]) {
		return nil, bad("checksum of its fences")
	}
	r := &run{name: name, f: f, n: int(n), fences: make([]FP, nb), crcs: make([]uint32, nb), bloom: make([]uint64, words)}
	for i := range r.fences {
		copy(r.fences[i][:], meta[i*15:])
	}
	off := int(nb) * 15
	for i := range r.crcs {
		r.crcs[i] = binary.BigEndian.Uint32(meta[off+i*4:])
	}
	off += int(nb) * 4
	for i := range r.bloom {
		r.bloom[i] = binary.BigEndian.Uint64(meta[off+i*8:])
	}
	return r, nil
}

// block reads block i, checked against its checksum.
func (r *run) block(i int, buf []byte) ([]byte, error) {
	n := min(perBlock, r.n-i*perBlock) * entrySize
	b := buf[:n]
	if _, err := r.f.ReadAt(b, int64(headerSize+i*blockSize)); err != nil {
		return nil, fmt.Errorf("%w: run %s: block %d: %v", ErrCorrupt, r.name, i, err)
	}
	if crc32.Checksum(b, castagnoli) != r.crcs[i] {
		return nil, fmt.Errorf("%w: run %s: block %d: checksum", ErrCorrupt, r.name, i)
	}
	return b, nil
}

// lookup finds fp in the run.
func (r *run) lookup(fp *FP, buf []byte) (Entry, bool, error) {
	var e Entry
	if r.n == 0 || !bloomHas(r.bloom, fp) {
		return e, false, nil
	}
	// The last block whose first fingerprint is ≤ fp.
	i := sort.Search(len(r.fences), func(i int) bool { return less(fp, &r.fences[i]) }) - 1
	if i < 0 {
		return e, false, nil
	}
	b, err := r.block(i, buf)
	if err != nil {
		return e, false, err
	}
	lo, hi := 0, len(b)/entrySize
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		var m FP
		copy(m[:], b[mid*entrySize:mid*entrySize+15])
		switch compare(&m, fp) {
		case 0:
			e.get(b[mid*entrySize:])
			return e, true, nil
		case -1:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return e, false, nil
}

// scan reads the run's entries in order, checking each block.
func (r *run) scan() func() (Entry, bool, error) {
	sr := io.NewSectionReader(r.f, headerSize, int64(r.n)*entrySize)
	br := bufio.NewReaderSize(sr, 256<<10)
	buf := make([]byte, blockSize)
	blk, pos, have := 0, 0, 0
	return func() (Entry, bool, error) {
		var e Entry
		if pos == have {
			if blk*perBlock >= r.n {
				return e, false, nil
			}
			have = min(perBlock, r.n-blk*perBlock) * entrySize
			if _, err := io.ReadFull(br, buf[:have]); err != nil {
				return e, false, fmt.Errorf("%w: run %s: %v", ErrCorrupt, r.name, err)
			}
			if crc32.Checksum(buf[:have], castagnoli) != r.crcs[blk] {
				return e, false, fmt.Errorf("%w: run %s: block %d: checksum", ErrCorrupt, r.name, blk)
			}
			blk++
			pos = 0
		}
		e.get(buf[pos:])
		pos += entrySize
		return e, true, nil
	}
}

// memBytes is what the run holds in memory.
func (r *run) memBytes() int { return len(r.fences)*15 + len(r.crcs)*4 + len(r.bloom)*8 }
