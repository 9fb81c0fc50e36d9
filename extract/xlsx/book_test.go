package xlsx

import (
	"archive/zip"
	"compress/flate"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/config"
)

// A hand-built workbook whose parts are streamed into the zip, so a test can
// hold a part of any size (a 1 GiB cell, 2 GiB of whitespace) in a few
// kilobytes of memory.

// part is one zip entry.
type part struct {
	name string
	body io.Reader
}

// book is a one-sheet workbook; nil parts are left out.
type book struct {
	sheet    io.Reader // xl/worksheets/sheet1.xml
	sst      io.Reader // xl/sharedStrings.xml
	styles   io.Reader // xl/styles.xml
	workbook io.Reader // xl/workbook.xml; default: one sheet "Messages"
	rels     io.Reader // xl/_rels/workbook.xml.rels; default: the parts above
	extra    []part
	stored   bool // zip.Store: no deflate (the reader's bound is on uncompressed bytes either way)
}

const (
	nsMain = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"`
	nsRel  = `xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	relT   = `http://schemas.openxmlformats.org/officeDocument/2006/relationships/`
)

func (b book) parts() []part {
	rels := b.rels
	if rels == nil {
		s := `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="` + relT + `worksheet" Target="worksheets/sheet1.xml"/>`
		if b.sst != nil {
			s += `<Relationship Id="rId2" Type="` + relT + `sharedStrings" Target="sharedStrings.xml"/>`
		}
		if b.styles != nil {
			s += `<Relationship Id="rId3" Type="` + relT + `styles" Target="styles.xml"/>`
		}
		rels = strings.NewReader(s + `</Relationships>`)
	}
	wb := b.workbook
	if wb == nil {
		wb = strings.NewReader(`<?xml version="1.0"?><workbook ` + nsMain + ` ` + nsRel + `><sheets><sheet name="Messages" sheetId="1" r:id="rId1"/></sheets></workbook>`)
	}
	ps := []part{
		{"[Content_Types].xml", strings.NewReader(`<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/></Types>`)},
		{"_rels/.rels", strings.NewReader(`<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="r1" Type="` + relT + `officeDocument" Target="xl/workbook.xml"/></Relationships>`)},
		{"xl/workbook.xml", wb},
		{"xl/_rels/workbook.xml.rels", rels},
	}
	if b.styles != nil {
		ps = append(ps, part{"xl/styles.xml", b.styles})
	}
	if b.sst != nil {
		ps = append(ps, part{"xl/sharedStrings.xml", b.sst})
	}
	if b.sheet != nil {
		ps = append(ps, part{"xl/worksheets/sheet1.xml", b.sheet})
	}
	return append(ps, b.extra...)
}

// write writes the workbook to path, deflating at the fastest level: the
// big parts are runs of one byte.
func (b book) write(t testing.TB, path string) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	zw := zip.NewWriter(f)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	method := zip.Deflate
	if b.stored {
		method = zip.Store
	}
	for _, p := range b.parts() {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: p.name, Method: method})
		require.NoError(t, err)
		_, err = io.Copy(w, p.body)
		require.NoError(t, err, p.name)
	}
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
}

// cat concatenates strings and readers into one reader.
func cat(parts ...any) io.Reader {
	rs := make([]io.Reader, len(parts))
	for i, p := range parts {
		switch v := p.(type) {
		case string:
			rs[i] = strings.NewReader(v)
		case io.Reader:
			rs[i] = v
		default:
			panic("cat: a string or an io.Reader")
		}
	}
	return io.MultiReader(rs...)
}

// repeat is n bytes of pattern, repeated (the last copy cut).
func repeat(pattern string, n int64) io.Reader {
	p := []byte(pattern)
	for len(p) < 64<<10 {
		p = append(p, pattern...)
	}
	return io.LimitReader(&cycle{p: p[:len(p)-len(p)%len(pattern)]}, n)
}

type cycle struct {
	p   []byte
	off int
}

func (c *cycle) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k := copy(b[n:], c.p[c.off:])
		n += k
		c.off = (c.off + k) % len(c.p)
	}
	return n, nil
}

// sheetXML wraps rows (each "<row …>…</row>" or any other content) in a
// worksheet.
func sheetXML(rows ...any) io.Reader {
	parts := append([]any{`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" + `<worksheet ` + nsMain + ` ` + nsRel + `><sheetData>`}, rows...)
	return cat(append(parts, `</sheetData></worksheet>`)...)
}

// The columns the bombs use: what builtin:csv-to-mykaarma reads.
const bombHeader = `<row r="1">` +
	`<c r="A1" t="inlineStr"><is><t>id</t></is></c>` +
	`<c r="B1" t="inlineStr"><is><t>department_uuid</t></is></c>` +
	`<c r="C1" t="inlineStr"><is><t>customer_uuid</t></is></c>` +
	`<c r="D1" t="inlineStr"><is><t>channel</t></is></c>` +
	`<c r="E1" t="inlineStr"><is><t>sent_at</t></is></c>` +
	`<c r="F1" t="inlineStr"><is><t>body_text</t></is></c>` +
	`</row>`

// bombRow is a good row up to its body, which the caller writes; close ends
// it.
func bombRow(n int, bodyType string) string {
	r := strconv.Itoa(n)
	return `<row r="` + r + `">` +
		`<c r="A` + r + `"><v>` + r + `</v></c>` +
		`<c r="B` + r + `" t="inlineStr"><is><t>6f1c1b52-3b43-4c5e-9d51-7f0a5cf3a001</t></is></c>` +
		`<c r="C` + r + `" t="inlineStr"><is><t>0b7d9f9e-2f0e-4b8a-8d7e-1d4b0e6c9a02</t></is></c>` +
		`<c r="D` + r + `" t="inlineStr"><is><t>sms</t></is></c>` +
		`<c r="E` + r + `" t="inlineStr"><is><t>2024-03-01T09:15:00Z</t></is></c>` +
		`<c r="F` + r + `" t="` + bodyType + `">`
}

// The bombs of issue 12, item 4, each of size n: a cell of n bytes inline, a
// shared string of n bytes, 2n bytes of whitespace between two rows, and a
// styles part of n bytes. Each has good rows 2 (but the bomb's) and 3.
func bombs(n int64) map[string]book {
	good := func(r int) string {
		return bombRow(r, "inlineStr") + `<is><t>hello ` + strconv.Itoa(r) + `</t></is></c></row>`
	}
	sst := func(big io.Reader) io.Reader {
		return cat(`<?xml version="1.0"?><sst `+nsMain+`><si><t>small</t></si><si><t>`, big, `</t></si><si><t>after</t></si></sst>`)
	}
	styles := func(pad io.Reader) io.Reader {
		return cat(`<?xml version="1.0"?><styleSheet `+nsMain+`><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>`+
			`<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="164"/></cellXfs>`, pad, `</styleSheet>`)
	}
	return map[string]book{
		"inline-cell": {sheet: sheetXML(bombHeader,
			bombRow(2, "inlineStr")+`<is><t>`, repeat("A", n), `</t></is></c></row>`, good(3))},
		"shared-string": {sst: sst(repeat("S", n)), sheet: sheetXML(bombHeader,
			bombRow(2, "s")+`<v>1</v></c></row>`, good(3))},
		"whitespace": {sheet: sheetXML(bombHeader, good(2), repeat(" ", 2*n), good(3))},
		"styles":     {styles: styles(repeat(" ", n)), sheet: sheetXML(bombHeader, good(2), good(3))},
	}
}

// TestWriteBombs writes the bombs for a measurement of the built binary:
//
//	XLSX_BOMB_DIR=/tmp/bombs go test ./extract/xlsx -run TestWriteBombs
//
// XLSX_BOMB_BYTES sets n (default 1 GiB).
func TestWriteBombs(t *testing.T) {
	dir := os.Getenv("XLSX_BOMB_DIR")
	if dir == "" {
		t.Skip("XLSX_BOMB_DIR not set")
	}
	n := int64(1 << 30)
	if s := os.Getenv("XLSX_BOMB_BYTES"); s != "" {
		v, err := config.ParseByteSize(s)
		require.NoError(t, err)
		n = int64(v)
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for name, b := range bombs(n) {
		b.write(t, dir+"/"+name+".xlsx")
	}
	// And rows each just under the limits: the source holds one at a time,
	// a run's pipeline as many as it keeps in flight.
	rows := []any{bombHeader}
	for r := 2; r < 2+int(n/(DefaultMaxCell-1<<20)); r++ {
		rows = append(rows, bombRow(r, "inlineStr")+`<is><t>`, repeat("B", DefaultMaxCell-1<<20), `</t></is></c></row>`)
	}
	book{sheet: sheetXML(rows...)}.write(t, dir+"/rows-under-the-limit.xlsx")
}
