package xlsx

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/extracttest"
)

// openBook writes b and opens it as book.xlsx.
func openBook(t *testing.T, b book, o Options) *Source {
	t.Helper()
	path := filepath.Join(t.TempDir(), "book.xlsx")
	b.write(t, path)
	s, err := OpenOptions(path, "book.xlsx", o)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// inline is an inline-string cell.
func inline(ref, text string) string {
	return `<c r="` + ref + `" t="inlineStr"><is><t>` + text + `</t></is></c>`
}

// twoCols is a sheet with the header id, body and the given rows from row 2.
func twoCols(rows ...any) io.Reader {
	return sheetXML(append([]any{`<row r="1">` + inline("A1", "id") + inline("B1", "body") + `</row>`}, rows...)...)
}

// failures reads s to the end: the good records' fields, and each failed
// row's message and record.
func failures(t *testing.T, s extract.Source) (good []map[string]any, msgs []string, records []map[string]any) {
	t.Helper()
	recs, errs := extracttest.ReadAll(t, s)
	for _, r := range recs {
		good = append(good, r.Fields)
	}
	for _, e := range errs {
		msgs = append(msgs, e.Error())
		var re *RowError
		if errors.As(e, &re) {
			records = append(records, re.Fields)
		} else {
			records = append(records, nil)
		}
	}
	return good, msgs, records
}

func TestCellOverTheLimitFailsItsRow(t *testing.T) {
	long := strings.Repeat("é", 50) // 100 bytes
	digits := strings.Repeat("7", 100)
	sst := `<?xml version="1.0"?><sst ` + nsMain + `><si><t>` + long + `</t></si><si><r><t>` + long[:60] + `</t></r><r><t>` + long[60:] + `</t></r></si></sst>`
	tests := []struct {
		Name string
		Cell string // B2
		SST  bool
		Want string // the record's body: the value's start
	}{
		{Name: "inline string", Cell: inline("B2", long), Want: long[:64] + "…"},
		{Name: "formula's text", Cell: `<c r="B2" t="str"><f>REPT("é",50)</f><v>` + long + `</v></c>`, Want: long[:64] + "…"},
		{Name: "number", Cell: `<c r="B2"><v>` + digits + `</v></c>`, Want: digits[:64] + "…"},
		{Name: "shared string", Cell: `<c r="B2" t="s"><v>0</v></c>`, SST: true, Want: long[:64] + "…"},
		{Name: "rich shared string", Cell: `<c r="B2" t="s"><v>1</v></c>`, SST: true, Want: long[:64] + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			b := book{sheet: twoCols(`<row r="2"><c r="A2"><v>2</v></c>`+tt.Cell+`</row>`,
				`<row r="3"><c r="A3"><v>3</v></c>`+inline("B3", "fine")+`</row>`)}
			if tt.SST {
				b.sst = strings.NewReader(sst)
			}
			s := openBook(t, b, Options{MaxCellBytes: 64})
			recs, errs := extracttest.ReadAll(t, s)
			require.Len(t, recs, 1)
			assert.Equal(t, map[string]any{"id": int64(3), "body": "fine"}, recs[0].Fields, "the rest of the sheet reads on")
			require.Len(t, errs, 1)
			assert.Equal(t, `book.xlsx[Messages]:2: cell B2 ("body") holds 100 bytes, over the 64 bytes limit (source.max_cell_bytes)`, errs[0].Error())
			var re *RowError
			require.ErrorAs(t, errs[0], &re)
			assert.Equal(t, map[string]any{"id": int64(2), "body": tt.Want}, re.Fields, "the failed row's record, its long value cut")
			assert.JSONEq(t, `{"id": 2, "body": `+strconv.Quote(tt.Want)+`}`, string(re.JSON()))
			var ce *CellTooLongError
			require.ErrorAs(t, errs[0], &ce)
			assert.Equal(t, CellTooLongError{Cell: "B2", Column: "body", Size: 100, Limit: 64}, *ce)
		})
	}
}

// A failed row is one record that fails to read: the source passes the
// conformance suite with it.
func TestConformanceWithAFailedRow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "book.xlsx")
	book{sheet: twoCols(
		`<row r="2"><c r="A2"><v>2</v></c>`+inline("B2", strings.Repeat("x", 65))+`</row>`,
		`<row r="3"><c r="A3"><v>3</v></c>`+inline("B3", strings.Repeat("x", 64))+`</row>`,
	)}.write(t, path)
	extracttest.Run(t, extracttest.Fixture{
		Open: func(t *testing.T) extract.Source {
			s, err := OpenOptions(path, "book.xlsx", Options{MaxCellBytes: 64})
			require.NoError(t, err)
			return s
		},
		Records: []map[string]any{{"id": int64(3), "body": strings.Repeat("x", 64)}},
		Bad:     []string{"book.xlsx[Messages]:2"},
	})
}

func TestRowOverTheLimitFailsIt(t *testing.T) {
	kib := func(c byte) string { return strings.Repeat(string(c), 1536) } // 1.5 KiB
	cols := `<row r="1">` + inline("A1", "id") + inline("B1", "a") + inline("C1", "b") + inline("D1", "c") + `</row>`
	sst := `<?xml version="1.0"?><sst ` + nsMain + `><si><t>` + kib('b') + `</t></si></sst>`
	for _, useSST := range []bool{false, true} {
		t.Run(map[bool]string{false: "inline", true: "shared strings"}[useSST], func(t *testing.T) {
			b2 := inline("C2", kib('b'))
			b := book{}
			if useSST {
				b2 = `<c r="C2" t="s"><v>0</v></c>`
				b.sst = strings.NewReader(sst)
			}
			b.sheet = sheetXML(cols,
				`<row r="2"><c r="A2"><v>2</v></c>`+inline("B2", kib('a'))+b2+inline("D2", kib('c'))+`</row>`,
				`<row r="3"><c r="A3"><v>3</v></c>`+inline("B3", kib('a'))+`</row>`)
			s := openBook(t, b, Options{MaxRecordBytes: 2048})
			good, msgs, records := failures(t, s)
			assert.Equal(t, []map[string]any{{"id": int64(3), "a": kib('a')}}, good)
			assert.Equal(t, []string{`book.xlsx[Messages]:2: the row's values are 4.5 KiB, over the 2 KiB limit (source.max_record_bytes)`}, msgs)
			assert.Equal(t, []map[string]any{{"id": int64(2), "a": kib('a'), "b": kib('b')[:keepBytes] + "…", "c": kib('c')[:keepBytes] + "…"}}, records,
				"the record keeps the values up to the limit, and the start of those past it")
		})
	}
}

func TestRowProblemsCostOnlyTheRow(t *testing.T) {
	manyCells := `<row r="2">` + strings.Repeat(`<c r="A2"><v>1</v></c>`, maxColumns+1) + `</row>`
	tests := []struct {
		Name, Row2, Want string
	}{
		{Name: "tag over its budget", Row2: `<row r="2"><c r="B2" t="inlineStr" x="` + strings.Repeat("x", tagBudget) + `"><is><t>hi</t></is></c></row>`,
			Want: `book.xlsx[Messages]:2: the tag of cell B2 is 64.0 KiB, over the 64 KiB a tag may have (an attribute too long)`},
		{Name: "row tag over its budget", Row2: `<row r="2" x="` + strings.Repeat("x", tagBudget) + `">` + inline("B2", "hi") + `</row>`,
			Want: `book.xlsx[Messages]:2: the tag of row 2 is 64.0 KiB, over the 64 KiB a tag may have (an attribute too long)`},
		{Name: "more cells than Excel has columns", Row2: manyCells,
			Want: `book.xlsx[Messages]:2: the row has more than 16384 cells (Excel's most)`},
		{Name: "column past XFD", Row2: `<row r="2"><c r="XFE2"><v>1</v></c></row>`,
			Want: `book.xlsx[Messages]:2: cell reference "XFE2": column out of range`},
		{Name: "reference without a column", Row2: `<row r="2"><c r="12"><v>1</v></c></row>`,
			Want: `book.xlsx[Messages]:2: cell reference "12" has no column`},
		{Name: "a long bad number is named, not carried", Row2: `<row r="2"><c r="A2"><v>` + strings.Repeat("x", 1000) + `</v></c></row>`,
			Want: `book.xlsx[Messages]:2: cell A2: number cell holds "` + strings.Repeat("x", 64) + `"… (1000 bytes)`},
		{Name: "invalid UTF-8", Row2: `<row r="2">` + inline("B2", "caf\xe9") + `</row>`,
			Want: `book.xlsx[Messages]:2: cell B2: text is not valid UTF-8`},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			s := openBook(t, book{sheet: twoCols(tt.Row2, `<row r="3"><c r="A3"><v>3</v></c>`+inline("B3", "fine")+`</row>`)}, Options{})
			good, msgs, _ := failures(t, s)
			assert.Equal(t, []map[string]any{{"id": int64(3), "body": "fine"}}, good)
			assert.Equal(t, []string{tt.Want}, msgs)
		})
	}
}

func TestHeaderOverTheLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "book.xlsx")
	book{sheet: sheetXML(`<row r="1">` + inline("A1", "id") + inline("B1", strings.Repeat("h", 100)) + `</row>`)}.write(t, path)
	_, err := OpenOptions(path, "book.xlsx", Options{MaxCellBytes: 64})
	assert.EqualError(t, err, `book.xlsx[Messages]:1: header: cell B1 holds 100 bytes, over the 64 bytes limit (source.max_cell_bytes)`)
	var ce *CellTooLongError
	assert.ErrorAs(t, err, &ce)
}

func TestColumns(t *testing.T) {
	s := openBook(t, book{sheet: sheetXML(`<row r="1">` + inline("C1", "third") + inline("A1", "first") + `<c r="B1" t="inlineStr"><is><t></t></is></c>` + `</row>`)}, Options{})
	var cols extract.Columns = s
	assert.Equal(t, []string{"first", "third"}, cols.Columns(), "in column order, before the first record")
}

// Which cells are dates comes from the styles' cell formats only: the
// numFmt of a differential format and the xf of a cell style are not them.
func TestStylesDates(t *testing.T) {
	styles := `<?xml version="1.0"?><styleSheet ` + nsMain + `>` +
		`<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/><numFmt numFmtId="165" formatCode="0.000"/>` +
		`<numFmt numFmtId="14" formatCode="0.00"/></numFmts>` + // a built-in id keeps its meaning
		`<cellStyleXfs count="3"><xf numFmtId="164"/><xf numFmtId="164"/><xf numFmtId="164"/></cellStyleXfs>` +
		`<cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="165"/><xf numFmtId="164"><alignment/></xf><xf numFmtId="14"/></cellXfs>` +
		`<dxfs count="1"><dxf><numFmt numFmtId="165" formatCode="yyyy"/></dxf></dxfs></styleSheet>`
	row := func(n, style int) string {
		r := strconv.Itoa(n)
		return `<row r="` + r + `"><c r="A` + r + `"><v>` + r + `</v></c><c r="B` + r + `" s="` + strconv.Itoa(style) + `"><v>45352</v></c></row>`
	}
	s := openBook(t, book{styles: strings.NewReader(styles), sheet: twoCols(row(2, 0), row(3, 1), row(4, 2), row(5, 3), row(6, 9))}, Options{})
	good, msgs, _ := failures(t, s)
	assert.Empty(t, msgs)
	day := serialDay(t, 45352)
	assert.Equal(t, []map[string]any{
		{"id": int64(2), "body": int64(45352)},
		{"id": int64(3), "body": int64(45352)},
		{"id": int64(4), "body": day},
		{"id": int64(5), "body": day},
		{"id": int64(6), "body": int64(45352)}, // no such style
	}, good)
}

func serialDay(t *testing.T, serial float64) any {
	d, ok := serialTime(serial, false)
	require.True(t, ok)
	return d
}

func TestPartsOverTheirBounds(t *testing.T) {
	xf := `<xf numFmtId="0"/>`
	xfs := cat(`<?xml version="1.0"?><styleSheet `+nsMain+`><cellXfs>`, repeat(xf, int64(len(xf))*(maxStyles+1)), `</cellXfs></styleSheet>`)
	var numFmts strings.Builder
	numFmts.WriteString(`<?xml version="1.0"?><styleSheet ` + nsMain + `><numFmts>`)
	for i := range maxNumFmts + 1 {
		numFmts.WriteString(`<numFmt numFmtId="` + strconv.Itoa(164+i) + `" formatCode="0"/>`)
	}
	numFmts.WriteString(`</numFmts></styleSheet>`)
	sheets, rels := manySheets(maxListed / listedEntry)
	tests := []struct {
		Name string
		Book book
		Want string
	}{
		{Name: "cell formats", Book: book{styles: xfs, stored: true},
			Want: "book.xlsx: part xl/styles.xml: more than 1048576 cell formats, the most this source reads"},
		{Name: "number formats", Book: book{styles: strings.NewReader(numFmts.String())},
			Want: "book.xlsx: part xl/styles.xml: more than 65536 number formats, the most this source reads"},
		{Name: "relationships", Book: book{rels: strings.NewReader(rels)},
			Want: "book.xlsx: part xl/_rels/workbook.xml.rels: more than 4194304 bytes of relationships, the most this source reads"},
		{Name: "tag over its budget", Book: book{workbook: strings.NewReader(`<workbook><sheets><sheet name="` + strings.Repeat("n", tagBudget) + `" r:id="rId1"/></sheets></workbook>`)},
			Want: "book.xlsx: part xl/workbook.xml: the tag of sheet is 64.0 KiB, over the 64 KiB a tag may have"},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "book.xlsx")
			tt.Book.sheet = twoCols()
			tt.Book.write(t, path)
			_, err := OpenOptions(path, "book.xlsx", Options{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.Want)
		})
	}
	// Many sheets within the bound: a sheet not found names 20 of them.
	path := filepath.Join(t.TempDir(), "many.xlsx")
	sheets, rels = manySheets(100)
	book{workbook: strings.NewReader(sheets), rels: strings.NewReader(rels), sheet: twoCols()}.write(t, path)
	_, err := OpenOptions(path, "many.xlsx", Options{Sheet: "Nope"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `many.xlsx: no sheet "Nope" (the sheets are "S0", "S1", `)
	assert.Contains(t, err.Error(), `"S19", and 80 more)`)
}

// manySheets is a workbook part and its relationships with n sheets, all
// the same worksheet part.
func manySheets(n int) (workbook, rels string) {
	var w, r strings.Builder
	w.WriteString(`<?xml version="1.0"?><workbook ` + nsMain + ` ` + nsRel + `><sheets>`)
	r.WriteString(`<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`)
	for i := range n {
		fmt.Fprintf(&w, `<sheet name="S%d" sheetId="%d" r:id="rId%d"/>`, i, i+1, i+1)
		fmt.Fprintf(&r, `<Relationship Id="rId%d" Type="%sworksheet" Target="worksheets/sheet1.xml"/>`, i+1, relT)
	}
	return w.String() + `</sheets></workbook>`, r.String() + `</Relationships>`
}

// A zip entry whose size in the zip's directory lies: archive/zip stops at
// the stated size, and the source says the part is damaged.
func TestDeclaredSizeLies(t *testing.T) {
	for _, tt := range []struct {
		Name  string
		Delta int64
	}{{"smaller than the data", -100}, {"larger than the data", +100}} {
		t.Run(tt.Name, func(t *testing.T) {
			var sheet bytes.Buffer
			io.Copy(&sheet, twoCols(`<row r="2"><c r="A2"><v>2</v></c>`+inline("B2", strings.Repeat("y", 500))+`</row>`))
			path := filepath.Join(t.TempDir(), "book.xlsx")
			f, err := os.Create(path)
			require.NoError(t, err)
			zw := zip.NewWriter(f)
			for _, p := range (book{}).parts() {
				w, err := zw.Create(p.name)
				require.NoError(t, err)
				io.Copy(w, p.body)
			}
			var deflated bytes.Buffer
			fw, _ := flate.NewWriter(&deflated, flate.BestSpeed)
			fw.Write(sheet.Bytes())
			fw.Close()
			w, err := zw.CreateRaw(&zip.FileHeader{Name: "xl/worksheets/sheet1.xml", Method: zip.Deflate,
				CRC32: crc32.ChecksumIEEE(sheet.Bytes()), CompressedSize64: uint64(deflated.Len()), UncompressedSize64: uint64(int64(sheet.Len()) + tt.Delta)})
			require.NoError(t, err)
			w.Write(deflated.Bytes())
			require.NoError(t, zw.Close())
			require.NoError(t, f.Close())

			s, err := OpenOptions(path, "book.xlsx", Options{})
			if err == nil { // the header was read before the damage
				_, msgs, _ := failures(t, s)
				s.Close()
				require.Len(t, msgs, 1)
				err = errors.New(msgs[0])
			}
			assert.Contains(t, err.Error(), "part xl/worksheets/sheet1.xml is damaged")
		})
	}
}

// The bombs of issue 12 at 64 MiB, with a 1 MiB cell limit: reading each
// allocates a small, fixed amount, where encoding/xml's Decoder allocated
// twice the part or more. Stored, not deflated, to spare the test's time:
// the bounds are on uncompressed bytes either way. The 1 GiB bombs, deflated,
// are TestBigBombs.
func TestBombsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads 320 MiB")
	}
	const n = 64 << 20
	const cell = 1 << 20
	want := bombResults(n)
	for name, b := range bombs(n) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name+".xlsx")
			b.stored = true
			b.write(t, path)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			s, err := OpenOptions(path, "bomb.xlsx", Options{MaxCellBytes: cell})
			require.NoError(t, err)
			good, msgs, records := failures(t, s)
			s.Close()
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("%s: %d MiB of part, %.1f MiB allocated", name, n>>20, float64(allocated)/(1<<20))
			assert.Less(t, allocated, uint64(16<<20), "allocated while reading")
			w := want[name]
			assert.Len(t, good, w.good)
			assert.Equal(t, w.msgs(cell), msgs)
			if len(records) > 0 {
				assert.Equal(t, strings.Repeat(w.fill, keepBytes)+"…", records[0]["body_text"], "the record keeps the cell's first KiB")
			}
		})
	}
}

// bombResult is what reading a bomb gives.
type bombResult struct {
	good int    // records read
	size int64  // the long cell's bytes, if it fails a row
	fill string // its text
}

func (r bombResult) msgs(limit int) []string {
	if r.size == 0 {
		return nil
	}
	return []string{fmt.Sprintf(`bomb.xlsx[Messages]:2: cell F2 ("body_text") holds %s, over the %s limit (source.max_cell_bytes)`, byteSize(r.size), byteSize(int64(limit)))}
}

func bombResults(n int64) map[string]bombResult {
	return map[string]bombResult{
		"inline-cell":   {good: 1, size: n, fill: "A"},
		"shared-string": {good: 1, size: n, fill: "S"},
		"whitespace":    {good: 2},
		"styles":        {good: 2},
	}
}

// TestBigBombs reads the bombs of issue 12 at their size, 1 GiB (2 GiB of
// whitespace), with the default limits, and checks the process's peak
// resident memory stays under 200 MB. About a minute on two cores:
//
//	MSGMIGRATE_BIG_BOMBS=1 go test ./extract/xlsx -run TestBigBombs -v
func TestBigBombs(t *testing.T) {
	if os.Getenv("MSGMIGRATE_BIG_BOMBS") == "" {
		t.Skip("MSGMIGRATE_BIG_BOMBS not set")
	}
	const n = 1 << 30
	want := bombResults(n)
	dir := t.TempDir()
	for name, b := range bombs(n) {
		path := filepath.Join(dir, name+".xlsx")
		b.write(t, path)
		resetPeak()
		s, err := OpenOptions(path, "bomb.xlsx", Options{})
		require.NoError(t, err)
		good, msgs, _ := failures(t, s)
		s.Close()
		peak := peakRSS(t)
		t.Logf("%s: peak RSS %d MB", name, peak>>20)
		assert.Less(t, peak, int64(200<<20), name)
		assert.Len(t, good, want[name].good, name)
		assert.Equal(t, want[name].msgs(DefaultMaxCell), msgs, name)
		os.Remove(path)
	}
}

// resetPeak resets the process's peak RSS (Linux 4.0 and later).
func resetPeak() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is the process's peak resident set size (VmHWM), in bytes.
func peakRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// The job's keys set the limits.
func TestJobLimits(t *testing.T) {
	dir := t.TempDir()
	book{sheet: twoCols(
		`<row r="2"><c r="A2"><v>2</v></c>`+inline("B2", strings.Repeat("x", 65))+`</row>`,
		`<row r="3"><c r="A3"><v>3</v></c>`+inline("B3", strings.Repeat("x", 64))+`</row>`,
	)}.write(t, filepath.Join(dir, "book.xlsx"))
	var node yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("kind: xlsx\npath: book.xlsx\nmax_cell_bytes: 64B\nmax_record_bytes: 60\n"), &node))
	s, err := extract.Open(context.Background(), "xlsx", config.Section{File: "job.yaml", Node: node.Content[0], Dir: dir}, extract.Env{})
	require.NoError(t, err)
	defer s.Close()
	_, msgs, _ := failures(t, s)
	assert.Equal(t, []string{
		`book.xlsx[Messages]:2: cell B2 ("body") holds 65 bytes, over the 64 bytes limit (source.max_cell_bytes)`,
		`book.xlsx[Messages]:3: the row's values are 65 bytes, over the 60 bytes limit (source.max_record_bytes)`,
	}, msgs)
}

// The shared strings in all three places — memory, the data file with its
// offsets in memory, the data file with its offsets in the index file — and
// those over the cell limit in each, kept as their size and start.
func TestSharedStringsSpillTheirOffsets(t *testing.T) {
	defer func(s, o int) { memStrings, memOffsets = s, o }(memStrings, memOffsets)
	memStrings, memOffsets = 2000, 50
	const limit = 40
	var b strings.Builder
	var want []string
	b.WriteString(`<sst>`)
	for i := range 300 {
		s := fmt.Sprintf("string %d", i)
		if i%7 == 3 {
			s = fmt.Sprintf("%d ", i) + strings.Repeat("long é ", 10) // over the limit
		}
		want = append(want, s)
		fmt.Fprintf(&b, `<si><t>%s</t></si>`, s)
	}
	b.WriteString(`</sst>`)
	sst, err := readSharedStrings(strings.NewReader(b.String()), t.TempDir(), limit)
	require.NoError(t, err)
	defer sst.close()
	require.NotZero(t, len(sst.mem))
	require.Len(t, sst.offs, 50)
	require.NotNil(t, sst.index)
	assert.Equal(t, 300-len(sst.mem)-50, sst.nIndex)
	for i, w := range want {
		got, err := sst.get(i, limit)
		require.NoError(t, err)
		if len(w) > limit {
			start := w[:limit]
			for !utf8.ValidString(start) { // no character cut
				start = start[:len(start)-1]
			}
			assert.Equal(t, sharedString{text: start, size: int64(len(w)), cut: true}, got, "string %d", i)
			continue
		}
		assert.Equal(t, sharedString{text: w, size: int64(len(w))}, got, "string %d", i)
		short, err := sst.get(i, 3) // a row past its limit asks for the start only
		require.NoError(t, err)
		assert.Equal(t, sharedString{text: w[:3], size: int64(len(w)), cut: true}, short, "string %d", i)
	}
}

// XML the scanner cannot read past ends the sheet: one failure naming the
// row, then the end.
func TestBrokenSheetEndsIt(t *testing.T) {
	s := openBook(t, book{sheet: twoCols(
		`<row r="2"><c r="A2"><v>2</v></c></row>`,
		`<row r="3"><c r="A3"><v>3&bogus;</v></c></row>`,
		`<row r="4"><c r="A4"><v>4</v></c></row>`)}, Options{})
	good, msgs, _ := failures(t, s)
	assert.Equal(t, []map[string]any{{"id": int64(2)}}, good)
	require.Len(t, msgs, 1)
	assert.Regexp(t, `^book\.xlsx\[Messages\]:3: row 3: cell A3: XML syntax error at byte \d+: unknown entity &bogus;$`, msgs[0])
}

// Values longer than the scanner's and the collector's pieces, under the
// limits, read whole.
func TestLongValuesUnderTheLimitReadWhole(t *testing.T) {
	long := strings.Repeat("0123456789abcdé_x000D_", 10_000) // 230 KB
	want := strings.ReplaceAll(long, "_x000D_", "\r")
	sst := `<?xml version="1.0"?><sst ` + nsMain + `><si><t>` + long + `</t></si></sst>`
	s := openBook(t, book{sst: strings.NewReader(sst), sheet: twoCols(
		`<row r="2"><c r="A2"><v>2</v></c>`+inline("B2", long)+`</row>`,
		`<row r="3"><c r="A3"><v>3</v></c><c r="B3" t="s"><v>0</v></c></row>`)}, Options{})
	good, msgs, _ := failures(t, s)
	assert.Empty(t, msgs)
	assert.Equal(t, []map[string]any{{"id": int64(2), "body": want}, {"id": int64(3), "body": want}}, good)
}
