package xlsx

import (
	"archive/zip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/extracttest"
)

// writeBook writes a workbook with excelize: two sheets, date cells, the
// 1904 date system when asked, and text that must come back byte for byte.
func writeBook(t testing.TB, path string, date1904 bool) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if date1904 {
		require.NoError(t, f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &date1904}))
	}
	require.NoError(t, f.SetSheetName("Sheet1", "Notes"))
	_, err := f.NewSheet("Messages")
	require.NoError(t, err)
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 22}) // m/d/yy h:mm
	require.NoError(t, err)
	dayStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptr("yyyy-mm-dd")})
	require.NoError(t, err)
	moneyStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptr(`#,##0.00 "EUR"`)})
	require.NoError(t, err)
	sheet := "Messages"
	rows := [][]any{
		{"id", "body", "sent", "day", "read", "amount", "note"},
		{1, "  spaced  ", time.Date(2024, 3, 1, 9, 15, 30, 0, time.UTC), time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), true, 412.18, "=SUM(A1)"},
		{2, "multi\nline 👍 مرحبا", time.Date(1960, 1, 15, 12, 0, 0, 0, time.UTC), time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), false, 3, `"`},
		{3, "2024-03-01", nil, nil, nil, nil, nil},
	}
	for r, row := range rows {
		for c, v := range row {
			ref, _ := excelize.CoordinatesToCellName(c+1, r+1)
			if v == nil {
				continue
			}
			if s, ok := v.(string); ok {
				require.NoError(t, f.SetCellStr(sheet, ref, s)) // formula-looking text stays text
				continue
			}
			require.NoError(t, f.SetCellValue(sheet, ref, v))
		}
	}
	for r := 2; r <= 3; r++ {
		ref, _ := excelize.CoordinatesToCellName(3, r)
		require.NoError(t, f.SetCellStyle(sheet, ref, ref, dateStyle))
		ref, _ = excelize.CoordinatesToCellName(4, r)
		require.NoError(t, f.SetCellStyle(sheet, ref, ref, dayStyle))
		ref, _ = excelize.CoordinatesToCellName(6, r)
		require.NoError(t, f.SetCellStyle(sheet, ref, ref, moneyStyle))
	}
	require.NoError(t, f.SetCellStr("Notes", "A1", "other sheet"))
	require.NoError(t, f.SaveAs(path))
}

func ptr[T any](v T) *T { return &v }

func wantRows() []map[string]any {
	return []map[string]any{
		{"id": int64(1), "body": "  spaced  ", "sent": time.Date(2024, 3, 1, 9, 15, 30, 0, time.UTC),
			"day": time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), "read": true, "amount": 412.18, "note": "=SUM(A1)"},
		{"id": int64(2), "body": "multi\nline 👍 مرحبا", "sent": time.Date(1960, 1, 15, 12, 0, 0, 0, time.UTC),
			"day": time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), "read": false, "amount": int64(3), "note": `"`},
		{"id": int64(3), "body": "2024-03-01"}, // text that looks like a date stays text
	}
}

func TestExcelizeWorkbooks(t *testing.T) {
	for _, date1904 := range []bool{false, true} {
		t.Run(map[bool]string{false: "1900", true: "1904"}[date1904], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "book.xlsx")
			writeBook(t, path, date1904)
			extracttest.Run(t, extracttest.Fixture{
				Open: func(t *testing.T) extract.Source {
					s, err := Open(path, "book.xlsx", "Messages", 0)
					require.NoError(t, err)
					return s
				},
				Records: wantRows(),
			})
			s, err := Open(path, "book.xlsx", "2", 0)
			require.NoError(t, err, "a sheet by its 1-based index")
			rec, err := s.Next(context.Background())
			require.NoError(t, err)
			assert.Equal(t, "book.xlsx[Messages]:2", rec.Origin.String())
			s.Close()
		})
	}
}

// A workbook written by another tool, by hand: inline strings, rich-text
// shared strings with phonetic runs, OOXML escapes, a formula's cached value,
// an ISO date cell, an error cell, namespace prefixes, sparse cells.
func TestOtherToolsWorkbook(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.xlsx")
	writeZip(t, path, map[string]string{
		"[Content_Types].xml":        `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/data.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`,
		"_rels/.rels":                `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml":            `<?xml version="1.0"?><x:workbook xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><x:sheets><x:sheet name="Data" sheetId="1" r:id="rId7"/></x:sheets></x:workbook>`,
		"xl/_rels/workbook.xml.rels": `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId7" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="/xl/worksheets/data.xml"/><Relationship Id="rId8" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="strings.xml"/></Relationships>`,
		"xl/strings.xml":             `<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>id</t></si><si><t>text</t></si><si><r><t>Bold</t></r><r><t xml:space="preserve"> and plain</t></r><rPh><t>ボールド</t></rPh></si><si><t>cr_x000D_lf literal _x005F_x000D_</t></si></sst>`,
		"xl/worksheets/data.xml": `<?xml version="1.0"?><x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>` +
			`<x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="B1" t="s"><x:v>1</x:v></x:c><x:c r="C1" t="inlineStr"><x:is><x:t>calc</x:t></x:is></x:c><x:c r="D1" t="inlineStr"><x:is><x:t>when</x:t></x:is></x:c></x:row>` +
			`<x:row r="3"><x:c r="A3"><x:v>10</x:v></x:c><x:c r="B3" t="s"><x:v>2</x:v></x:c><x:c r="C3"><x:f>A3*2.5</x:f><x:v>25</x:v></x:c><x:c r="D3" t="d"><x:v>2024-03-01T09:15:00Z</x:v></x:c></x:row>` +
			`<x:row r="4"><x:c r="A4"><x:v>11</x:v></x:c><x:c r="B4" t="s"><x:v>3</x:v></x:c><x:c r="C4" t="e"><x:f>1/0</x:f><x:v>#DIV/0!</x:v></x:c></x:row>` +
			`<x:row r="5"><x:c r="A5"><x:v>12</x:v></x:c><x:c r="C5" t="str"><x:f>"a"&amp;"b"</x:f><x:v>ab</x:v></x:c><x:c r="D5"><x:f>NOW()</x:f></x:c></x:row>` +
			`<x:row r="6"/>` +
			`<x:row r="7"><x:c r="A7"><x:v>13</x:v></x:c><x:c r="F7" t="inlineStr"><x:is><x:t>stray</x:t></x:is></x:c></x:row>` +
			`</x:sheetData></x:worksheet>`,
	})
	s, err := Open(path, "other.xlsx", "", 0)
	require.NoError(t, err)
	defer s.Close()
	got, errs := extracttest.ReadFields(t, s)
	assert.Equal(t, []map[string]any{
		{"id": int64(10), "text": "Bold and plain", "calc": 25.0 - 0.0 + 0, "when": time.Date(2024, 3, 1, 9, 15, 0, 0, time.UTC)},
		{"id": int64(11), "text": "cr\rlf literal _x000D_", "calc": "#DIV/0!"},
		{"id": int64(12), "calc": "ab"},
	}, fixInts(got))
	assert.Equal(t, []string{"other.xlsx[Data]:7: cell F7 has a value but its column has no header"}, errs)
}

// fixInts lets the table above write 25.0 for a cached formula value that is
// read as the whole number it is.
func fixInts(rows []map[string]any) []map[string]any {
	for _, r := range rows {
		if v, ok := r["calc"].(int64); ok {
			r["calc"] = float64(v)
		}
	}
	return rows
}

func writeZip(t testing.TB, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	zw := zip.NewWriter(f)
	for name, content := range files {
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = w.Write([]byte(content))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
}

func TestBadWorkbooks(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.xlsx")
	writeBook(t, good, false)
	_, err := Open(good, "good.xlsx", "Nope", 0)
	assert.EqualError(t, err, `good.xlsx: no sheet "Nope" (the sheets are "Notes", "Messages")`)

	cases := map[string][]byte{
		"csv.xlsx":       []byte("id,body\n1,hi\n"),
		"encrypted.xlsx": {0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0, 0},
		"broken.xlsx":    []byte("PK\x03\x04 not really a zip"),
	}
	want := map[string]string{
		"csv.xlsx":       "csv.xlsx: not an XLSX file (it is not a zip package)",
		"encrypted.xlsx": "encrypted.xlsx: the workbook is encrypted (password-protected) or an old .xls file",
		"broken.xlsx":    "broken.xlsx: not a readable XLSX file",
	}
	for name, content := range cases {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, content, 0o644))
		_, err := Open(p, name, "", 0)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), want[name])
	}
}

func TestSerialDates(t *testing.T) {
	tests := []struct {
		Serial float64
		D1904  bool
		Want   time.Time
	}{
		{1, false, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)},
		{59, false, time.Date(1900, 2, 28, 0, 0, 0, 0, time.UTC)},
		{61, false, time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC)},
		{45352.385763888888, false, time.Date(2024, 3, 1, 9, 15, 30, 0, time.UTC)},
		{0, true, time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)},
		{43890.5, true, time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, ok := serialTime(tt.Serial, tt.D1904)
		require.True(t, ok)
		assert.Equal(t, tt.Want, got, "%v", tt.Serial)
	}
	_, ok := serialTime(-1, false)
	assert.False(t, ok)
}

func TestIsDateFormat(t *testing.T) {
	for code, want := range map[string]bool{
		"yyyy-mm-dd": true, "h:mm:ss": true, "[h]:mm": true, "d/m/yy;@": true, `dd" days"`: true,
		"0.00": false, `#,##0.00 "EUR"`: false, "0.00E+00": false, `"yes"0`: false, "[Red]0.00": false, "General": false,
	} {
		assert.Equal(t, want, isDateFormat(code), code)
	}
}

func FuzzUnescapeOOXML(f *testing.F) {
	for _, s := range []string{"plain", "a_x000D_b", "_x005F_x000D_", "_x12", "_xZZZZ_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := unescapeOOXML(s)
		if len(out) > len(s)*3 {
			t.Fatalf("grew too much: %q → %q", s, out)
		}
	})
}

func FuzzSheetReader(f *testing.F) {
	f.Add(`<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData>`)
	f.Add(`<sheetData><row><c><is><t>x</t></is></c><c r="ZZZZ1"/></row>`)
	f.Fuzz(func(t *testing.T, xmlText string) {
		r := newSheetReader(stringsReader(xmlText), limits{cell: 64, row: 256})
		for i := 0; i < 1000; i++ {
			if _, _, _, err := r.next(); err != nil {
				return
			}
		}
	})
}

// FuzzCellValue: whatever a cell holds, conversion answers with a value or an
// error, never a panic, and a date only inside Excel's range.
func FuzzCellValue(f *testing.F) {
	path := filepath.Join(f.TempDir(), "book.xlsx")
	writeBook(f, path, false)
	s, err := Open(path, "book.xlsx", "Messages", 0)
	require.NoError(f, err)
	defer s.Close()
	for _, typ := range []string{"", "n", "s", "str", "inlineStr", "b", "e", "d"} {
		f.Add(typ, "1", 0)
		f.Add(typ, "45352.5", 1)
	}
	f.Fuzz(func(t *testing.T, typ, v string, style int) {
		out, err := s.value(cell{col: 1, typ: typ, style: style % 8, v: v, has: true, size: int64(len(v))}, DefaultMaxCell)
		if err != nil {
			return
		}
		if tm, ok := out.(time.Time); ok {
			assert.True(t, tm.Year() >= 0 && tm.Year() <= 9999, "%v", tm)
		}
	})
}

func TestLargeSharedStringTableSpills(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<sst>`)
	for i := range 400_000 {
		fmt.Fprintf(&b, `<si><t>string number %d with some padding to make it longer</t></si>`, i)
	}
	b.WriteString(`</sst>`)
	sst, err := readSharedStrings(strings.NewReader(b.String()), t.TempDir(), DefaultMaxCell)
	require.NoError(t, err)
	defer sst.close()
	require.NotNil(t, sst.data, "past the memory bound, strings go to a file")
	assert.Equal(t, 400_000, sst.len())
	for _, i := range []int{0, 150_000, 399_999} {
		s, err := sst.get(i, DefaultMaxCell)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("string number %d with some padding to make it longer", i), s.text)
	}
	_, err = sst.get(400_000, DefaultMaxCell)
	assert.Error(t, err)
}
