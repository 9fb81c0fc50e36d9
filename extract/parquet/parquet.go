// Package parquet is the "parquet" source: a file, a directory of part files
// or a glob, read in lexical order by each file's own schema, column names as
// written. It reads a bounded number of rows at a time from each column's
// pages (github.com/xitongsys/parquet-go's column reader), so a file written
// as one huge row group — as Spark and pyarrow do — loads in flat memory.
package parquet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/xitongsys/parquet-go-source/local"
	"github.com/xitongsys/parquet-go/reader"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/msg"
)

func init() { extract.Register("parquet", open) }

// Config is the parquet source's part of a job file.
type Config struct {
	Kind      string `yaml:"kind"`
	Path      string `yaml:"path"`       // a file, a directory, or a glob
	ChunkRows int    `yaml:"chunk_rows"` // rows read from each column at a time
}

// DefaultChunkRows bounds the rows decoded at once.
const DefaultChunkRows = 1024

// Source reads Parquet files one after the other.
type Source struct {
	files   []string
	names   []string
	chunk   int
	next    int // next file to open
	cur     *file
	total   int64
	doneSum atomic.Int64 // bytes of finished files
	closed  bool
}

func open(_ context.Context, sec config.Section, _ extract.Env) (extract.Source, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Path == "" {
		return nil, fmt.Errorf("%s: source.path is required for kind parquet", sec.File)
	}
	path := sec.Path(c.Path)
	return Open(path, c.ChunkRows)
}

// Open lists the files at path (a file, a directory of *.parquet, or a glob).
func Open(path string, chunkRows int) (*Source, error) {
	files, err := list(path)
	if err != nil {
		return nil, err
	}
	if chunkRows <= 0 {
		chunkRows = DefaultChunkRows
	}
	s := &Source{files: files, chunk: chunkRows}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("parquet source: %w", err)
		}
		s.total += st.Size()
		s.names = append(s.names, f)
	}
	return s, nil
}

func list(path string) ([]string, error) {
	if strings.ContainsAny(path, "*?[") {
		m, err := filepath.Glob(path)
		if err != nil {
			return nil, fmt.Errorf("parquet source: %s: %w", path, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("parquet source: no file matches %s", path)
		}
		slices.Sort(m)
		return m, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("parquet source: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("parquet source: %w", err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		// Part files: skip Spark's _SUCCESS, .crc side files and the like.
		if e.IsDir() || strings.HasPrefix(n, "_") || strings.HasPrefix(n, ".") {
			continue
		}
		out = append(out, filepath.Join(path, n))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("parquet source: %s holds no part files", path)
	}
	slices.Sort(out)
	return out, nil
}

// Next returns the next row.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if s.cur == nil {
			if s.next >= len(s.files) {
				return nil, io.EOF
			}
			name := s.files[s.next]
			s.next++
			f, err := openFile(name, s.chunk)
			if err != nil {
				// A file that cannot be read at all costs that file: one
				// failure naming it, and on to the next.
				s.finished(name)
				return nil, &msg.Error{Origin: msg.Origin{Source: name}, Stage: msg.StageRead, Err: err}
			}
			s.cur = f
		}
		rec, err := s.cur.next()
		if errors.Is(err, io.EOF) {
			s.cur.close()
			s.finished(s.cur.name)
			s.cur = nil
			continue
		}
		return rec, err
	}
}

func (s *Source) finished(name string) {
	if st, err := os.Stat(name); err == nil {
		s.doneSum.Add(st.Size())
	}
}

// Progress reports bytes of the files finished and of the one being read.
func (s *Source) Progress() (done, total int64) {
	d := s.doneSum.Load()
	if f := s.cur; f != nil {
		d += f.progress()
	}
	return min(d, s.total), s.total
}

// Close closes the file being read.
func (s *Source) Close() error {
	if s.cur != nil {
		s.cur.close()
		s.cur = nil
	}
	return nil
}

// file is one open Parquet file.
type file struct {
	name   string
	size   int64
	pr     *reader.ParquetReader
	root   *node
	leaves []*node
	rows   int64 // rows in the file
	read   int64 // rows handed out
	chunk  int

	// The current chunk: per leaf, its values and levels, and where each
	// row starts.
	vals   [][]any
	dls    [][]int32
	starts [][]int // per leaf, index of each row's first entry, plus the end
	row    int     // next row within the chunk
	n      int     // rows in the chunk
	bad    error   // set when a chunk could not be read: the rest fails
}

var magic = []byte("PAR1")

// maxColumnBuffer bounds the read buffer of each column.
const maxColumnBuffer = 256 << 10

func openFile(name string, chunk int) (f *file, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("not a readable Parquet file: %v", r)
		}
	}()
	raw, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := raw.Stat()
	if err != nil {
		raw.Close()
		return nil, err
	}
	head := make([]byte, 4)
	tail := make([]byte, 4)
	_, err1 := raw.ReadAt(head, 0)
	_, err2 := raw.ReadAt(tail, st.Size()-4)
	raw.Close()
	switch {
	case st.Size() < 12 || err1 != nil || !bytes.Equal(head, magic):
		return nil, errors.New("not a Parquet file (it does not start with PAR1)")
	case err2 != nil || !bytes.Equal(tail, magic):
		return nil, errors.New("truncated Parquet file: the footer is missing (it does not end with PAR1)")
	}
	pf, err := local.NewLocalFileReader(name)
	if err != nil {
		return nil, err
	}
	pr, err := reader.NewParquetColumnReader(pf, 1)
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("reading the footer: %w", err)
	}
	// The column reader buffers each column chunk through a bufio reader
	// and writer as large as the whole chunk: for a file written as one row
	// group, twice the file. The size is only a buffer size — pages are read
	// as a stream — so bound it.
	for _, rg := range pr.Footer.RowGroups {
		for _, cc := range rg.Columns {
			if cc.MetaData != nil && cc.MetaData.TotalCompressedSize > maxColumnBuffer {
				cc.MetaData.TotalCompressedSize = maxColumnBuffer
			}
		}
	}
	names := make([]string, len(pr.SchemaHandler.Infos))
	for i, in := range pr.SchemaHandler.Infos {
		names[i] = in.ExName
	}
	root, leaves, err := buildTree(pr.SchemaHandler.SchemaElements, names)
	if err != nil {
		pf.Close()
		return nil, err
	}
	return &file{name: name, size: st.Size(), pr: pr, root: root, leaves: leaves, rows: pr.GetNumRows(), chunk: chunk}, nil
}

func (f *file) close() {
	f.pr.PFile.Close()
	for _, cb := range f.pr.ColumnBuffers {
		cb.PFile.Close()
	}
}

func (f *file) progress() int64 {
	if f.rows == 0 {
		return 0
	}
	return int64(float64(f.size) * float64(f.read) / float64(f.rows))
}

func (f *file) next() (*msg.Record, error) {
	if f.read >= f.rows {
		return nil, io.EOF
	}
	origin := msg.Origin{Source: f.name, Line: int(f.read) + 1}
	if f.bad != nil {
		f.read++
		return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: f.bad}
	}
	if f.row >= f.n {
		if err := f.load(); err != nil {
			f.bad = err
			f.read++
			return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: err}
		}
	}
	fields := make(map[string]any, len(f.root.children))
	var ferr error
	for _, c := range f.root.children {
		v, ok, err := f.value(c, f.row, -1)
		if err != nil && ferr == nil {
			ferr = fmt.Errorf("column %s: %w", c.path, err)
		}
		if ok && v != nil {
			fields[c.name] = v
		}
	}
	f.row++
	f.read++
	if ferr != nil {
		return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: ferr}
	}
	return &msg.Record{Origin: origin, Fields: fields}, nil
}

// load reads the next chunk of rows from every column.
func (f *file) load() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt Parquet data: %v", r)
		}
	}()
	want := int(min(int64(f.chunk), f.rows-f.read))
	if f.vals == nil {
		f.vals = make([][]any, len(f.leaves))
		f.dls = make([][]int32, len(f.leaves))
		f.starts = make([][]int, len(f.leaves))
	}
	for i, l := range f.leaves {
		vals, rls, dls, err := f.pr.ReadColumnByIndex(int64(i), int64(want))
		if err != nil {
			return fmt.Errorf("column %s: %w", l.path, err)
		}
		starts := f.starts[i][:0]
		for j, rl := range rls {
			if rl == 0 {
				starts = append(starts, j)
			}
		}
		if len(starts) != want {
			return fmt.Errorf("column %s: rows %d to %d cannot be read (corrupt or truncated page)", l.path, f.read+int64(len(starts))+1, f.read+int64(want))
		}
		f.vals[i], f.dls[i], f.starts[i] = vals, dls, append(starts, len(vals))
	}
	f.row, f.n = 0, want
	return nil
}

// entry returns a leaf's value and definition level for row r, entry k of
// the row's repeated values (k < 0: the row's single entry).
func (f *file) entry(l *node, r, k int) (v any, dl int32, ok bool) {
	start, end := f.starts[l.leaf][r], f.starts[l.leaf][r+1]
	if k < 0 {
		k = 0
	}
	if start+k >= end {
		return nil, 0, false
	}
	return f.vals[l.leaf][start+k], f.dls[l.leaf][start+k], true
}

// value assembles node n's value for row r (k: the element index inside the
// enclosing list, or -1). ok is false when n is not defined (null).
func (f *file) value(n *node, r, k int) (any, bool, error) {
	switch n.kind {
	case kPrimitive:
		v, dl, ok := f.entry(n, r, k)
		if !ok || dl < n.dl || v == nil {
			return nil, false, nil
		}
		out, err := n.conv(v)
		return out, err == nil, err
	case kStruct:
		first := n.firstLeaf()
		if first == nil {
			return nil, false, nil
		}
		if _, dl, ok := f.entry(first, r, k); !ok || dl < n.dl {
			return nil, false, nil
		}
		m := make(map[string]any, len(n.children))
		for _, c := range n.children {
			v, ok, err := f.value(c, r, k)
			if err != nil {
				return nil, false, fmt.Errorf("%s: %w", c.name, err)
			}
			if ok && v != nil {
				m[c.name] = v
			}
		}
		return m, true, nil
	case kList, kMap:
		first := n.rep.firstLeaf()
		if first == nil {
			return nil, false, nil
		}
		if _, dl, ok := f.entry(first, r, 0); !ok || dl < n.dl {
			return nil, false, nil // the list itself is null
		}
		count := 0
		for j := f.starts[first.leaf][r]; j < f.starts[first.leaf][r+1]; j++ {
			if f.dls[first.leaf][j] >= n.rep.dl {
				count++
			}
		}
		if n.kind == kMap {
			m := make(map[string]any, count)
			key, val := n.rep.children[0], n.rep.children[1]
			for e := range count {
				kv, ok, err := f.value(key, r, e)
				if err != nil || !ok {
					return nil, false, err
				}
				vv, _, err := f.value(val, r, e)
				if err != nil {
					return nil, false, err
				}
				m[keyString(kv)] = vv
			}
			return m, true, nil
		}
		list := make([]any, 0, count)
		for e := range count {
			v, _, err := f.value(n.item, r, e)
			if err != nil {
				return nil, false, fmt.Errorf("[%d]: %w", e, err)
			}
			list = append(list, v)
		}
		return list, true, nil
	}
	return nil, false, nil
}

func keyString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case int64:
		return strconv.FormatInt(t, 10)
	default:
		return fmt.Sprint(v)
	}
}
