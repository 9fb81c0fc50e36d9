// Package xlsx is the "xlsx" source: one worksheet of an Office Open XML
// workbook, streamed row by row with its cells' types: text exactly as
// stored, numbers as numbers, booleans, date-formatted cells as times (1900
// and 1904 date systems), formulas as their cached values, empty cells absent.
//
// github.com/xuri/excelize/v2 reads the workbook's small parts — the sheet
// list, the styles that say which numbers are dates, the date system — from
// a copy of the package without its worksheets and shared strings. Those two
// are streamed here instead: excelize's Rows iterator hands out cells as
// strings only, which cannot tell the number 1 from the text "1", and its
// reader unpacks every large part to disk before the first row.
package xlsx

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/msg"
)

func init() { extract.Register("xlsx", open) }

// Config is the xlsx source's part of a job file.
type Config struct {
	Kind      string `yaml:"kind"`
	Path      string `yaml:"path"`
	Sheet     string `yaml:"sheet"`      // name, or 1-based index; default the first
	HeaderRow int    `yaml:"header_row"` // default 1
}

// Source reads one worksheet.
type Source struct {
	name     string // file, for origins
	sheet    string
	zf       *zip.ReadCloser
	sheetRC  io.ReadCloser
	counter  *countingReader
	size     int64
	rows     *sheetReader
	sst      *sharedStrings
	header   map[int]string
	dateFmt  map[int]bool
	book     *excelize.File
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
	return Open(p, c.Path, c.Sheet, c.HeaderRow)
}

// Open opens a worksheet of the workbook at path; name is how origins call
// the file.
func Open(path, name, sheet string, headerRow int) (_ *Source, err error) {
	if headerRow <= 0 {
		headerRow = 1
	}
	if err := checkMagic(path); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	zf, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable XLSX file: %w", name, err)
	}
	s := &Source{name: name, zf: zf, dateFmt: map[int]bool{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	parts := map[string]*zip.File{}
	for _, f := range zf.File {
		parts[strings.TrimPrefix(f.Name, "/")] = f
	}
	wbPath, err := workbookPath(parts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sheets, rels, err := readWorkbook(parts, wbPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(sheets) == 0 {
		return nil, fmt.Errorf("%s: the workbook has no worksheets", name)
	}
	chosen, err := pickSheet(sheets, sheet)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.sheet = chosen.name
	if s.book, err = openSmallParts(zf, parts); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if props, err := s.book.GetWorkbookProps(); err == nil && props.Date1904 != nil {
		s.date1904 = *props.Date1904
	}
	if sstPath := rels.ofType("sharedStrings"); sstPath != "" {
		if f := parts[sstPath]; f != nil {
			rc, err := f.Open()
			if err != nil {
				return nil, fmt.Errorf("%s: shared strings: %w", name, err)
			}
			s.sst, err = readSharedStrings(rc, "")
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	sf := parts[chosen.part]
	if sf == nil {
		return nil, fmt.Errorf("%s: worksheet %q is missing from the file (%s)", name, chosen.name, chosen.part)
	}
	if s.sheetRC, err = sf.Open(); err != nil {
		return nil, fmt.Errorf("%s[%s]: %w", name, s.sheet, err)
	}
	s.size = int64(sf.UncompressedSize64)
	s.counter = &countingReader{r: s.sheetRC}
	s.rows = newSheetReader(s.counter)
	if err := s.readHeader(headerRow); err != nil {
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

// openSmallParts gives excelize the package without worksheets and shared
// strings: all it is asked for are styles and workbook properties.
func openSmallParts(zf *zip.ReadCloser, parts map[string]*zip.File) (*excelize.File, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zf.File {
		n := strings.TrimPrefix(f.Name, "/")
		if strings.HasPrefix(n, "xl/worksheets/") || strings.HasSuffix(n, "sharedStrings.xml") {
			continue
		}
		if err := zw.Copy(f); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	book, err := excelize.OpenReader(&buf)
	if err != nil {
		if errors.Is(err, excelize.ErrWorkbookFileFormat) || errors.Is(err, excelize.ErrWorkbookPassword) {
			return nil, errors.New("the workbook is encrypted or not an XLSX file")
		}
		return nil, fmt.Errorf("reading the workbook: %w", err)
	}
	return book, nil
}

type sheetRef struct{ name, part string }

type relations map[string]relation // id → relation

type relation struct{ typ, target string }

func (r relations) ofType(suffix string) string {
	for _, rel := range r {
		if strings.HasSuffix(rel.typ, "/"+suffix) {
			return rel.target
		}
	}
	return ""
}

func workbookPath(parts map[string]*zip.File) (string, error) {
	rels, err := readRels(parts, "_rels/.rels", "")
	if err != nil {
		return "", err
	}
	if p := rels.ofType("officeDocument"); p != "" {
		return p, nil
	}
	if parts["xl/workbook.xml"] != nil {
		return "xl/workbook.xml", nil
	}
	return "", errors.New("not an XLSX file: no workbook part")
}

func readXML(parts map[string]*zip.File, name string, v any) error {
	f := parts[name]
	if f == nil {
		return fmt.Errorf("part %s is missing", name)
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := xml.NewDecoder(rc).Decode(v); err != nil {
		return fmt.Errorf("part %s: %w", name, err)
	}
	return nil
}

// readRels reads a relationships part; targets are resolved against base.
func readRels(parts map[string]*zip.File, name, base string) (relations, error) {
	var doc struct {
		Rel []struct {
			ID     string `xml:"Id,attr"`
			Type   string `xml:"Type,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	if err := readXML(parts, name, &doc); err != nil {
		return nil, err
	}
	out := relations{}
	for _, r := range doc.Rel {
		t := r.Target
		if strings.HasPrefix(t, "/") {
			t = strings.TrimPrefix(t, "/")
		} else {
			t = path.Join(base, t)
		}
		out[r.ID] = relation{typ: r.Type, target: t}
	}
	return out, nil
}

func readWorkbook(parts map[string]*zip.File, wbPath string) ([]sheetRef, relations, error) {
	var doc struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			ID   string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	if err := readXML(parts, wbPath, &doc); err != nil {
		return nil, nil, err
	}
	dir := path.Dir(wbPath)
	rels, err := readRels(parts, path.Join(dir, "_rels", path.Base(wbPath)+".rels"), dir)
	if err != nil {
		return nil, nil, err
	}
	var out []sheetRef
	for _, sh := range doc.Sheets {
		rel, ok := rels[sh.ID]
		if !ok || !strings.HasSuffix(rel.typ, "/worksheet") {
			continue // chart sheets and dialog sheets hold no rows
		}
		out = append(out, sheetRef{name: sh.Name, part: rel.target})
	}
	return out, rels, nil
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
	names := make([]string, len(sheets))
	for i, s := range sheets {
		names[i] = strconv.Quote(s.name)
	}
	return sheetRef{}, fmt.Errorf("no sheet %q (the sheets are %s)", want, strings.Join(names, ", "))
}

func (s *Source) origin(row int) msg.Origin {
	return msg.Origin{Source: s.name + "[" + s.sheet + "]", Line: row}
}

func (s *Source) readHeader(headerRow int) error {
	for {
		row, cells, err := s.rows.next()
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
		s.header = map[int]string{}
		seen := map[string]int{}
		for _, c := range cells {
			v, err := s.value(c)
			if err != nil {
				return fmt.Errorf("%s[%s]:%d: header: %w", s.name, s.sheet, row, err)
			}
			h := toText(v)
			if h == "" {
				continue
			}
			if prev, dup := seen[h]; dup {
				return fmt.Errorf("%s[%s]:%d: header: column %q appears twice (%s and %s)", s.name, s.sheet, row, h, columnName(prev), columnName(c.col))
			}
			seen[h] = c.col
			s.header[c.col] = h
		}
		return nil
	}
}

// Next returns the next non-empty row.
func (s *Source) Next(ctx context.Context) (*msg.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.done {
		return nil, io.EOF
	}
	row, cells, err := s.rows.next()
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
	for _, c := range cells {
		h, ok := s.header[c.col]
		v, err := s.value(c)
		if err != nil {
			return nil, &msg.Error{Origin: origin, Stage: msg.StageRead, Err: fmt.Errorf("cell %s%d: %w", columnName(c.col), row, err)}
		}
		if v == nil {
			continue
		}
		if !ok {
			return nil, &msg.Error{Origin: origin, Stage: msg.StageRead,
				Err: fmt.Errorf("cell %s%d has a value but its column has no header", columnName(c.col), row)}
		}
		rec.Fields[h] = v
	}
	return rec, nil
}

// value converts a stored cell to a record value; nil for an empty one.
func (s *Source) value(c cell) (any, error) {
	switch c.typ {
	case "s":
		if c.v == "" {
			return nil, nil
		}
		i, err := strconv.Atoi(strings.TrimSpace(c.v))
		if err != nil {
			return nil, fmt.Errorf("shared string index %q", c.v)
		}
		if s.sst == nil {
			return nil, errors.New("the workbook has no shared strings")
		}
		v, err := s.sst.get(i)
		if err != nil || v == "" {
			return nil, err
		}
		return v, nil
	case "str", "inlineStr", "e":
		if c.v == "" {
			return nil, nil
		}
		return c.v, nil
	case "b":
		switch strings.TrimSpace(c.v) {
		case "1", "true", "TRUE":
			return true, nil
		case "0", "false", "FALSE":
			return false, nil
		}
		return nil, fmt.Errorf("boolean cell holds %q", c.v)
	case "d":
		for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
			if t, err := time.Parse(l, c.v); err == nil {
				return t.UTC(), nil
			}
		}
		return nil, fmt.Errorf("date cell holds %q", c.v)
	default: // "n", or no type: a number
		if strings.TrimSpace(c.v) == "" {
			return nil, nil
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(c.v), 64)
		if err != nil {
			return nil, fmt.Errorf("number cell holds %q", c.v)
		}
		if s.isDate(c.style) {
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

// isDate reports whether a cell style formats numbers as dates or times.
func (s *Source) isDate(style int) bool {
	if style == 0 {
		return false
	}
	d, ok := s.dateFmt[style]
	if ok {
		return d
	}
	st, err := s.book.GetStyle(style)
	if err == nil && st != nil {
		d = builtinDate[st.NumFmt]
		if st.CustomNumFmt != nil {
			d = isDateFormat(*st.CustomNumFmt)
		}
	}
	s.dateFmt[style] = d
	return d
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
	if s.book != nil {
		s.book.Close()
	}
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
