package csv

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/transform"
)

// How a file's bytes become text. The decoders below write UTF-8 and keep
// every character; what is not text in the encoding travels on in-band as a
// marker that is never valid UTF-8 and never ASCII (so it cannot be taken
// for a delimiter, quote or newline), and fails the row it lands in:
//
//   - a byte with no character in a code page, or the odd last byte of a
//     UTF-16 file: 0xFF, 0x80|hi nibble, 0x80|lo nibble;
//   - an unpaired UTF-16 surrogate: its WTF-8 form, ED A0–BF 80–BF.
//
// x/text's own decoders write U+FFFD there instead, which loses the data
// without a word.

type encKind int

const (
	encUTF8    encKind = iota
	encAuto            // a byte order mark decides; UTF-8 without one
	encUTF16           // a byte order mark is required and decides
	encUTF16LE         // an optional BOM
	encUTF16BE         // an optional BOM
	encTable           // a single-byte code page
)

// encoding is a resolved source.encoding.
type encoding struct {
	name  string // as messages name it: "utf-8", "windows-1252", "utf-16le"
	kind  encKind
	table *byteTable // encTable only
}

// CheckEncoding reports whether name is an encoding the csv source reads, so
// a job or mapping file can be checked before anything is opened.
func CheckEncoding(name string) error {
	_, err := lookupEncoding(name)
	return err
}

// Errors CheckEncoding returns, wrapped with the name.
var (
	ErrUnknownEncoding     = errors.New("unknown encoding")
	ErrUnsupportedEncoding = errors.New("encoding not supported")
)

// encodingHelp is what a user may write, for the unknown-name error.
const encodingHelp = "utf-8 (the default), windows-1252, iso-8859-1 … iso-8859-16, windows-1250 … windows-1258, macintosh, ibm437, ibm850, koi8-r, utf-16le, utf-16be, utf-16 (a byte order mark decides), auto"

func lookupEncoding(name string) (encoding, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case "", "utf-8", "utf8", "ascii", "us-ascii": // ASCII is UTF-8
		return encoding{name: "utf-8", kind: encUTF8}, nil
	case "auto":
		return encoding{name: "auto", kind: encAuto}, nil
	case "utf-16", "utf16":
		return encoding{name: "utf-16", kind: encUTF16}, nil
	case "utf-16le", "utf16le":
		return encoding{name: "utf-16le", kind: encUTF16LE}, nil
	case "utf-16be", "utf16be":
		return encoding{name: "utf-16be", kind: encUTF16BE}, nil
	}
	cm := lookupCharmap(n)
	if cm == nil {
		if e, err := ianaindex.IANA.Encoding(n); err == nil && e != nil {
			return encoding{}, fmt.Errorf("%q: %w: only UTF-8, UTF-16 and single-byte code pages are read (convert the file to UTF-8 first)", name, ErrUnsupportedEncoding)
		}
		return encoding{}, fmt.Errorf("%q: %w (use %s)", name, ErrUnknownEncoding, encodingHelp)
	}
	return encoding{name: charmapName(cm), kind: encTable, table: newByteTable(cm)}, nil
}

// lookupCharmap finds a single-byte code page by its IANA name or alias
// (windows-1252, ISO-8859-1, latin1, l1, IBM850, cp850, 850, macintosh, …)
// or by the names people write that IANA does not list (cp1252, latin-1,
// iso8859-1, mac-roman).
func lookupCharmap(n string) *charmap.Charmap {
	switch n {
	case "mac-roman", "macroman", "x-mac-roman":
		return charmap.Macintosh
	case "mac-cyrillic", "maccyrillic", "x-mac-cyrillic":
		return charmap.MacintoshCyrillic
	}
	candidates := []string{n}
	if d, ok := strings.CutPrefix(n, "cp"); ok && d != "" && len(d) <= 5 && strings.Trim(d, "0123456789") == "" {
		// cp1252 is windows-1252, cp850 is IBM850, cp858 is IBM00858.
		candidates = append([]string{"windows-" + d}, candidates...)
		candidates = append(candidates, "ibm"+d, "ibm"+strings.Repeat("0", 5-len(d))+d)
	}
	if d, ok := strings.CutPrefix(n, "latin-"); ok {
		candidates = append(candidates, "latin"+d)
	}
	if d, ok := strings.CutPrefix(strings.ReplaceAll(n, "_", "-"), "iso8859-"); ok {
		candidates = append(candidates, "iso-8859-"+d)
	}
	for _, c := range candidates {
		if e, err := ianaindex.IANA.Encoding(c); err == nil {
			if cm, ok := e.(*charmap.Charmap); ok {
				return cm
			}
		}
	}
	return nil
}

// charmapName is a code page's MIME name in lower case, as in "windows-1252".
func charmapName(cm *charmap.Charmap) string {
	if n, err := ianaindex.MIME.Name(cm); err == nil && n != "" {
		return strings.ToLower(n)
	}
	if cm == charmap.MacintoshCyrillic {
		return "x-mac-cyrillic"
	}
	return cm.String()
}

// byteTable is a code page's decoding, one UTF-8 sequence (or marker) a byte.
type byteTable [256]struct {
	n int
	b [4]byte
}

func newByteTable(cm *charmap.Charmap) *byteTable {
	var t byteTable
	for i := range 256 {
		r := cm.DecodeByte(byte(i))
		if r == utf8.RuneError {
			// x/text's mark for "no character": no code page maps a byte
			// to U+FFFD itself.
			t[i].n = putByteMarker(t[i].b[:], byte(i))
			continue
		}
		t[i].n = utf8.EncodeRune(t[i].b[:], r)
	}
	return &t
}

// Reset implements transform.Transformer; the decoding has no state.
func (t *byteTable) Reset() {}

// Transform implements transform.Transformer.
func (t *byteTable) Transform(dst, src []byte, _ bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		e := &t[src[nSrc]]
		if len(dst)-nDst < e.n {
			return nDst, nSrc, transform.ErrShortDst
		}
		if e.n == 1 {
			dst[nDst] = e.b[0]
		} else {
			copy(dst[nDst:], e.b[:e.n])
		}
		nDst += e.n
		nSrc++
	}
	return nDst, nSrc, nil
}

// utf16Decoder decodes UTF-16 without a BOM (the caller has read it).
type utf16Decoder struct{ bigEndian bool }

// Reset implements transform.Transformer; the decoding has no state.
func (utf16Decoder) Reset() {}

// Transform implements transform.Transformer.
func (d utf16Decoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		rest := src[nSrc:]
		if len(rest) >= 2 && nDst < len(dst) {
			// ASCII, most of a CSV file, one byte at a time.
			if lo, hi := rest[0], rest[1]; d.bigEndian && lo == 0 && hi < utf8.RuneSelf {
				dst[nDst] = hi
				nDst, nSrc = nDst+1, nSrc+2
				continue
			} else if !d.bigEndian && hi == 0 && lo < utf8.RuneSelf {
				dst[nDst] = lo
				nDst, nSrc = nDst+1, nSrc+2
				continue
			}
		}
		if len(rest) < 2 {
			if !atEOF {
				return nDst, nSrc, transform.ErrShortSrc
			}
			if len(dst)-nDst < markerLen {
				return nDst, nSrc, transform.ErrShortDst
			}
			nDst += putByteMarker(dst[nDst:], rest[0])
			nSrc++
			continue
		}
		r, size := d.unit(rest), 2
		if utf16.IsSurrogate(r) {
			switch {
			case r >= 0xDC00: // a low surrogate first: unpaired
			case len(rest) < 4 && !atEOF:
				return nDst, nSrc, transform.ErrShortSrc
			case len(rest) >= 4:
				if pair := utf16.DecodeRune(r, d.unit(rest[2:])); pair != utf8.RuneError {
					r, size = pair, 4
				}
			}
		}
		if size == 2 && utf16.IsSurrogate(r) {
			if len(dst)-nDst < 3 {
				return nDst, nSrc, transform.ErrShortDst
			}
			// WTF-8: the surrogate encoded as if it were a character.
			dst[nDst] = 0xED
			dst[nDst+1] = 0x80 | byte(r>>6)&0x3F
			dst[nDst+2] = 0x80 | byte(r)&0x3F
			nDst += 3
			nSrc += 2
			continue
		}
		if len(dst)-nDst < utf8.RuneLen(r) {
			return nDst, nSrc, transform.ErrShortDst
		}
		nDst += utf8.EncodeRune(dst[nDst:], r)
		nSrc += size
	}
	return nDst, nSrc, nil
}

func (d utf16Decoder) unit(b []byte) rune {
	if d.bigEndian {
		return rune(b[0])<<8 | rune(b[1])
	}
	return rune(b[1])<<8 | rune(b[0])
}

const markerLen = 3

func putByteMarker(dst []byte, b byte) int {
	dst[0], dst[1], dst[2] = 0xFF, 0x80|b>>4, 0x80|b&0x0F
	return markerLen
}

// badText is what made a value not text: the first offending positions of
// a decoded value, as they were in the file.
type badText struct {
	at        int    // index in the value of the first offence
	bytes     []byte // distinct offending bytes (invalid UTF-8, undefined, odd), in order
	surrogate rune   // the first unpaired surrogate, if any
}

// maxBadBytes bounds how many offending bytes a message lists.
const maxBadBytes = 4

// findBadText scans a value that is not valid UTF-8. decoded says the value
// came through a decoder, so 0xFF and ED A0–BF are markers.
func findBadText(v string, decoded bool) badText {
	bad := badText{at: -1}
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		if r != utf8.RuneError || size != 1 {
			i += size
			continue
		}
		if bad.at < 0 {
			bad.at = i
		}
		b := v[i]
		switch {
		case decoded && b == 0xFF && i+2 < len(v) && v[i+1]&0xF0 == 0x80 && v[i+2]&0xF0 == 0x80:
			b = (v[i+1]&0x0F)<<4 | v[i+2]&0x0F
			size = markerLen
		case decoded && b == 0xED && i+2 < len(v) && v[i+1]&0xE0 == 0xA0 && v[i+2]&0xC0 == 0x80:
			if bad.surrogate == 0 {
				bad.surrogate = 0xD800 | rune(v[i+1]&0x1F)<<6 | rune(v[i+2]&0x3F)
			}
			i += 3
			continue
		}
		if len(bad.bytes) < maxBadBytes && bytes.IndexByte(bad.bytes, b) < 0 {
			bad.bytes = append(bad.bytes, b)
		}
		i += size
	}
	return bad
}

// TextError is a value whose bytes are not text in the file's encoding. It
// names the bytes, so the user can find them in the file.
type TextError struct {
	Column    string // "" for a header cell
	StartLine int    // the line the row starts on
	Line      int    // the line of the first offending byte
	Encoding  string // what the file is read as: "utf-8", "windows-1252", "utf-16le"
	Setting   string // the job key that sets the encoding, e.g. "source.encoding"
	Bytes     []byte // offending bytes as in the file, each once, in order (at most 4)
	Surrogate rune   // an unpaired UTF-16 surrogate, when that is the offence
	// Windows1252 says the bytes of a UTF-8 file read as Windows-1252,
	// which is what Excel's "CSV (Comma delimited)" writes in the West.
	Windows1252 bool
	// Control: the code page reads the bytes as invisible C1 control
	// characters (ISO-8859-1 for 0x80–0x9F): almost always a Windows-1252
	// file read as Latin-1, whose “quotes”, – and € would arrive as
	// nothing visible.
	Control bool
}

func (e *TextError) Error() string {
	var subject string
	if e.Column != "" {
		subject = fmt.Sprintf("column %q", e.Column)
	}
	if e.Line != e.StartLine {
		subject = strings.TrimSpace(fmt.Sprintf("%s (line %d)", subject, e.Line))
	}
	hex := hexBytes(e.Bytes)
	if e.Encoding == "utf-8" {
		if subject != "" {
			subject += " is "
		}
		if e.Windows1252 {
			return fmt.Sprintf("%snot valid UTF-8 (%s): the file looks like Windows-1252; set %s", subject, hex, e.Setting)
		}
		return fmt.Sprintf("%snot valid UTF-8 (%s): if the file is in another encoding, set %s", subject, hex, e.Setting)
	}
	if subject != "" {
		subject += ": "
	}
	switch {
	case e.Control && e.Windows1252:
		return fmt.Sprintf("%sbyte %s reads as an invisible control character in %s: the file looks like Windows-1252; set %s: windows-1252", subject, hex, e.Encoding, e.Setting)
	case e.Control:
		return fmt.Sprintf("%sbyte %s reads as an invisible control character in %s: is %s the file's encoding?", subject, hex, e.Encoding, e.Setting)
	case strings.HasPrefix(e.Encoding, "utf-16") && e.Surrogate != 0:
		return fmt.Sprintf("%sunpaired UTF-16 surrogate 0x%04X (half a character)", subject, e.Surrogate)
	case strings.HasPrefix(e.Encoding, "utf-16"):
		return fmt.Sprintf("%sthe file ends in an odd byte (%s): UTF-16 has two bytes a unit", subject, hex)
	case len(e.Bytes) == 1:
		return fmt.Sprintf("%sbyte %s has no character in %s", subject, hex, e.Encoding)
	}
	return fmt.Sprintf("%sbytes %s have no character in %s", subject, hex, e.Encoding)
}

func hexBytes(bs []byte) string {
	s := make([]string, len(bs))
	for i, c := range bs {
		s[i] = fmt.Sprintf("0x%02X", c)
	}
	return strings.Join(s, " ")
}

// windows1252 reads Windows-1252 for the "looks like" hint.
var windows1252 = newByteTable(charmap.Windows1252)

// looksLikeWindows1252 reports whether bytes that are not UTF-8 all have a
// character in Windows-1252 (all but 0x81 0x8D 0x8F 0x90 0x9D do).
func looksLikeWindows1252(bs []byte) bool {
	for _, b := range bs {
		if windows1252[b].b[0] == 0xFF {
			return false
		}
	}
	return len(bs) > 0
}
