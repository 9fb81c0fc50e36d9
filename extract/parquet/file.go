package parquet

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	pq "github.com/xitongsys/parquet-go/parquet"

	"github.com/msgmigrate/msgmigrate/msg"
)

// RowError is a row that cannot be read whole: one error per column that
// failed — a *PageError when the column's page is damaged, or the column's
// value that cannot be converted — and the row's other columns.
type RowError struct {
	// Fields are the columns that were read, as a record's fields: what the
	// failures file can show of the row.
	Fields map[string]any
	Errs   []error
}

func (e *RowError) Error() string {
	s := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		s[i] = err.Error()
	}
	return strings.Join(s, "; ")
}

func (e *RowError) Unwrap() []error { return e.Errs }

// file is one open Parquet file.
type file struct {
	name    string
	r       *os.File
	size    int64
	dataEnd int64 // where the footer starts
	meta    *pq.FileMetaData
	root    *node
	leaves  []*node
	cols    []*column
	rows    int64 // rows in the file
	read    int64 // rows handed out
	chunk   int

	// The current chunk of rows: per leaf, its entries.
	bufs []colChunk
	row  int   // next row within the chunk
	n    int   // rows in the chunk
	bad  error // a failure no page explains (a bug): the rest of the file fails
}

var magic = []byte("PAR1")

// maxFooterBytes bounds the footer: a footer is a few kilobytes a row group.
const maxFooterBytes = 256 << 20

func openFile(name string, chunk int) (*file, error) {
	r, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	f, err := readFooter(r, name, chunk)
	if err != nil {
		r.Close()
		return nil, err
	}
	return f, nil
}

func readFooter(r *os.File, name string, chunk int) (*file, error) {
	st, err := r.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	head := make([]byte, 4)
	tail := make([]byte, 8)
	_, err1 := r.ReadAt(head, 0)
	_, err2 := r.ReadAt(tail, size-8)
	switch {
	case size < 12 || err1 != nil || !bytes.Equal(head, magic):
		return nil, errors.New("not a Parquet file (it does not start with PAR1)")
	case err2 != nil:
		return nil, fmt.Errorf("reading the footer: %w", err2)
	case bytes.Equal(tail[4:], []byte("PARE")):
		return nil, errors.New("an encrypted Parquet file, which is not supported")
	case !bytes.Equal(tail[4:], magic):
		return nil, errors.New("truncated Parquet file: the footer is missing (it does not end with PAR1)")
	}
	n := int64(binary.LittleEndian.Uint32(tail))
	if n <= 0 || n > size-12 || n > maxFooterBytes {
		return nil, fmt.Errorf("damaged Parquet file: a footer of %d bytes in a file of %d", n, size)
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-8-n); err != nil {
		return nil, fmt.Errorf("reading the footer: %w", err)
	}
	meta := pq.NewFileMetaData()
	if _, err := thriftRead(buf, meta); err != nil {
		return nil, fmt.Errorf("damaged Parquet file: its footer cannot be read: %w", err)
	}
	names := make([]string, len(meta.Schema))
	for i, e := range meta.Schema {
		if e == nil {
			return nil, errors.New("damaged Parquet file: an empty schema element")
		}
		names[i] = e.Name
	}
	root, leaves, err := buildTree(meta.Schema, names)
	if err != nil {
		return nil, err
	}
	f := &file{name: name, r: r, size: size, dataEnd: size - 8 - n, meta: meta, root: root, leaves: leaves, chunk: chunk}
	for i, rg := range meta.RowGroups {
		if rg == nil || rg.NumRows < 0 {
			return nil, fmt.Errorf("damaged Parquet file: row group %d has no row count", i+1)
		}
		f.rows += rg.NumRows
	}
	for i, l := range leaves {
		f.cols = append(f.cols, &column{
			f: f, leaf: l, i: i, rg: -1, maxRep: l.rl, maxDef: l.dl,
			t: colType{typ: l.elem.GetType(), len: int(l.elem.GetTypeLength())},
		})
	}
	f.bufs = make([]colChunk, len(leaves))
	return f, nil
}

func (f *file) close() { f.r.Close() }

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
	if f.bad == nil && f.row >= f.n {
		f.bad = f.load()
	}
	if f.bad != nil {
		f.read++
		return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: noEOF(f.bad)}
	}
	r := f.row
	fields := make(map[string]any, len(f.root.children))
	var errs []error
	for _, c := range f.root.children {
		if lost := f.lost(c, r); lost != nil {
			if !containsErr(errs, lost) {
				errs = append(errs, lost)
			}
			continue
		}
		v, ok, err := f.value(c, r, -1)
		if err != nil {
			errs = append(errs, fmt.Errorf("column %s: %w", c.path, err))
			continue
		}
		if ok && v != nil {
			fields[c.name] = v
		}
	}
	f.row++
	f.read++
	if errs != nil {
		raw, _ := json.Marshal(fields) // the row's readable columns, for the failures file
		if len(raw) > 4<<10 {
			raw = raw[:4<<10]
		}
		return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: &RowError{Fields: fields, Errs: errs}, Raw: raw}
	}
	return &msg.Record{Origin: origin, Fields: fields}, nil
}

func containsErr(errs []error, e error) bool {
	for _, x := range errs {
		if x == e {
			return true
		}
	}
	return false
}

// lost returns why a leaf under n has no entries for row r, if one has not.
func (f *file) lost(n *node, r int) error {
	for _, l := range n.leaves {
		if e := f.bufs[l].bad[r]; e != nil {
			return e
		}
	}
	return nil
}

// load reads the next chunk of rows from every column.
func (f *file) load() (err error) {
	defer func() {
		// The decoders check every read; a panic is a bug, and then nothing
		// more of this file can be trusted.
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error reading this Parquet file: %v", r)
		}
	}()
	want := int(min(int64(f.chunk), f.rows-f.read))
	for i, c := range f.cols {
		c.read(want, &f.bufs[i])
	}
	f.row, f.n = 0, want
	return nil
}

// entry returns a leaf's value and definition level for row r, entry k of
// the row's repeated values (k < 0: the row's single entry).
func (f *file) entry(l *node, r, k int) (v any, dl int32, ok bool) {
	b := &f.bufs[l.leaf]
	start, end := b.starts[r], b.starts[r+1]
	if k < 0 {
		k = 0
	}
	if start+k >= end {
		return nil, 0, false
	}
	return b.vals[start+k], b.dls[start+k], true
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
		b := &f.bufs[first.leaf]
		for j := b.starts[r]; j < b.starts[r+1]; j++ {
			if b.dls[j] >= n.rep.dl {
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
