package xlsx

import (
	"bytes"
	"io"
	"strconv"
	"testing"
)

// benchSheet is a worksheet of n rows as excelize writes them: numbers,
// shared strings, inline text and a date.
func benchSheet(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" + `<worksheet ` + nsMain + `><sheetData>`)
	for i := 1; i <= n; i++ {
		r := strconv.Itoa(i)
		b.WriteString(`<row r="` + r + `" spans="1:8"><c r="A` + r + `"><v>` + r + `</v></c>` +
			`<c r="B` + r + `" t="s"><v>` + strconv.Itoa(i%100) + `</v></c>` +
			`<c r="C` + r + `" t="s"><v>` + strconv.Itoa(i%7) + `</v></c>` +
			`<c r="D` + r + `" t="inlineStr"><is><t>Hello &amp; welcome, this is message number ` + r + ` of the test</t></is></c>` +
			`<c r="E` + r + `" s="1"><v>45352.385763888888</v></c>` +
			`<c r="F` + r + `" t="b"><v>1</v></c>` +
			`<c r="G` + r + `"><v>412.18</v></c>` +
			`<c r="H` + r + `" t="str"><f>A` + r + `*2</f><v>x</v></c></row>`)
	}
	b.WriteString(`</sheetData></worksheet>`)
	return b.Bytes()
}

func BenchmarkSheetReader(b *testing.B) {
	data := benchSheet(20000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := newSheetReader(bytes.NewReader(data), limits{cell: DefaultMaxCell, row: DefaultMaxRecord})
		for {
			if _, _, _, err := r.next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}
