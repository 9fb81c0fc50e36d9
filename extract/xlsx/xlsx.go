// Package xlsx is the "xlsx" source: one worksheet of an Office Open XML
// workbook, streamed row by row with its cells' types: text exactly as
// stored, numbers as numbers, booleans, date-formatted cells as times (1900
// and 1904 date systems), formulas as their cached values, empty cells absent.
//
// Every part it reads — the sheet list, the styles that say which numbers are
// dates, the shared strings, the worksheet — goes through scanner, a
// tokenizer that holds a bounded amount of XML whatever a part holds, and
// keeps only what the source needs. So memory is bounded whatever the
// package holds (issue 12: a 1 MB file with a 1 GiB cell took 5.3 GB):
//   - a cell's value over max_cell_bytes, or a row's values over
//     max_record_bytes, fail that row (*CellTooLongError, *RowTooLongError),
//     the rest of the sheet reads on, and the failed row's record keeps the
//     start of each value over a limit (its first KiB, or less when the
//     limit is lower);
//   - text outside values (whitespace between rows, formulas) streams by;
//   - the shared strings spill to a temporary file past 16 MiB;
//   - the small parts keep a bounded list (*PartTooLargeError past it).
//
// excelize, which this source used for styles and the date system, reads
// every part it is given whole into memory; it remains the tests' writer of
// real workbooks.
package xlsx

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/msg"
)

func init() { extract.Register("xlsx", open) }

var (
	_ extract.Progress = (*Source)(nil)
	_ extract.Columns  = (*Source)(nil)
)

// Config is the xlsx source's part of a job file.
type Config struct {
	Kind      string          `yaml:"kind"`
	Path      string          `yaml:"path"`
	Sheet     string          `yaml:"sheet"`      // name, or 1-based index; default the first
	HeaderRow int             `yaml:"header_row"` // default 1
	MaxCell   config.ByteSize `yaml:"max_cell_bytes"`
	MaxRecord config.ByteSize `yaml:"max_record_bytes"`
}

// DefaultMaxRecord bounds one row's values, as csv's max_record_bytes bounds
// one CSV record: a workbook that is a CSV file saved from a spreadsheet
// passes where the CSV file does.
const DefaultMaxRecord = 16 << 20

// DefaultMaxCell bounds one cell's value. It is the row's bound, so that by
// default one cell may be all of its row: Excel itself stops a cell at
// 32,767 characters ("Excel specifications and limits",
// https://support.microsoft.com/office/1672b34d-7043-467e-8e27-269d656771c3),
// so longer cells come from other programs — message bodies written by a
// script — which the same data as CSV would pass up to 16 MiB. A job sets it
// lower to refuse long cells in rows of several.
const DefaultMaxCell = DefaultMaxRecord

// Options are Open's settings; zero values take the defaults.
type Options struct {
	Sheet          string // name, or 1-based index; default the first
	HeaderRow      int    // default 1
	MaxCellBytes   int    // default DefaultMaxCell
	MaxRecordBytes int    // default DefaultMaxRecord
	TempDir        string // for the shared strings past 16 MiB; default os.TempDir
}

// Source reads one worksheet.
type Source struct {
	name     string // file, for origins
	sheet    string
	lim      limits
	zf       *zip.ReadCloser
	sheetRC  io.ReadCloser
	counter  *countingReader
	size     int64
	rows     *sheetReader
	sst      *sharedStrings
	header   map[int]string
	columns  []string
	styles   *styles
	date1904 bool
	done     bool
}

func open(_ context.Context, sec config.Section, _ extract.Env) (extract.Source, error) {
	var c Config
	if err := sec.Decode(&c); err != nil {
		return nil, err
	}
	if c.Path == "" {
		return nil, fmt.Errorf("%s: source.path is required for kind xlsx", sec.File)
	}
	p := sec.Path(c.Path)
	return OpenOptions(p, c.Path, Options{Sheet: c.Sheet, HeaderRow: c.HeaderRow, MaxCellBytes: int(c.MaxCell), MaxRecordBytes: int(c.MaxRecord)})
}

// Open opens a worksheet of the workbook at path with the default limits;
// name is how origins call the file.
func Open(path, name, sheet string, headerRow int) (*Source, error) {
	return OpenOptions(path, name, Options{Sheet: sheet, HeaderRow: headerRow})
}

// OpenOptions opens a worksheet of the workbook at path; name is how origins
// call the file.
func OpenOptions(path, name string, o Options) (_ *Source, err error) {
	if o.HeaderRow <= 0 {
		o.HeaderRow = 1
	}
	lim := limits{cell: o.MaxCellBytes, row: o.MaxRecordBytes}
	if lim.cell <= 0 {
		lim.cell = DefaultMaxCell
	}
	if lim.row <= 0 {
		lim.row = DefaultMaxRecord
	}
	if err := checkMagic(path); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	zf, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable XLSX file: %w", name, err)
	}
	s := &Source{name: name, zf: zf, lim: lim}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	parts := partReader(zf.File)
	wbPath, err := parts.workbookPath()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	wb, err := parts.readWorkbook(wbPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(wb.sheets) == 0 {
		return nil, fmt.Errorf("%s: the workbook has no worksheets", name)
	}
	chosen, err := pickSheet(wb.sheets, o.Sheet)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.sheet = chosen.name
	s.date1904 = wb.date1904
	if p := wb.rels.styles; p != "" && parts.get(p) != nil {
		if s.styles, err = parts.readStyles(p); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if p := wb.rels.sharedStrings; p != "" && parts.get(p) != nil {
		rc, err := parts.get(p).Open()
		if err != nil {
			return nil, fmt.Errorf("%s: shared strings: %w", name, err)
		}
		s.sst, err = readSharedStrings(&partData{r: rc, part: p}, o.TempDir, lim.cell)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, partErr(p, err))
		}
	}
	sf := parts.get(chosen.part)
	if sf == nil {
		return nil, fmt.Errorf("%s: worksheet %s is missing from the file (%s)", name, quoteShort(chosen.name), quoteShort(chosen.part))
	}
	if s.sheetRC, err = sf.Open(); err != nil {
		return nil, fmt.Errorf("%s[%s]: %w", name, s.sheet, err)
	}
	s.size = int64(sf.UncompressedSize64)
	s.counter = &countingReader{r: &partData{r: s.sheetRC, part: chosen.part}}
	s.rows = newSheetReader(s.counter, lim)
	if err := s.readHeader(o.HeaderRow); err != nil {
		return nil, err
	}
	return s, nil
}

func checkMagic(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	switch {
	case n >= 4 && bytes.Equal(head[:4], []byte("PK\x03\x04")):
		return nil
	case n == 8 && bytes.Equal(head, []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}):
		return errors.New("the workbook is encrypted (password-protected) or an old .xls file: save it as .xlsx without a password")
	}
	return errors.New("not an XLSX file (it is not a zip package)")
}

func pickSheet(sheets []sheetRef, want string) (sheetRef, error) {
	if want == "" {
		return sheets[0], nil
	}
	for _, s := range sheets {
		if s.name == want {
			return s, nil
		}
	}
	if n, err := strconv.Atoi(want); err == nil && n >= 1 && n <= len(sheets) {
		return sheets[n-1], nil
	}
	const most = 20 // a message names sheets, it does not list thousands
	var names []string
	for i, s := range sheets {
		if i == most {
			names = append(names, fmt.Sprintf("and %d more", len(sheets)-most))
			break
		}
		names = append(names, quoteShort(s.name))
	}
	return sheetRef{}, fmt.Errorf("no sheet %s (the sheets are %s)", quoteShort(want), strings.Join(names, ", "))
}

func (s *Source) origin(row int) msg.Origin {
	return msg.Origin{Source: s.name + "[" + s.sheet + "]", Line: row}
}

func (s *Source) readHeader(headerRow int) error {
	for {
		row, cells, bad, err := s.rows.next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s[%s]: no header: row %d is empty and no row follows", s.name, s.sheet, headerRow)
		}
		if err != nil {
			return fmt.Errorf("%s[%s]: %w", s.name, s.sheet, err)
		}
		if row < headerRow {
			continue
		}
		if row > headerRow {
			return fmt.Errorf("%s[%s]:%d: the header row is empty", s.name, s.sheet, headerRow)
		}
		if bad != nil {
			return fmt.Errorf("%s[%s]:%d: header: %w", s.name, s.sheet, row, bad)
		}
		s.header = map[int]string{}
		seen := map[string]int{}
		for _, c := range cells {
			v, size, err := s.sized(c, s.lim.cell)
			var cut *cutError
			if errors.As(err, &cut) {
				err = &CellTooLongError{Cell: columnName(c.col) + strconv.Itoa(row), Size: size, Limit: s.lim.cell}
				if size <= int64(s.lim.cell) {
					err = &RowTooLongError{Size: size, Limit: s.lim.row} // at least
				}
			}
			if err != nil {
				return fmt.Errorf("%s[%s]:%d: header: %w", s.name, s.sheet, row, err)
			}
			h := toText(v)
			if h == "" {
				continue
			}
			if prev, dup := seen[h]; dup {
				return fmt.Errorf("%s[%s]:%d: header: column %s appears twice (%s and %s)", s.name, s.sheet, row, quoteShort(h), columnName(prev), columnName(c.col))
			}
			seen[h] = c.col
			s.header[c.col] = h
		}
		cols := make([]int, 0, len(s.header))
		for c := range s.header {
			cols = append(cols, c)
		}
		sort.Ints(cols)
		for _, c := range cols {
			s.columns = append(s.columns, s.header[c])
		}
		return nil
	}
}

// Columns returns the header row's names, in column order
// (extract.Columns).
func (s *Source) Columns() []string { return s.columns }

// Next returns the next non-empty row.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.done {
		return nil, io.EOF
	}
	row, cells, bad, err := s.rows.next()
	if errors.Is(err, io.EOF) {
		s.done = true
		io.Copy(io.Discard, s.counter) // the sheet's tail, so progress ends at 100%
		return nil, io.EOF
	}
	if err != nil {
		// The sheet's XML is broken here: nothing after it can be trusted.
		s.done = true
		return nil, &msg.Error{Origin: s.origin(s.rows.row), Stage: msg.StageRead, Err: err}
	}
	origin := s.origin(row)
	rec := &msg.Record{Origin: origin, Fields: make(map[string]any, len(cells))}
	var total int64 // the row's bytes, shared strings as the strings
	for _, c := range cells {
		ref := columnName(c.col) + strconv.Itoa(row)
		h, ok := s.header[c.col]
		// Past the row's limit, only the start of each string is read.
		most := s.lim.cell
		if total > int64(s.lim.row) {
			most = keepBytes
		}
		v, size, err := s.sized(c, most)
		total += size
		var cut *cutError
		switch {
		case errors.As(err, &cut):
			if size > int64(s.lim.cell) && bad == nil {
				bad = &CellTooLongError{Cell: ref, Column: h, Size: size, Limit: s.lim.cell}
			}
			v = cut.text + "…"
		case err != nil:
			if bad == nil {
				bad = fmt.Errorf("cell %s: %w", ref, err)
			}
			v = c.v // what the cell holds, for the record
		}
		if str, isStr := v.(string); isStr && cut == nil && total > int64(s.lim.row) && len(str) > keepBytes {
			v = cutText(str) + "…" // the record is cut from where the row went over
		}
		if v == nil || v == "" {
			continue
		}
		if !ok {
			if bad == nil {
				bad = fmt.Errorf("cell %s has a value but its column has no header", ref)
			}
			continue
		}
		rec.Fields[h] = v
	}
	if bad == nil && total > int64(s.lim.row) {
		bad = &RowTooLongError{Size: total, Limit: s.lim.row}
	}
	if bad != nil {
		re := &RowError{Fields: rec.Fields, Err: bad}
		return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: re, Raw: re.JSON()}
	}
	return rec, nil
}

// sized is value with the value's size in bytes: a shared string's, not
// its index's.
func (s *Source) sized(c cell, most int) (any, int64, error) {
	v, err := s.value(c, most)
	var cut *cutError
	switch {
	case errors.As(err, &cut):
		return nil, cut.size, err
	case c.typ == "s":
		if str, ok := v.(string); ok {
			return v, int64(len(str)), err
		}
	}
	return v, c.size, err
}

// cutError is a value over a limit: the row fails and its record keeps the
// value's start.
type cutError struct {
	text string // the start
	size int64  // the value's bytes, all of them
}

func (e *cutError) Error() string { return fmt.Sprintf("a value of %s", byteSize(e.size)) }

// value converts a stored cell to a record value; nil for an empty one. A
// string over most bytes (or a cell the sheet reader cut) is a *cutError.
func (s *Source) value(c cell, most int) (any, error) {
	if c.cut {
		return nil, &cutError{text: c.v, size: c.size}
	}
	switch c.typ {
	case "s":
		if c.v == "" {
			return nil, nil
		}
		i, err := strconv.Atoi(strings.TrimSpace(c.v))
		if err != nil {
			return nil, fmt.Errorf("shared string index %s", quoteShort(c.v))
		}
		if s.sst == nil {
			return nil, errors.New("the workbook has no shared strings")
		}
		ss, err := s.sst.get(i, most)
		if err != nil {
			return nil, err
		}
		if ss.cut {
			return nil, &cutError{text: ss.text, size: ss.size}
		}
		if ss.text == "" {
			return nil, nil
		}
		if !utf8.ValidString(ss.text) {
			return nil, errors.New("text is not valid UTF-8")
		}
		return ss.text, nil
	case "str", "inlineStr", "e":
		if c.v == "" {
			return nil, nil
		}
		if !utf8.ValidString(c.v) {
			return nil, errors.New("text is not valid UTF-8")
		}
		return c.v, nil
	case "b":
		switch strings.TrimSpace(c.v) {
		case "1", "true", "TRUE":
			return true, nil
		case "0", "false", "FALSE":
			return false, nil
		}
		return nil, fmt.Errorf("boolean cell holds %s", quoteShort(c.v))
	case "d":
		for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
			if t, err := time.Parse(l, c.v); err == nil {
				return t.UTC(), nil
			}
		}
		return nil, fmt.Errorf("date cell holds %s", quoteShort(c.v))
	default: // "n", or no type: a number
		if strings.TrimSpace(c.v) == "" {
			return nil, nil
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(c.v), 64)
		if err != nil {
			return nil, fmt.Errorf("number cell holds %s", quoteShort(c.v))
		}
		if s.styles.isDate(c.style) {
			t, ok := serialTime(f, s.date1904)
			if !ok {
				return nil, fmt.Errorf("date cell holds %v, out of Excel's date range", f)
			}
			return t, nil
		}
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), nil
		}
		return f, nil
	}
}

func toText(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case time.Time:
		return t.Format(time.RFC3339)
	default:
		return fmt.Sprint(v)
	}
}

// Progress reports the worksheet's bytes read, uncompressed.
func (s *Source) Progress() (done, total int64) {
	if s.counter == nil {
		return 0, s.size
	}
	return min(s.counter.n.Load(), s.size), s.size
}

// Close releases the file and every temporary file.
func (s *Source) Close() error {
	if s.sheetRC != nil {
		s.sheetRC.Close()
	}
	s.sst.close()
	if s.zf != nil {
		return s.zf.Close()
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// RowError is a row that failed to read, with what could be read of it:
// the record for the failures file. Its values over a limit are cut to
// their first KiB (less when the limit is lower) and marked with a trailing
// "…"; a cell that could not be converted is its text as stored.
type RowError struct {
	Fields map[string]any
	Err    error // the row's first problem: *CellTooLongError, *RowTooLongError, …
}

func (e *RowError) Error() string { return e.Err.Error() }

// JSON is Fields as a JSON object, for the failure's record (msg.Error.Raw
// on main); nil if it has none.
func (e *RowError) JSON() []byte {
	if len(e.Fields) == 0 {
		return nil
	}
	b, err := json.Marshal(e.Fields)
	if err != nil {
		return nil
	}
	return b
}
func (e *RowError) Unwrap() error { return e.Err }

// CellTooLongError is a cell whose value is over source.max_cell_bytes.
type CellTooLongError struct {
	Cell   string // "F2"
	Column string // its header; "" when it has none
	Size   int64  // the value's bytes
	Limit  int
}

func (e *CellTooLongError) Error() string {
	col := ""
	if e.Column != "" {
		col = " (" + quoteShort(e.Column) + ")"
	}
	return fmt.Sprintf("cell %s%s holds %s, over the %s limit (source.max_cell_bytes)", e.Cell, col, byteSize(e.Size), byteSize(int64(e.Limit)))
}

// RowTooLongError is a row whose values together are over
// source.max_record_bytes.
type RowTooLongError struct {
	Size  int64 // the row's bytes
	Limit int
}

func (e *RowTooLongError) Error() string {
	return fmt.Sprintf("the row's values are %s, over the %s limit (source.max_record_bytes)", byteSize(e.Size), byteSize(int64(e.Limit)))
}
