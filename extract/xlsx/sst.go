package xlsx

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
)

// sharedStrings is the workbook's shared-string table, in bounded memory
// whatever its size. Small tables live in memory; past memStrings the
// strings go to a temporary file (unlinked at once, so it disappears however
// the process ends) and only their offsets stay in memory, 8 bytes a string,
// up to memOffsets strings; the offsets of any more go to a second file. A
// string over the cell limit is kept as its size and its first keepBytes,
// for the failed row's record.
type sharedStrings struct {
	n       int
	mem     []string
	memLong map[int]bool // mem strings kept as size and start
	data    *os.File
	offs    []int64  // end offset of each spilled string; longFlag marks a long one
	index   *os.File // the end offsets of spilled strings past memOffsets
	nIndex  int
}

// Variables, so a test can reach the files with a small table.
var (
	memStrings = 16 << 20 // bytes of strings kept in memory
	memOffsets = 2 << 20  // spilled strings whose offsets stay in memory (16 MiB)
)

const longFlag = int64(1) << 62 // on an end offset: a long string, stored as its size and start

func readSharedStrings(r io.Reader, tmpDir string, cellLimit int) (_ *sharedStrings, err error) {
	sst := &sharedStrings{}
	defer func() {
		if err != nil {
			sst.close()
		}
	}()
	var dataW, indexW *bufio.Writer
	var off int64
	var inMem int
	spill := func() error {
		f, err := os.CreateTemp(tmpDir, "msgmigrate-sst-*")
		if err != nil {
			return err
		}
		os.Remove(f.Name())
		sst.data, dataW = f, bufio.NewWriterSize(f, 256<<10)
		return nil
	}
	add := func(s string, size int64) error {
		long := size > int64(cellLimit)
		if long {
			s = string(binary.BigEndian.AppendUint64(nil, uint64(size))) + s
		}
		defer func() { sst.n++ }()
		if dataW == nil && inMem+len(s) <= memStrings {
			sst.mem = append(sst.mem, s)
			inMem += len(s) + 16 // and its string header
			if long {
				if sst.memLong == nil {
					sst.memLong = map[int]bool{}
				}
				sst.memLong[sst.n] = true
			}
			return nil
		}
		if dataW == nil {
			if err := spill(); err != nil {
				return err
			}
		}
		if _, err := dataW.WriteString(s); err != nil {
			return err
		}
		off += int64(len(s))
		end := off
		if long {
			end |= longFlag
		}
		if len(sst.offs) < memOffsets {
			sst.offs = append(sst.offs, end)
			return nil
		}
		if indexW == nil {
			f, err := os.CreateTemp(tmpDir, "msgmigrate-sst-index-*")
			if err != nil {
				return err
			}
			os.Remove(f.Name())
			sst.index, indexW = f, bufio.NewWriterSize(f, 64<<10)
		}
		sst.nIndex++
		return binary.Write(indexW, binary.LittleEndian, end)
	}

	sc := newScanner(r)
	var val capped
	depth, skip := 0, 0 // inside <si>; inside <rPh> phonetic runs, which are not part of the text
	inT := false
	for {
		k, err := sc.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch k {
		case tokStart:
			switch string(sc.local(sc.name)) {
			case "si":
				depth++
				val.reset(cellLimit)
			case "rPh":
				skip++
			case "t":
				inT = depth > 0 && skip == 0
			}
		case tokEnd:
			switch string(sc.local(sc.name)) {
			case "si":
				depth--
				var s string
				if val.over() {
					s = val.start()
				} else {
					s = val.String()
				}
				if err := add(unescapeOOXML(s), val.size); err != nil {
					return nil, err
				}
			case "rPh":
				skip--
			case "t":
				inT = false
			}
		case tokText:
			if inT {
				val.write(sc.text)
			}
		}
	}
	for _, w := range []*bufio.Writer{dataW, indexW} {
		if w != nil {
			if err := w.Flush(); err != nil {
				return nil, err
			}
		}
	}
	return sst, nil
}

func (s *sharedStrings) len() int { return s.n }

// sharedString is a string of the table as a cell gets it.
type sharedString struct {
	text string
	size int64 // the whole string's bytes
	cut  bool  // text is only its start
}

// get returns string i, its first max bytes at most.
func (s *sharedStrings) get(i, max int) (sharedString, error) {
	if i < 0 || i >= s.n {
		return sharedString{}, fmt.Errorf("shared string %d does not exist (the table has %d)", i, s.n)
	}
	if i < len(s.mem) {
		return stored(s.mem[i], s.memLong[i], max), nil
	}
	i -= len(s.mem)
	start, end, err := s.span(i)
	if err != nil {
		return sharedString{}, fmt.Errorf("shared string %d: %w", i+len(s.mem), err)
	}
	long := end&longFlag != 0
	start, end = start&^longFlag, end&^longFlag
	n := min(end-start, int64(max)+8) // enough for the size of a long one, and max bytes
	b := make([]byte, n)
	if _, err := s.data.ReadAt(b, start); err != nil {
		return sharedString{}, fmt.Errorf("shared string %d: %w", i+len(s.mem), err)
	}
	ss := stored(string(b), long, max)
	if !long && end-start > int64(len(ss.text)) {
		ss.size, ss.cut = end-start, true
	}
	return ss, nil
}

// stored decodes a string as add stored it, cut to max bytes.
func stored(s string, long bool, max int) sharedString {
	ss := sharedString{text: s, size: int64(len(s))}
	if long {
		ss.size = int64(binary.BigEndian.Uint64([]byte(s[:8])))
		ss.text, ss.cut = s[8:], true
	}
	if len(ss.text) > max {
		ss.text, ss.cut = strings.Clone(ss.text[:cutAt(ss.text, max)]), true
	}
	return ss
}

// span returns where spilled string i starts and ends (with longFlag).
func (s *sharedStrings) span(i int) (start, end int64, err error) {
	at := func(k int) (int64, error) { // end offset of spilled string k
		if k < len(s.offs) {
			return s.offs[k], nil
		}
		var b [8]byte
		if _, err := s.index.ReadAt(b[:], int64(k-len(s.offs))*8); err != nil {
			return 0, err
		}
		return int64(binary.LittleEndian.Uint64(b[:])), nil
	}
	if i > 0 {
		if start, err = at(i - 1); err != nil {
			return 0, 0, err
		}
	}
	end, err = at(i)
	return start &^ longFlag, end, err
}

func (s *sharedStrings) close() {
	if s == nil {
		return
	}
	for _, f := range []**os.File{&s.data, &s.index} {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
}

// unescapeOOXML decodes the _xHHHH_ escapes OOXML uses for characters XML
// cannot carry (a carriage return is written _x000D_); _x005F_ escapes the
// underscore of a literal "_xHHHH_".
func unescapeOOXML(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if i+7 <= len(s) && s[i] == '_' && s[i+1] == 'x' && s[i+6] == '_' && isHex(s[i+2:i+6]) {
			var r rune
			fmt.Sscanf(s[i+2:i+6], "%04x", &r)
			b.WriteRune(r)
			i += 7
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !(s[i] >= '0' && s[i] <= '9') && !(c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
