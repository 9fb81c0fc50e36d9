package xlsx

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// cell is one cell as the sheet stores it.
type cell struct {
	col   int    // 1-based
	typ   string // t attribute: s, str, inlineStr, b, e, d, n or ""
	style int    // s attribute
	v     string // <v> text, or the inline string
	has   bool   // a value was present
}

// sheetReader streams a worksheet's rows: one row's cells at a time,
// whatever the sheet's size.
type sheetReader struct {
	dec    *xml.Decoder
	row    int // last row number seen
	cells  []cell
	inData bool
}

func newSheetReader(r io.Reader) *sheetReader {
	return &sheetReader{dec: xml.NewDecoder(bufio.NewReaderSize(r, 256<<10))}
}

// next returns the next row that has cells, with its 1-based number.
func (s *sheetReader) next() (int, []cell, error) {
	for {
		tok, err := s.dec.RawToken()
		if err == io.EOF {
			return 0, nil, io.EOF
		}
		if err != nil {
			return 0, nil, err
		}
		st, ok := tok.(xml.StartElement)
		if !ok {
			if end, ok := tok.(xml.EndElement); ok && end.Name.Local == "sheetData" {
				return 0, nil, io.EOF
			}
			continue
		}
		if st.Name.Local != "row" {
			continue
		}
		s.row++
		for _, a := range st.Attr {
			if a.Name.Local == "r" {
				n, err := strconv.Atoi(a.Value)
				if err != nil || n < 1 {
					return 0, nil, fmt.Errorf("row %q: bad row number", a.Value)
				}
				s.row = n
			}
		}
		if err := s.readRow(); err != nil {
			return 0, nil, fmt.Errorf("row %d: %w", s.row, err)
		}
		if len(s.cells) > 0 {
			return s.row, s.cells, nil
		}
	}
}

func (s *sheetReader) readRow() error {
	s.cells = s.cells[:0]
	col := 0
	for {
		tok, err := s.dec.RawToken()
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if t.Name.Local == "row" {
				return nil
			}
		case xml.StartElement:
			if t.Name.Local != "c" {
				continue
			}
			col++
			c := cell{col: col}
			for _, a := range t.Attr {
				switch a.Name.Local {
				case "r":
					n, err := columnOf(a.Value)
					if err != nil {
						return err
					}
					c.col, col = n, n
				case "t":
					c.typ = a.Value
				case "s":
					c.style, _ = strconv.Atoi(a.Value)
				}
			}
			if err := s.readCell(&c); err != nil {
				return fmt.Errorf("cell %s%d: %w", columnName(c.col), s.row, err)
			}
			if c.has {
				s.cells = append(s.cells, c)
			}
		}
	}
}

// readCell reads a <c> element's content: the cached <v> of a formula or a
// value, or an inline string.
func (s *sheetReader) readCell(c *cell) error {
	var sb strings.Builder
	depth := 0
	inV, inT := false, false
	for {
		tok, err := s.dec.RawToken()
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch t.Name.Local {
			case "v":
				inV, c.has = true, true
				sb.Reset()
			case "is":
				c.has = true
				sb.Reset()
			case "t":
				inT = true
			}
		case xml.EndElement:
			if depth == 0 { // </c>
				if c.has {
					c.v = sb.String()
					if c.typ == "inlineStr" || c.typ == "str" || c.typ == "s" {
						c.v = unescapeOOXML(c.v)
					}
				}
				return nil
			}
			depth--
			switch t.Name.Local {
			case "v":
				inV = false
			case "t":
				inT = false
			}
		case xml.CharData:
			if inV || inT {
				sb.Write(t)
			}
		}
	}
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
		if n > 16384 {
			return 0, fmt.Errorf("cell reference %q: column out of range", ref)
		}
	}
	if i == 0 {
		return 0, fmt.Errorf("cell reference %q has no column", ref)
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
