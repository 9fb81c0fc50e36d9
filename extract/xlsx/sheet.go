package xlsx

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// limits bound what one row holds in memory.
type limits struct {
	cell int // bytes of one cell's value, as stored
	row  int // bytes of one row's values
}

const (
	// keepBytes is how much of a value over a limit is kept, for the failed
	// row's record.
	keepBytes = 1 << 10
	// maxColumns is Excel's last column, XFD: no row has more cells.
	maxColumns = 16384
)

// cell is one cell as the sheet stores it.
type cell struct {
	col   int    // 1-based
	typ   string // t attribute: s, str, inlineStr, b, e, d, n or ""
	style int    // s attribute
	v     string // <v> text, or the inline string
	has   bool   // a value was present
	size  int64  // the value's bytes, all of them
	cut   bool   // v is only the start of a value over a limit
}

// sheetReader streams a worksheet's rows: one row's cells at a time,
// whatever the sheet's size, each cell's value held up to the cell limit
// and the row's up to the row limit (past them, keepBytes of each).
type sheetReader struct {
	sc    *scanner
	lim   limits
	row   int // last row number seen
	cells []cell
	val   capped // the value being read
	bad   error  // the current row's first problem
}

func newSheetReader(r io.Reader, lim limits) *sheetReader {
	return &sheetReader{sc: newScanner(r), lim: lim}
}

// next returns the next row that has cells or a problem, with its 1-based
// number. bad is a problem of that row only (a cell or a tag over a limit, a
// bad cell reference): the reader is past the row and the next one reads.
// err is the sheet's: nothing after it can be read.
func (s *sheetReader) next() (row int, cells []cell, bad, err error) {
	for {
		k, err := s.sc.next()
		if err != nil {
			return 0, nil, nil, err
		}
		if k == tokEnd && s.sc.is("sheetData") {
			return 0, nil, nil, io.EOF
		}
		if k != tokStart || !s.sc.is("row") {
			continue
		}
		s.row++
		s.bad = nil
		if v, ok := s.sc.attr("r"); ok {
			n, err := strconv.Atoi(string(v))
			if err != nil || n < 1 {
				return 0, nil, nil, fmt.Errorf("row %s: bad row number", quoteShort(string(v)))
			}
			s.row = n
		}
		if s.sc.over > 0 {
			s.fail(&TagTooLongError{Element: "row " + strconv.Itoa(s.row), Size: s.sc.tagSize()})
		}
		if err := s.readRow(); err != nil {
			return 0, nil, nil, fmt.Errorf("row %d: %w", s.row, err)
		}
		if len(s.cells) > 0 || s.bad != nil {
			return s.row, s.cells, s.bad, nil
		}
	}
}

// fail records the row's first problem.
func (s *sheetReader) fail(err error) {
	if s.bad == nil {
		s.bad = err
	}
}

func (s *sheetReader) readRow() error {
	s.cells = s.cells[:0]
	col := 0
	var rowBytes int64
	for {
		k, err := s.sc.next()
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		if k == tokEnd && s.sc.is("row") {
			return nil
		}
		if k != tokStart || !s.sc.is("c") {
			continue
		}
		col++
		c := cell{col: col}
		for _, a := range s.sc.attrs {
			v := s.sc.store[a.value.from:a.value.to]
			switch string(s.sc.local(a.name)) {
			case "r":
				n, err := columnOf(string(v))
				if err != nil {
					s.fail(err)
					continue
				}
				c.col, col = n, n
			case "t":
				c.typ = cellType(v)
			case "s":
				c.style, _ = strconv.Atoi(string(v))
			}
		}
		ref := columnName(c.col) + strconv.Itoa(s.row)
		if s.sc.over > 0 {
			s.fail(&TagTooLongError{Element: "cell " + ref, Size: s.sc.tagSize()})
		}
		if c.col > maxColumns {
			s.fail(fmt.Errorf("cell %s: column out of range (past XFD, Excel's last)", ref))
		}
		// Past the row's limit, only the start of each value is kept.
		limit := s.lim.cell
		if rowBytes > int64(s.lim.row) {
			limit = keepBytes
		}
		if err := s.readCell(&c, limit); err != nil {
			return fmt.Errorf("cell %s: %w", ref, err)
		}
		rowBytes += c.size
		if rowBytes > int64(s.lim.row) && !c.cut && len(c.v) > keepBytes {
			c.v, c.cut = strings.Clone(cutText(c.v)), true
		}
		if !c.has {
			continue
		}
		if len(s.cells) == maxColumns {
			s.fail(fmt.Errorf("the row has more than %d cells (Excel's most)", maxColumns))
			continue
		}
		s.cells = append(s.cells, c)
	}
}

// cellType returns the t attribute as one of the known constants, so a cell
// costs no allocation for it.
func cellType(v []byte) string {
	for _, t := range []string{"s", "str", "inlineStr", "b", "e", "d", "n"} {
		if string(v) == t {
			return t
		}
	}
	return string(v)
}

// readCell reads a <c> element's content: the cached <v> of a formula or a
// value, or an inline string (without its phonetic runs), keeping at most
// limit bytes of it.
func (s *sheetReader) readCell(c *cell, limit int) error {
	s.val.reset(limit)
	depth, skip := 0, 0
	inV, inT := false, false
	for {
		k, err := s.sc.next()
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		switch k {
		case tokStart:
			depth++
			switch string(s.sc.local(s.sc.name)) {
			case "v":
				inV, c.has = true, true
				s.val.reset(limit)
			case "is":
				c.has = true
				s.val.reset(limit)
			case "t":
				inT = skip == 0
			case "rPh":
				skip++
			}
		case tokEnd:
			if depth == 0 { // </c>
				s.finish(c, limit)
				return nil
			}
			depth--
			switch string(s.sc.local(s.sc.name)) {
			case "v":
				inV = false
			case "t":
				inT = false
			case "rPh":
				skip--
			}
		case tokText:
			if inV || inT {
				s.val.write(s.sc.text)
			}
		}
	}
}

func (s *sheetReader) finish(c *cell, limit int) {
	if !c.has {
		return
	}
	c.size = s.val.size
	if s.val.over() {
		c.v, c.cut = s.val.start(), true
	} else {
		c.v = s.val.String()
	}
	if c.typ == "inlineStr" || c.typ == "str" || c.typ == "s" || c.cut {
		c.v = unescapeOOXML(c.v)
	}
}

// cutText keeps the first keepBytes of s, on a character boundary.
func cutText(s string) string { return s[:cutLen(s)] }

// cutLen is how much of b cutText keeps.
func cutLen[T string | []byte](b T) int { return cutAt(b, keepBytes) }

// cutAt is how many of b's first n bytes to keep so that no character is
// cut: b itself may end inside one, when it was read up to a limit.
func cutAt[T string | []byte](b T, n int) int {
	n = min(n, len(b))
	start := n // of the last character that begins before n
	for start > 0 && n-start < utf8.UTFMax {
		start--
		if utf8.RuneStart(b[start]) {
			break
		}
	}
	if start < n && runeLen(b[start]) > n-start {
		return start
	}
	return n
}

// runeLen is the length of the UTF-8 character that begins with c.
func runeLen(c byte) int {
	switch {
	case c >= 0xF0:
		return 4
	case c >= 0xE0:
		return 3
	case c >= 0xC0:
		return 2
	}
	return 1
}

// quoteShort quotes a value for an error message, its first 64 bytes at
// most: a message names a value, it does not carry it.
func quoteShort(s string) string {
	const most = 64
	if len(s) <= most {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:cutAt(s, most)]) + fmt.Sprintf("… (%d bytes)", len(s))
}

// columnOf reads the column of a cell reference: "AB12" → 28.
func columnOf(ref string) (int, error) {
	n := 0
	i := 0
	for ; i < len(ref); i++ {
		c := ref[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c < 'A' || c > 'Z' {
			break
		}
		n = n*26 + int(c-'A'+1)
		if n > maxColumns {
			return 0, fmt.Errorf("cell reference %s: column out of range", quoteShort(ref))
		}
	}
	if i == 0 {
		return 0, fmt.Errorf("cell reference %s has no column", quoteShort(ref))
	}
	return n, nil
}

// columnName is the inverse of columnOf: 28 → "AB".
func columnName(n int) string {
	var b []byte
	for n > 0 {
		n--
		b = append([]byte{byte('A' + n%26)}, b...)
		n /= 26
	}
	return string(b)
}
