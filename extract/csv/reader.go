package csv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Errors a row can fail with. They wrap into *ParseError with the line.
var (
	ErrBareQuote    = errors.New(`bare " in unquoted field (quote the field and double the quote: "a ""b"" c")`)
	ErrQuote        = errors.New(`extraneous or missing " in quoted field`)
	ErrUnterminated = errors.New(`quoted field is never closed`)
	ErrTooLong      = errors.New(`record is longer than the limit`)
)

// ParseError is a row that could not be read, at the line it starts on.
type ParseError struct {
	StartLine int // line the record starts on
	Line      int // line the error was found on
	Err       error
}

func (e *ParseError) Error() string {
	if e.Line != e.StartLine {
		return fmt.Sprintf("record starting on line %d: line %d: %v", e.StartLine, e.Line, e.Err)
	}
	return e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }

// reader is an RFC 4180 reader that, unlike encoding/csv, keeps every byte
// of a value — a CR before a newline inside a quoted field is data, not line
// noise — and resynchronises after a malformed record instead of stopping.
//
// Resynchronising re-reads the lines after a bad record's first from memory
// rather than seeking back, so it works on any input, decoded text included
// (a decoded stream has no byte offsets to seek to). What it keeps is the
// record so far, which max already bounds.
type reader struct {
	br    *bufio.Reader
	comma byte
	max   int

	line int // physical lines consumed

	replay     []byte // lines to read again before br
	replayLong bool   // after replay, a line longer than max (its bytes were dropped)
	held       []byte // the current record's lines after its first
	heldLong   bool   // the current record ran into a line longer than max
	holding    bool   // the current record is past its first line

	buf  []byte // field bytes of the current record
	ends []int  // end index of each field in buf
	long []byte // a physical line longer than the bufio buffer
}

// newReader reads r; a *bufio.Reader of at least 256 KiB is used as it is.
func newReader(r io.Reader, comma byte, maxRecord int) *reader {
	return &reader{br: bufio.NewReaderSize(r, 256<<10), comma: comma, max: maxRecord}
}

// readLine returns the next physical line, including its newline, and holds
// on to it while a record spans lines, for resync.
func (r *reader) readLine() ([]byte, error) {
	line, err := r.nextLine()
	if r.holding {
		if errors.Is(err, ErrTooLong) {
			r.heldLong = true
		}
		r.held = append(r.held, line...)
	}
	return line, err
}

func (r *reader) nextLine() ([]byte, error) {
	if len(r.replay) > 0 {
		line := r.replay
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
		}
		r.replay = r.replay[len(line):]
		if len(r.replay) == 0 {
			r.replay = nil // let the memory go
		}
		r.line++
		return line, nil
	}
	if r.replayLong {
		r.replayLong = false
		r.line++
		return nil, ErrTooLong
	}
	line, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		r.long = append(r.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if r.max > 0 && len(r.long) > r.max {
				// Drain the rest of the line without keeping it.
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = r.br.ReadSlice('\n')
				}
				r.line++
				return nil, ErrTooLong
			}
			line, err = r.br.ReadSlice('\n')
			r.long = append(r.long, line...)
		}
		line = r.long
	}
	if len(line) > 0 {
		r.line++
		if err == io.EOF {
			err = nil
		}
	}
	return line, err
}

// trimEOL strips a trailing "\n" or "\r\n".
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// Read returns the next record's fields and the line it starts on.
// Fields share one backing string. On a *ParseError the bad record has been
// skipped and Read may be called again.
func (r *reader) Read() (fields []string, startLine int, err error) {
	var line []byte
	for {
		r.held, r.heldLong, r.holding = r.held[:0], false, false
		line, err = r.readLine()
		if errors.Is(err, ErrTooLong) {
			return nil, r.line, &ParseError{StartLine: r.line, Line: r.line, Err: fmt.Errorf("%w (%d bytes)", ErrTooLong, r.max)}
		}
		if err != nil {
			return nil, 0, err
		}
		if len(trimEOL(line)) == 0 {
			continue // blank lines separate nothing, as in encoding/csv
		}
		startLine = r.line
		fields, err = r.parse(line, startLine)
		return fields, startLine, err
	}
}

func (r *reader) parse(line []byte, startLine int) ([]string, error) {
	r.buf = r.buf[:0]
	r.ends = r.ends[:0]
	pos := 0
	for {
		if pos < len(line) && line[pos] == '"' {
			// Quoted field: runs to the closing quote, across lines.
			pos++
			for {
				i := bytes.IndexByte(line[pos:], '"')
				if i < 0 {
					r.buf = append(r.buf, line[pos:]...)
					if r.max > 0 && len(r.buf) > r.max {
						return nil, r.resync(startLine, fmt.Errorf("%w (%d bytes) inside a quoted field", ErrTooLong, r.max))
					}
					r.holding = true
					next, err := r.readLine()
					if err != nil || len(next) == 0 {
						if err == nil || err == io.EOF || errors.Is(err, ErrTooLong) {
							return nil, r.resync(startLine, ErrUnterminated)
						}
						return nil, err
					}
					line, pos = next, 0
					continue
				}
				r.buf = append(r.buf, line[pos:pos+i]...)
				pos += i + 1
				if pos < len(line) && line[pos] == '"' {
					r.buf = append(r.buf, '"')
					pos++
					continue
				}
				break
			}
			rest := line[pos:]
			switch {
			case len(rest) > 0 && rest[0] == r.comma:
				r.ends = append(r.ends, len(r.buf))
				pos++
				continue
			case len(trimEOL(rest)) == 0:
				r.ends = append(r.ends, len(r.buf))
				return r.fields(), nil
			default:
				return nil, &ParseError{StartLine: startLine, Line: r.line, Err: ErrQuote}
			}
		}
		// Unquoted field: to the next comma or the end of the line.
		rest := line[pos:]
		i := bytes.IndexByte(rest, r.comma)
		field := rest
		if i >= 0 {
			field = rest[:i]
		} else {
			field = trimEOL(rest)
		}
		if bytes.IndexByte(field, '"') >= 0 {
			return nil, &ParseError{StartLine: startLine, Line: r.line, Err: ErrBareQuote}
		}
		r.buf = append(r.buf, field...)
		r.ends = append(r.ends, len(r.buf))
		if i < 0 {
			return r.fields(), nil
		}
		pos += i + 1
	}
}

// resync reports an unterminated or oversized record and restarts reading
// on the line after the one the record started on, so that one stray quote
// costs one record rather than the rest of the file.
func (r *reader) resync(startLine int, cause error) error {
	replay := make([]byte, 0, len(r.held)+len(r.replay))
	replay = append(append(replay, r.held...), r.replay...)
	// A too-long line the record ran into is the last line it read, so it
	// comes after everything held; one still pending in the old replay
	// comes after the rest of it. Never both: reaching br means the old
	// replay, its long line included, was used up.
	r.replay, r.replayLong = replay, r.replayLong || r.heldLong
	r.held, r.heldLong, r.holding = r.held[:0], false, false
	r.line = startLine
	return &ParseError{StartLine: startLine, Line: startLine, Err: cause}
}

func (r *reader) fields() []string {
	s := string(r.buf)
	out := make([]string, len(r.ends))
	prev := 0
	for i, e := range r.ends {
		out[i] = s[prev:e]
		prev = e
	}
	return out
}
