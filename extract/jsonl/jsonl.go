// Package jsonl is the "jsonl" source: one JSON object per line. Numbers that
// are whole and fit are int64 (ids keep every digit), others float64.
package jsonl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/msg"
)

func init() { extract.Register("jsonl", open) }

// Config is the jsonl source's part of a job file.
type Config struct {
	Kind string `yaml:"kind"`
	Path string `yaml:"path"`
}

// Source reads one JSON-lines file.
type Source struct {
	name   string
	f      *os.File
	br     *bufio.Reader
	size   int64
	line   int
	offset atomic.Int64
	long   []byte
}

func open(_ context.Context, sec config.Section, _ extract.Env) (extract.Source, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Path == "" {
		return nil, fmt.Errorf("%s: source.path is required for kind jsonl", sec.File)
	}
	path := sec.Path(c.Path)
	return Open(path, c.Path)
}

// Open opens path; name is how origins call the file.
func Open(path, name string) (*Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("jsonl source: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("jsonl source: %w", err)
	}
	return &Source{name: name, f: f, br: bufio.NewReaderSize(f, 256<<10), size: st.Size()}, nil
}

// Next returns the next non-blank line as a record.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		line, err := s.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			s.long = append(s.long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = s.br.ReadSlice('\n')
				s.long = append(s.long, line...)
			}
			line = s.long
		}
		if len(line) == 0 && err != nil {
			return nil, err
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		s.line++
		s.offset.Add(int64(len(line)))
		if s.line == 1 {
			line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		origin := msg.Origin{Source: s.name, Line: s.line}
		fields, derr := Decode(line)
		if derr != nil {
			return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: derr}
		}
		return &msg.Record{Origin: origin, Fields: fields}, nil
	}
}

// Decode parses one JSON object into record fields. Null members are absent.
func Decode(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value on the line")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a line must be a JSON object, not %s", kindOf(v))
	}
	return Normalize(m).(map[string]any), nil
}

// Normalize turns json.Number into int64 or float64 and drops null members,
// recursively, so mappings see plain values.
func Normalize(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			t[k] = Normalize(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = Normalize(e)
		}
		return t
	}
	return v
}

func kindOf(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case string:
		return "a string"
	case nil:
		return "null"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// Progress reports bytes read of the file's size.
func (s *Source) Progress() (done, total int64) { return s.offset.Load(), s.size }

// Close closes the file.
func (s *Source) Close() error { return s.f.Close() }
