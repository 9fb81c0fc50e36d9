package csv

import (
	"bytes"
	stdcsv "encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type row struct {
	Line   int
	Fields []string
	Err    error // errors.Is target, nil for a good row
}

func readAll(t *testing.T, r io.Reader, comma byte, max int) []row {
	t.Helper()
	rd := newReader(r, comma, max)
	var out []row
	for i := 0; i < 1000; i++ {
		f, line, err := rd.Read()
		if err == io.EOF {
			return out
		}
		var perr *ParseError
		if errors.As(err, &perr) {
			out = append(out, row{Line: perr.StartLine, Err: perr.Err})
			continue
		}
		require.NoError(t, err)
		out = append(out, row{Line: line, Fields: f})
	}
	t.Fatal("reader did not stop")
	return nil
}

var readTests = []struct {
	Name  string
	Input string
	Comma byte
	Want  []row
}{
	{Name: "Simple", Input: "a,b\n1,2\n", Want: []row{{1, []string{"a", "b"}, nil}, {2, []string{"1", "2"}, nil}}},
	{Name: "NoFinalNewline", Input: "a,b\n1,2", Want: []row{{1, []string{"a", "b"}, nil}, {2, []string{"1", "2"}, nil}}},
	{Name: "CRLF", Input: "a,b\r\n1,2\r\n", Want: []row{{1, []string{"a", "b"}, nil}, {2, []string{"1", "2"}, nil}}},
	{Name: "CRLFInsideQuotesIsData", Input: "a\r\n\"x\r\ny\"\r\n", Want: []row{{1, []string{"a"}, nil}, {2, []string{"x\r\ny"}, nil}}},
	{Name: "QuotedNewlineAndQuote", Input: "a,b\n\"he said \"\"hi\"\"\nbye\",2\n3,4\n", Want: []row{
		{1, []string{"a", "b"}, nil}, {2, []string{"he said \"hi\"\nbye", "2"}, nil}, {4, []string{"3", "4"}, nil}}},
	{Name: "SpacesKept", Input: "a\n  x  \n\" y \"\n", Want: []row{{1, []string{"a"}, nil}, {2, []string{"  x  "}, nil}, {3, []string{" y "}, nil}}},
	{Name: "EmptyFields", Input: "a,b,c\n,,\n", Want: []row{{1, []string{"a", "b", "c"}, nil}, {2, []string{"", "", ""}, nil}}},
	{Name: "BlankLinesSkipped", Input: "a\n\n\r\nx\n", Want: []row{{1, []string{"a"}, nil}, {4, []string{"x"}, nil}}},
	{Name: "Semicolon", Input: "a;b\n1;2\n", Comma: ';', Want: []row{{1, []string{"a", "b"}, nil}, {2, []string{"1", "2"}, nil}}},
	{Name: "MultiByte", Input: "a\n👍 café مرحبا 車\n", Want: []row{{1, []string{"a"}, nil}, {2, []string{"👍 café مرحبا 車"}, nil}}},
	{Name: "BareQuoteCostsOneRow", Input: "a,b\n1,x\"y\n3,4\n", Want: []row{
		{1, []string{"a", "b"}, nil}, {2, nil, ErrBareQuote}, {3, []string{"3", "4"}, nil}}},
	{Name: "ExtraneousAfterQuoteCostsOneRow", Input: "a,b\n\"1\"x,2\n3,4\n", Want: []row{
		{1, []string{"a", "b"}, nil}, {2, nil, ErrQuote}, {3, []string{"3", "4"}, nil}}},
	{Name: "UnterminatedQuoteResyncs", Input: "a,b\n1,\"open\n3,4\n5,6\n", Want: []row{
		{1, []string{"a", "b"}, nil}, {2, nil, ErrUnterminated}, {3, []string{"3", "4"}, nil}, {4, []string{"5", "6"}, nil}}},
}

func TestRead(t *testing.T) {
	for _, tt := range readTests {
		t.Run(tt.Name, func(t *testing.T) {
			comma := tt.Comma
			if comma == 0 {
				comma = ','
			}
			got := readAll(t, strings.NewReader(tt.Input), comma, DefaultMaxRecord)
			require.Len(t, got, len(tt.Want))
			for i, w := range tt.Want {
				assert.Equal(t, w.Line, got[i].Line, "row %d line", i)
				if w.Err != nil {
					assert.ErrorIs(t, got[i].Err, w.Err, "row %d", i)
					continue
				}
				assert.NoError(t, got[i].Err, "row %d", i)
				assert.Equal(t, w.Fields, got[i].Fields, "row %d", i)
			}
		})
	}
}

func TestTooLongRecordCostsOneRow(t *testing.T) {
	input := "a\n\"" + strings.Repeat("x", 100) + "\n2\n"
	got := readAll(t, strings.NewReader(input), ',', 50)
	require.Len(t, got, 3)
	assert.ErrorIs(t, got[1].Err, ErrTooLong)
	assert.Equal(t, []string{"2"}, got[2].Fields)
}

// A record that never ends costs only itself on any input: the lines after
// its first are read again from memory, not by seeking (a decoded stream
// cannot seek).
func TestResyncRereadsFromMemory(t *testing.T) {
	long := strings.Repeat("x", 300<<10) // longer than the bufio buffer, so checked against max
	tests := []struct {
		Name  string
		Input string
		Max   int
		Want  []row
	}{
		{"Unseekable", "a\n\"open\nb\n", DefaultMaxRecord, []row{{1, []string{"a"}, nil}, {2, nil, ErrUnterminated}, {3, []string{"b"}, nil}}},
		{"ReplayedLinesKeepTheirNumbers", "a,b\n1,\"open\n2,x\n\n3,y\n", DefaultMaxRecord, []row{
			{1, []string{"a", "b"}, nil}, {2, nil, ErrUnterminated}, {3, []string{"2", "x"}, nil}, {5, []string{"3", "y"}, nil}}},
		{"OverMaxInsideQuotes", "a\n\"12345\n678\n9abcdefghij\nz\n", 10, []row{
			{1, []string{"a"}, nil}, {2, nil, ErrTooLong}, {3, []string{"678"}, nil}, {4, []string{"9abcdefghij"}, nil}, {5, []string{"z"}, nil}}},
		{"TooLongLineInside", "a\n\"open\nshort\n" + long + "\nlast\n", 100 << 10, []row{
			{1, []string{"a"}, nil}, {2, nil, ErrUnterminated}, {3, []string{"short"}, nil}, {4, nil, ErrTooLong}, {5, []string{"last"}, nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			got := readAll(t, io.MultiReader(strings.NewReader(tt.Input)), ',', tt.Max)
			require.Len(t, got, len(tt.Want), "%v", got)
			for i, w := range tt.Want {
				assert.Equal(t, w.Line, got[i].Line, "row %d line", i)
				if w.Err != nil {
					assert.ErrorIs(t, got[i].Err, w.Err, "row %d", i)
					continue
				}
				assert.NoError(t, got[i].Err, "row %d", i)
				assert.Equal(t, w.Fields, got[i].Fields, "row %d", i)
			}
		})
	}
}

// FuzzRead checks the reader against encoding/csv on the inputs where the two
// must agree: no carriage returns (encoding/csv drops them, we keep them) and
// no malformed quoting (encoding/csv stops, we resynchronise). On every input,
// reading a byte at a time yields what reading in bulk does (resync included).
func FuzzRead(f *testing.F) {
	for _, tt := range readTests {
		f.Add(tt.Input)
	}
	f.Add("a\n\"open\nb\n\"c\nd\n")
	f.Fuzz(func(t *testing.T, input string) {
		bulk := readAll(t, strings.NewReader(input), ',', 64)
		bytewise := readAll(t, iotest.OneByteReader(strings.NewReader(input)), ',', 64)
		require.Equal(t, fmt.Sprint(bulk), fmt.Sprint(bytewise), "input %q", input)
		if strings.ContainsRune(input, '\r') {
			return
		}
		std := stdcsv.NewReader(strings.NewReader(input))
		std.FieldsPerRecord = -1
		want, err := std.ReadAll()
		if err != nil {
			// Still: we must not panic, must stop, and must name lines.
			rd := newReader(bytes.NewReader([]byte(input)), ',', 1<<20)
			for i := 0; i < len(input)+2; i++ {
				_, _, err := rd.Read()
				if err == io.EOF {
					return
				}
			}
			t.Fatalf("reader did not stop on %q", input)
		}
		got := readAll(t, strings.NewReader(input), ',', 1<<20)
		require.Len(t, got, len(want), "input %q", input)
		for i := range want {
			require.NoError(t, got[i].Err)
			assert.Equal(t, want[i], got[i].Fields, "input %q row %d", input, i)
		}
	})
}
