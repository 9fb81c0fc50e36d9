// Package csv is the "csv" source: a streaming reader of delimited text with
// a header row. Every byte of a value is kept; an empty cell is absent from
// the record (so a mapping can write `row.a ?? row.b`); a malformed row fails
// that record with its FILE:LINE origin and reading goes on.
//
// A file in another encoding than UTF-8 (source.encoding: windows-1252,
// utf-16le, …) is decoded to UTF-8 as it streams, before anything else looks
// at it: delimiters, quotes and line numbers are those of the decoded text,
// and a byte that is no character in the encoding fails its row.
package csv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/text/transform"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/msg"
)

func init() { extract.Register("csv", open) }

var (
	_ extract.Progress = (*Source)(nil)
	_ extract.Columns  = (*Source)(nil)
	_ extract.Hints    = (*Source)(nil)
)

// Config is the csv source's part of a job file.
type Config struct {
	Kind      string `yaml:"kind"`
	Path      string `yaml:"path"`
	Delimiter string `yaml:"delimiter"` // detected from , ; \t | when empty
	MaxRecord int    `yaml:"max_record_bytes"`
	Encoding  string `yaml:"encoding"` // utf-8 when empty; see CheckEncoding
}

// DefaultMaxRecord bounds one record's size so a stray quote cannot read a
// whole file into memory.
const DefaultMaxRecord = 16 << 20

// Options are how to read a file, besides where it is.
type Options struct {
	Delimiter string // "" detects it from , ; \t | in the header
	MaxRecord int    // bytes of one record at most; 0 is DefaultMaxRecord
	Encoding  string // "" is utf-8; CheckEncoding lists the others
	// Setting is the job key that sets Encoding, for messages that tell the
	// user to set it; "" is "source.encoding".
	Setting string
}

// Source reads one CSV file.
type Source struct {
	name    string
	setting string
	closer  io.Closer
	size    int64
	read    *countingReader // the file's bytes, before decoding
	enc     encoding        // what the file turned out to be: never auto or utf-16
	rd      *reader
	header  []string
	hint    string
}

func open(_ context.Context, sec config.Section, env extract.Env) (extract.Source, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Path == "" {
		return nil, fmt.Errorf("%s: source.path is required for kind csv", sec.File)
	}
	if err := CheckEncoding(c.Encoding); err != nil {
		return nil, fmt.Errorf("%s: source.encoding %w", sec.File, err)
	}
	path := sec.Path(c.Path)
	o := Options{Delimiter: c.Delimiter, MaxRecord: c.MaxRecord, Encoding: c.Encoding}
	if st, err := os.Stat(path); env.Files != nil || strings.ContainsAny(c.Path, "*?[") || (err == nil && st.IsDir()) {
		var shard extract.Shard
		if env.Files != nil {
			shard = *env.Files
		}
		return OpenParts(path, c.Path, o, shard)
	}
	s, err := OpenWith(path, c.Path, o)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("%s: source.path: %w", config.Pos(sec.File, sec.Line("path")), err)
	}
	return s, err
}

// Open opens a UTF-8 file; name is how origins call the file. delimiter ""
// detects it.
func Open(path, name, delimiter string, maxRecord int) (*Source, error) {
	return OpenWith(path, name, Options{Delimiter: delimiter, MaxRecord: maxRecord})
}

// OpenWith opens path; name is how origins and messages call the file.
func OpenWith(path, name string, o Options) (*Source, error) {
	if o.Setting == "" {
		o.Setting = "source.encoding"
	}
	enc, err := lookupEncoding(o.Encoding)
	if err != nil {
		return nil, fmt.Errorf("%s: %s %w", name, o.Setting, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("csv source: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("csv source: %w", err)
	}
	s, err := newSource(f, st.Size(), name, enc, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// newSource reads r, which holds size bytes; o.Setting is set.
func newSource(r io.ReadCloser, size int64, name string, enc encoding, o Options) (*Source, error) {
	if o.MaxRecord <= 0 {
		o.MaxRecord = DefaultMaxRecord
	}
	s := &Source{name: name, setting: o.Setting, closer: r, size: size, read: &countingReader{r: r}}
	if err := s.start(enc, o); err != nil {
		return nil, err
	}
	return s, nil
}

// The byte order marks a file may start with.
var boms = []struct {
	enc   encoding
	bytes string
}{
	{encoding{name: "utf-8", kind: encUTF8}, "\xEF\xBB\xBF"},
	{encoding{name: "utf-16le", kind: encUTF16LE}, "\xFF\xFE"},
	{encoding{name: "utf-16be", kind: encUTF16BE}, "\xFE\xFF"},
}

func (s *Source) start(enc encoding, o Options) error {
	prefix := make([]byte, 3)
	n, err := io.ReadFull(s.read, prefix)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	prefix = prefix[:n]
	enc, bomLen, err := s.resolve(enc, o.Encoding == "", prefix)
	if err != nil {
		return err
	}
	s.enc = enc
	var raw io.Reader = s.read
	if rest := prefix[bomLen:]; len(rest) > 0 {
		raw = io.MultiReader(bytes.NewReader(rest), raw)
	}
	// Everything after this point sees UTF-8 (with markers, see
	// encoding.go), so delimiters, quotes and line numbers are found in the
	// decoded text. A decoder reads 4 KiB at a time: the bufio.Reader saves
	// the system calls.
	text := raw
	switch enc.kind {
	case encUTF16LE:
		text = transform.NewReader(bufio.NewReaderSize(raw, 64<<10), utf16Decoder{})
	case encUTF16BE:
		text = transform.NewReader(bufio.NewReaderSize(raw, 64<<10), utf16Decoder{bigEndian: true})
	case encTable:
		text = transform.NewReader(bufio.NewReaderSize(raw, 64<<10), enc.table)
	}
	br := bufio.NewReaderSize(text, 256<<10)
	// Sniff the delimiter from the header.
	head, err := br.Peek(64 << 10)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	comma, err := delimiterFor(o.Delimiter, head)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	s.rd = newReader(br, comma, o.MaxRecord)
	header, line, err := s.rd.Read()
	if err == io.EOF {
		return fmt.Errorf("%s: the file is empty: a header row is required", s.name)
	}
	if err != nil {
		return fmt.Errorf("%s:%d: header: %w", s.name, line, err)
	}
	seen := map[string]int{}
	for i, h := range header {
		if h == "" {
			return fmt.Errorf("%s:%d: header: column %d has no name", s.name, line, i+1)
		}
		if !utf8.ValidString(h) {
			te := s.textError("", h, line, header[:i])
			return fmt.Errorf("%s:%d: header: column %d: %w", s.name, line, i+1, te)
		}
		if s.enc.kind == encUTF8 && strings.IndexByte(h, 0) >= 0 {
			// Every other byte NUL: UTF-16 text with no byte order mark.
			guess := "utf-16le"
			if header[0][0] == 0 {
				guess = "utf-16be"
			}
			return fmt.Errorf("%s:%d: header: column %d holds NUL bytes: the file looks like UTF-16 without a byte order mark; set %s: %s",
				s.name, line, i+1, s.setting, guess)
		}
		if j, dup := seen[h]; dup {
			return fmt.Errorf("%s:%d: header: column %q appears twice (columns %d and %d)", s.name, line, h, j+1, i+1)
		}
		seen[h] = i
	}
	s.header = header
	return nil
}

// resolve settles the encoding with the file's byte order mark, if any, and
// says how many bytes the mark takes. A mark that contradicts the
// configured encoding is an error: reading on would garble every row.
func (s *Source) resolve(enc encoding, isDefault bool, prefix []byte) (encoding, int, error) {
	var bom encoding
	bomLen := 0
	for _, b := range boms {
		if strings.HasPrefix(string(prefix), b.bytes) {
			bom, bomLen = b.enc, len(b.bytes)
			break
		}
	}
	switch {
	case enc.kind == encAuto && bomLen == 0:
		return encoding{name: "utf-8", kind: encUTF8}, 0, nil
	case enc.kind == encAuto, enc.kind == encUTF16 && bom.kind != encUTF8 && bomLen > 0:
		return bom, bomLen, nil
	case enc.kind == encUTF16:
		return enc, 0, fmt.Errorf("%s: %s utf-16 needs a byte order mark to tell the byte order, and the file has none: set utf-16le (Excel's \"Unicode Text\") or utf-16be", s.name, s.setting)
	case bomLen == 0 || bom.kind == enc.kind:
		return enc, bomLen, nil
	}
	is := enc.name
	if isDefault {
		is += " (the default)"
	}
	return enc, 0, fmt.Errorf("%s starts with a %s byte order mark, but %s is %s: set %s: %s, or auto",
		s.name, strings.ToUpper(bom.name), s.setting, is, s.setting, bom.name)
}

// delimiterFor returns the configured delimiter, or the one of , ; \t |
// that appears most often outside quotes in the first line.
func delimiterFor(configured string, head []byte) (byte, error) {
	switch configured {
	case "":
	case `\t`, "tab", "\t":
		return '\t', nil
	default:
		if len(configured) != 1 || configured[0] == '"' || configured[0] == '\n' || configured[0] == '\r' {
			return 0, fmt.Errorf("delimiter %q: must be one character other than a quote or newline", configured)
		}
		return configured[0], nil
	}
	counts := map[byte]int{}
	inQuote := false
	for _, c := range head {
		if c == '"' {
			inQuote = !inQuote
			continue
		}
		if inQuote {
			continue
		}
		if c == '\n' {
			break
		}
		switch c {
		case ',', ';', '\t', '|':
			counts[c]++
		}
	}
	best, bestN := byte(','), 0
	for _, c := range []byte{',', ';', '\t', '|'} {
		if counts[c] > bestN {
			best, bestN = c, counts[c]
		}
	}
	return best, nil
}

// Next returns the next row as a record.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fields, line, err := s.rd.Read()
	if err != nil {
		var perr *ParseError
		if errors.As(err, &perr) {
			return nil, &msg.Error{Origin: msg.Origin{Source: s.name, Line: perr.StartLine}, Stage: msg.StageRead, Err: err}
		}
		if err != io.EOF {
			err = fmt.Errorf("%s: %w", s.name, err)
		}
		return nil, err
	}
	origin := msg.Origin{Source: s.name, Line: line}
	if len(fields) != len(s.header) {
		return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Raw: s.raw(fields),
			Err: fmt.Errorf("row has %d fields, the header has %d", len(fields), len(s.header))}
	}
	rec := &msg.Record{Origin: origin, Fields: make(map[string]any, len(fields))}
	for i, v := range fields {
		if v == "" {
			continue
		}
		if !utf8.ValidString(v) {
			te := s.textError(s.header[i], v, line, fields[:i])
			if s.hint == "" && te.Windows1252 {
				s.hint = fmt.Sprintf("%s looks like Windows-1252 (line %d: %s); set %s", s.name, te.Line, hexBytes(te.Bytes), s.setting)
			}
			return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: te, Raw: s.raw(fields)}
		}
		if s.enc.kind == encTable {
			if at := strings.IndexFunc(v, isC1); at >= 0 {
				te := s.controlError(s.header[i], v, at, line, fields[:i])
				if s.hint == "" {
					s.hint = fmt.Sprintf("%s read as %s holds control characters (line %d: %s)", s.name, s.enc.name, te.Line, hexBytes(te.Bytes))
					if te.Windows1252 {
						s.hint += "; it looks like Windows-1252: set " + s.setting + ": windows-1252"
					}
				}
				return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: te, Raw: s.raw(fields)}
			}
		}
		rec.Fields[s.header[i]] = v
	}
	return rec, nil
}

// isC1 is a C1 control character: what a Latin-1 reading makes of the bytes
// 0x80–0x9F, never text a message holds.
func isC1(r rune) bool { return r >= 0x80 && r <= 0x9f }

// controlError is the error of a field a single-byte code page decoded to a
// C1 control character at v[at:]: the byte is the character's value.
func (s *Source) controlError(column, v string, at, start int, before []string) *TextError {
	r, _ := utf8.DecodeRuneInString(v[at:])
	line := start + strings.Count(v[:at], "\n")
	for _, f := range before {
		line += strings.Count(f, "\n")
	}
	b := []byte{byte(r)}
	return &TextError{Column: column, StartLine: start, Line: line, Encoding: s.enc.name, Setting: s.setting,
		Bytes: b, Control: true, Windows1252: looksLikeWindows1252(b)}
}

// raw is a row that failed as text for the failures file: its fields
// joined by the delimiter, cut at rawLimit bytes.
func (s *Source) raw(fields []string) []byte {
	var b []byte
	for i, f := range fields {
		if i > 0 {
			b = append(b, s.rd.comma)
		}
		b = append(b, f...)
		if len(b) > rawLimit {
			return b[:rawLimit]
		}
	}
	return b
}

// rawLimit bounds the text a read failure keeps.
const rawLimit = 4 << 10

// textError describes value v of a row starting on line start, which is not
// valid UTF-8; before are the row's fields before it, to count the lines.
func (s *Source) textError(column, v string, start int, before []string) *TextError {
	bad := findBadText(v, s.enc.kind != encUTF8)
	line := start + strings.Count(v[:bad.at], "\n")
	for _, f := range before {
		// Only a quoted field holds a newline, and it keeps every byte.
		line += strings.Count(f, "\n")
	}
	return &TextError{Column: column, StartLine: start, Line: line, Encoding: s.enc.name, Setting: s.setting,
		Bytes: bad.bytes, Surrogate: bad.surrogate, Windows1252: s.enc.kind == encUTF8 && looksLikeWindows1252(bad.bytes)}
}

// Progress reports the bytes of the file read of its size (before decoding,
// so that the two compare).
func (s *Source) Progress() (done, total int64) { return s.read.n.Load(), s.size }

// Header returns the column names.
func (s *Source) Header() []string { return s.header }

// Columns implements extract.Columns: the header.
func (s *Source) Columns() []string { return s.header }

// Hints implements extract.Hints: a UTF-8 file whose bad rows read as
// Windows-1252 says so, once.
func (s *Source) Hints() []string {
	if s.hint == "" {
		return nil
	}
	return []string{s.hint}
}

// Close closes the file.
func (s *Source) Close() error { return s.closer.Close() }

// countingReader counts the bytes read through it; Progress reads the count
// from another goroutine.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
