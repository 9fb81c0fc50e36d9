// Package csv is the "csv" source: a streaming reader of delimited text with
// a header row. Every byte of a value is kept; an empty cell is absent from
// the record (so a mapping can write `row.a ?? row.b`); a malformed row fails
// that record with its FILE:LINE origin and reading goes on.
package csv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"unicode/utf8"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/msg"
)

func init() { extract.Register("csv", open) }

// Config is the csv source's part of a job file.
type Config struct {
	Kind      string `yaml:"kind"`
	Path      string `yaml:"path"`
	Delimiter string `yaml:"delimiter"` // detected from , ; \t | when empty
	MaxRecord int    `yaml:"max_record_bytes"`
}

// DefaultMaxRecord bounds one record's size so a stray quote cannot read a
// whole file into memory.
const DefaultMaxRecord = 16 << 20

// Source reads one CSV file.
type Source struct {
	name   string
	f      *os.File
	size   int64
	read   *countingReader // the file's bytes, for Progress
	rd     *reader
	header []string
}

func open(_ context.Context, sec config.Section, _ extract.Env) (extract.Source, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Path == "" {
		return nil, fmt.Errorf("%s: source.path is required for kind csv", sec.File)
	}
	path := sec.Path(c.Path)
	return Open(path, c.Path, c.Delimiter, c.MaxRecord)
}

// Open opens path; name is how origins call the file. delimiter "" detects it.
func Open(path, name, delimiter string, maxRecord int) (*Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("csv source: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("csv source: %w", err)
	}
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecord
	}
	s := &Source{name: name, f: f, size: st.Size(), read: &countingReader{r: f}}
	if err := s.start(delimiter, maxRecord); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func (s *Source) start(delimiter string, maxRecord int) error {
	// Skip a UTF-8 byte order mark and sniff the delimiter from the header.
	head := make([]byte, 64<<10)
	n, err := io.ReadFull(s.f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	head = head[:n]
	skip := int64(0)
	if bytes.HasPrefix(head, []byte("\xEF\xBB\xBF")) {
		skip = 3
		head = head[3:]
	}
	comma, err := delimiterFor(delimiter, head)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	if _, err := s.f.Seek(skip, io.SeekStart); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	s.read.n.Store(skip)
	s.rd = newReader(s.read, comma, maxRecord)
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
		if j, dup := seen[h]; dup {
			return fmt.Errorf("%s:%d: header: column %q appears twice (columns %d and %d)", s.name, line, h, j+1, i+1)
		}
		seen[h] = i
	}
	s.header = header
	return nil
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
		return nil, err
	}
	origin := msg.Origin{Source: s.name, Line: line}
	if len(fields) != len(s.header) {
		return nil, &msg.Error{Origin: origin, Stage: msg.StageRead,
			Err: fmt.Errorf("row has %d fields, the header has %d", len(fields), len(s.header))}
	}
	rec := &msg.Record{Origin: origin, Fields: make(map[string]any, len(fields))}
	for i, v := range fields {
		if v == "" {
			continue
		}
		if !utf8.ValidString(v) {
			return nil, &msg.Error{Origin: origin, Stage: msg.StageRead,
				Err: fmt.Errorf("column %q is not valid UTF-8 (convert the file to UTF-8 first)", s.header[i])}
		}
		rec.Fields[s.header[i]] = v
	}
	return rec, nil
}

// Progress reports bytes read of the file's size (read ahead of the rows
// by the reader's buffer).
func (s *Source) Progress() (done, total int64) { return s.read.n.Load(), s.size }

// Header returns the column names.
func (s *Source) Header() []string { return s.header }

// Close closes the file.
func (s *Source) Close() error { return s.f.Close() }

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
