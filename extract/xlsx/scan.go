package xlsx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// scanner is a pull tokenizer for the XML of a workbook's parts that holds a
// bounded amount of it whatever the part holds: text comes in pieces of at
// most textPiece bytes, a tag's name and attributes are kept up to tagBudget
// bytes (a longer tag is still read to its end, and marked), and comments and
// processing instructions are skipped as they stream by.
//
// encoding/xml's Decoder holds a whole token, however long: a 1 GiB cell or
// 2 GiB of whitespace between two rows took gigabytes, and a reader that
// fails on a long token leaves the Decoder unusable, while a cell over the
// limit must cost only its row.
//
// What OOXML parts need and no more: elements, attributes, text, CDATA, the
// five predefined entities and character references; namespace prefixes are
// dropped (only local names are compared). A DTD is an error, as the Open
// Packaging Conventions require (ECMA-376 Part 2, §8.1.4, M1.18).
type scanner struct {
	r        io.Reader
	buf      []byte
	pos, end int
	base     int64 // offset in the part of buf[0]
	rerr     error // the reader's error, once it gave one
	err      error // a syntax error: sticky

	kind        tokKind
	text        []byte // tokText: the piece, entities decoded, line ends normalized
	store       []byte // a tag's name and attribute names and values
	scratch     []byte
	name        span
	attrs       []attrSpan
	over        int64 // a tag's bytes past tagBudget (0: kept whole)
	selfClosing bool
	pendingEnd  bool // the end of a self-closing element comes next
	inCDATA     bool
	cr          bool // the last byte of text was a carriage return made \n
	started     bool
}

type tokKind int

const (
	tokStart tokKind = iota + 1 // <name attr="v"> or <name/> (then a tokEnd)
	tokEnd                      // </name>
	tokText                     // a piece of character data
)

type span struct{ from, to int }

type attrSpan struct{ name, value span }

const (
	textPiece = 64 << 10 // bytes of text in one tokText at most
	tagBudget = 64 << 10 // bytes of one tag's name and attributes kept
	maxEntity = 12       // "&#x10FFFF;" and a margin
	scanBuf   = 128 << 10
)

// SyntaxError is XML a part cannot be read past.
type SyntaxError struct {
	Offset int64 // bytes into the (uncompressed) part
	Msg    string
	Err    error // io.ErrUnexpectedEOF when the part ends inside markup
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("XML syntax error at byte %d: %s", e.Offset, e.Msg)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

func newScanner(r io.Reader) *scanner {
	return &scanner{r: r, buf: make([]byte, scanBuf)}
}

// fill reads more input after buf[end], first moving the unread bytes to
// the front. It reports whether anything was read.
func (s *scanner) fill() bool {
	if s.rerr != nil {
		return false
	}
	if s.pos > 0 {
		n := copy(s.buf, s.buf[s.pos:s.end])
		s.base += int64(s.pos)
		s.pos, s.end = 0, n
	}
	for s.end < len(s.buf) {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.rerr = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	return false
}

// ensure makes at least n bytes available unless the input ends first.
func (s *scanner) ensure(n int) bool {
	for s.end-s.pos < n {
		if !s.fill() {
			return false
		}
	}
	return true
}

func (s *scanner) offset() int64 { return s.base + int64(s.pos) }

// fail records a syntax error at the current offset.
func (s *scanner) fail(format string, args ...any) error {
	s.err = &SyntaxError{Offset: s.offset(), Msg: fmt.Sprintf(format, args...)}
	return s.err
}

// eof is the error for input that ends inside markup: the reader's own error
// if it had one, else an unexpected end.
func (s *scanner) eof(inside string) error {
	if s.rerr != nil && !errors.Is(s.rerr, io.EOF) {
		s.err = s.rerr
		return s.err
	}
	s.err = &SyntaxError{Offset: s.offset(), Msg: "the part ends inside " + inside, Err: io.ErrUnexpectedEOF}
	return s.err
}

// next reads the next token; io.EOF after the last.
func (s *scanner) next() (tokKind, error) {
	if s.err != nil {
		return 0, s.err
	}
	if !s.started {
		s.started = true
		if err := s.skipBOM(); err != nil {
			return 0, err
		}
	}
	if s.pendingEnd {
		s.pendingEnd = false
		s.kind = tokEnd
		return tokEnd, nil
	}
	for {
		if s.inCDATA {
			return s.cdata()
		}
		if !s.ensure(1) {
			if s.rerr != nil && !errors.Is(s.rerr, io.EOF) {
				s.err = s.rerr
				return 0, s.err
			}
			return 0, io.EOF
		}
		if s.buf[s.pos] != '<' {
			return s.chars()
		}
		s.cr = false
		if !s.ensure(2) {
			return 0, s.eof("a tag")
		}
		switch s.buf[s.pos+1] {
		case '/':
			s.pos += 2
			return s.endTag()
		case '?':
			s.pos += 2
			if err := s.skipPast("?>", "a processing instruction"); err != nil {
				return 0, err
			}
		case '!':
			s.ensure(9)
			rest := s.buf[s.pos:s.end]
			switch {
			case bytes.HasPrefix(rest, []byte("<!--")):
				s.pos += 4
				if err := s.skipPast("-->", "a comment"); err != nil {
					return 0, err
				}
			case bytes.HasPrefix(rest, []byte("<![CDATA[")):
				s.pos += 9
				s.inCDATA = true
			case bytes.HasPrefix(rest, []byte("<!DOCTYPE")):
				return 0, s.fail("a DTD (<!DOCTYPE>), which an XLSX part must not have (ECMA-376 Part 2, M1.18)")
			default:
				return 0, s.fail("unknown markup <!")
			}
		default:
			s.pos++
			return s.startTag()
		}
	}
}

func (s *scanner) skipBOM() error {
	s.ensure(3)
	rest := s.buf[s.pos:s.end]
	switch {
	case bytes.HasPrefix(rest, []byte("\xEF\xBB\xBF")):
		s.pos += 3
	case bytes.HasPrefix(rest, []byte("\xFE\xFF")), bytes.HasPrefix(rest, []byte("\xFF\xFE")):
		return s.fail("the part is UTF-16, which is not supported: save the workbook again as .xlsx")
	}
	return nil
}

// skipPast discards input up to and including term.
func (s *scanner) skipPast(term, inside string) error {
	for {
		if i := bytes.Index(s.buf[s.pos:s.end], []byte(term)); i >= 0 {
			s.pos += i + len(term)
			return nil
		}
		// Keep what could be the start of term.
		if keep := len(term) - 1; s.end-s.pos > keep {
			s.pos = s.end - keep
		}
		if !s.fill() {
			return s.eof(inside)
		}
	}
}

// chars reads a piece of text, up to the next tag or textPiece bytes.
func (s *scanner) chars() (tokKind, error) {
	s.kind = tokText
	s.text = s.text[:0]
	for len(s.text) < textPiece {
		if s.pos == s.end && !s.fill() {
			if s.rerr != nil && !errors.Is(s.rerr, io.EOF) {
				s.err = s.rerr
				return 0, s.err
			}
			break // the end of the part: the text so far, then io.EOF
		}
		b := s.buf[s.pos:s.end]
		i := bytes.IndexByte(b, '<')
		if i < 0 {
			i = len(b)
		}
		if j := bytes.IndexByte(b[:i], '&'); j >= 0 {
			i = j
		}
		i = min(i, textPiece-len(s.text))
		s.text = s.appendNorm(s.text, b[:i])
		s.pos += i
		if s.pos == s.end {
			continue
		}
		switch s.buf[s.pos] {
		case '<':
			return tokText, nil
		case '&':
			var err error
			if s.text, err = s.entity(s.text); err != nil {
				return 0, err
			}
		}
	}
	if len(s.text) == 0 {
		return 0, io.EOF
	}
	return tokText, nil
}

// cdata reads a piece of a CDATA section.
func (s *scanner) cdata() (tokKind, error) {
	s.kind = tokText
	s.text = s.text[:0]
	for len(s.text) < textPiece {
		for s.end-s.pos < 3 {
			if !s.fill() {
				return 0, s.eof("a CDATA section")
			}
		}
		b := s.buf[s.pos:s.end]
		i := bytes.Index(b, []byte("]]>"))
		n := i
		if i < 0 {
			n = len(b) - 2 // "]]" could be the start of the end
		}
		n = min(n, textPiece-len(s.text))
		s.text = s.appendNorm(s.text, b[:n])
		s.pos += n
		if n == i {
			s.pos += 3
			s.inCDATA = false
			break
		}
	}
	return tokText, nil
}

// appendNorm appends text with its line ends normalized as XML requires
// (XML 1.0 §2.11): CR LF and a lone CR become LF, also across pieces.
func (s *scanner) appendNorm(dst, b []byte) []byte {
	if s.cr && len(b) > 0 {
		if b[0] == '\n' {
			b = b[1:]
		}
		s.cr = false
	}
	for {
		i := bytes.IndexByte(b, '\r')
		if i < 0 {
			return append(dst, b...)
		}
		dst = append(append(dst, b[:i]...), '\n')
		b = b[i+1:]
		if len(b) == 0 {
			s.cr = true
			return dst
		}
		if b[0] == '\n' {
			b = b[1:]
		}
	}
}

// entity decodes the reference at buf[pos] ('&') onto dst.
func (s *scanner) entity(dst []byte) ([]byte, error) {
	s.cr = false
	s.ensure(maxEntity)
	b := s.buf[s.pos:s.end]
	semi := bytes.IndexByte(b[:min(len(b), maxEntity)], ';')
	if semi < 0 {
		return dst, s.fail("an & that starts no entity reference (write &amp;)")
	}
	ref := string(b[1:semi])
	var r rune
	switch ref {
	case "lt":
		r = '<'
	case "gt":
		r = '>'
	case "amp":
		r = '&'
	case "quot":
		r = '"'
	case "apos":
		r = '\''
	default:
		var n uint64
		var err error
		switch {
		case len(ref) > 2 && (ref[:2] == "#x" || ref[:2] == "#X"):
			n, err = strconv.ParseUint(ref[2:], 16, 32)
		case len(ref) > 1 && ref[0] == '#':
			n, err = strconv.ParseUint(ref[1:], 10, 32)
		default:
			return dst, s.fail("unknown entity &%s;", ref)
		}
		if err != nil || !isXMLChar(rune(n)) {
			return dst, s.fail("invalid character reference &%s;", ref)
		}
		r = rune(n)
	}
	s.pos += semi + 1
	return utf8.AppendRune(dst, r), nil
}

// isXMLChar is XML 1.0's Char production.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// keep appends b to the tag's store within tagBudget, counting the rest.
func (s *scanner) keep(b []byte) {
	room := tagBudget - len(s.store)
	if len(b) > room {
		s.over += int64(len(b) - room)
		b = b[:room]
	}
	s.store = append(s.store, b...)
}

// readName reads a name up to a space, '/', '>' or '=' into the store.
func (s *scanner) readName() (span, error) {
	from := len(s.store)
	for {
		if s.pos == s.end && !s.fill() {
			return span{}, s.eof("a tag")
		}
		b := s.buf[s.pos:s.end]
		i := 0
		for i < len(b) && !isSpace(b[i]) && b[i] != '/' && b[i] != '>' && b[i] != '=' && b[i] != '<' {
			i++
		}
		s.keep(b[:i])
		s.pos += i
		if i < len(b) {
			if len(s.store) == from && s.over == 0 {
				return span{}, s.fail("a tag without a name")
			}
			return span{from, len(s.store)}, nil
		}
	}
}

func (s *scanner) skipSpace() (byte, error) {
	for {
		if s.pos == s.end && !s.fill() {
			return 0, s.eof("a tag")
		}
		if c := s.buf[s.pos]; !isSpace(c) {
			return c, nil
		}
		s.pos++
	}
}

func (s *scanner) startTag() (tokKind, error) {
	s.kind = tokStart
	s.store, s.attrs, s.over, s.selfClosing = s.store[:0], s.attrs[:0], 0, false
	var err error
	if s.name, err = s.readName(); err != nil {
		return 0, err
	}
	for {
		c, err := s.skipSpace()
		if err != nil {
			return 0, err
		}
		switch c {
		case '>':
			s.pos++
			return tokStart, nil
		case '/':
			s.pos++
			if !s.ensure(1) {
				return 0, s.eof("a tag")
			}
			if s.buf[s.pos] != '>' {
				return 0, s.fail("'/' not followed by '>' in a tag")
			}
			s.pos++
			s.selfClosing, s.pendingEnd = true, true
			return tokStart, nil
		}
		name, err := s.readName()
		if err != nil {
			return 0, err
		}
		if c, err = s.skipSpace(); err != nil {
			return 0, err
		}
		if c != '=' {
			return 0, s.fail("an attribute without a value")
		}
		s.pos++
		if c, err = s.skipSpace(); err != nil {
			return 0, err
		}
		if c != '"' && c != '\'' {
			return 0, s.fail("an attribute value without quotes")
		}
		s.pos++
		value, err := s.attrValue(c)
		if err != nil {
			return 0, err
		}
		if s.over == 0 {
			s.attrs = append(s.attrs, attrSpan{name, value})
		}
	}
}

// attrValue reads an attribute value up to its closing quote.
func (s *scanner) attrValue(quote byte) (span, error) {
	from := len(s.store)
	var ent []byte
	s.cr = false
	for {
		if s.pos == s.end && !s.fill() {
			return span{}, s.eof("an attribute value")
		}
		b := s.buf[s.pos:s.end]
		i := bytes.IndexByte(b, quote)
		if i < 0 {
			i = len(b)
		}
		if j := bytes.IndexByte(b[:i], '&'); j >= 0 {
			i = j
		}
		if j := bytes.IndexByte(b[:i], '<'); j >= 0 {
			s.pos += j
			return span{}, s.fail("'<' in an attribute value")
		}
		s.scratch = s.appendNorm(s.scratch[:0], b[:i])
		s.keep(s.scratch)
		s.pos += i
		if s.pos == s.end {
			continue
		}
		if s.buf[s.pos] == quote {
			s.cr = false
			s.pos++
			return span{from, len(s.store)}, nil
		}
		var err error
		if ent, err = s.entity(ent[:0]); err != nil {
			return span{}, err
		}
		s.keep(ent)
	}
}

func (s *scanner) endTag() (tokKind, error) {
	s.kind = tokEnd
	s.store, s.attrs, s.over, s.selfClosing = s.store[:0], s.attrs[:0], 0, false
	var err error
	if s.name, err = s.readName(); err != nil {
		return 0, err
	}
	c, err := s.skipSpace()
	if err != nil {
		return 0, err
	}
	if c != '>' {
		return 0, s.fail("an end tag with more than a name")
	}
	s.pos++
	return tokEnd, nil
}

// local is the part of a name after its namespace prefix ("x:c" → "c"),
// as encoding/xml splits it.
func (s *scanner) local(sp span) []byte {
	b := s.store[sp.from:sp.to]
	if i := bytes.IndexByte(b, ':'); i > 0 && i < len(b)-1 && bytes.IndexByte(b[i+1:], ':') < 0 {
		return b[i+1:]
	}
	return b
}

// is reports whether the current tag's local name is name.
func (s *scanner) is(name string) bool { return string(s.local(s.name)) == name }

// attr returns the value of the current tag's attribute with local name
// name.
func (s *scanner) attr(name string) ([]byte, bool) {
	for _, a := range s.attrs {
		if string(s.local(a.name)) == name {
			return s.store[a.value.from:a.value.to], true
		}
	}
	return nil, false
}

// tagSize is the current tag's name and attributes in bytes, kept or not.
func (s *scanner) tagSize() int64 { return int64(len(s.store)) + s.over }
