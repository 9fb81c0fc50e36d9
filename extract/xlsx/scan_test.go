package xlsx

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dump renders a part's tokens: <name a="v"> for a start (local names),
// </name> for an end, {text} for the text between two tags (its pieces
// joined), and [over N] after a tag past the budget.
func dump(sc *scanner) (string, error) {
	var b strings.Builder
	inText := false
	for {
		k, err := sc.next()
		if k != tokText && inText {
			b.WriteString("}")
			inText = false
		}
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b.String(), err
		}
		switch k {
		case tokText:
			if !inText {
				b.WriteString("{")
				inText = true
			}
			b.Write(sc.text)
		case tokStart:
			fmt.Fprintf(&b, "<%s", sc.local(sc.name))
			for _, a := range sc.attrs {
				fmt.Fprintf(&b, " %s=%q", sc.local(a.name), sc.store[a.value.from:a.value.to])
			}
			if sc.over > 0 {
				fmt.Fprintf(&b, " [over %d]", sc.tagSize())
			}
			b.WriteString(">")
		case tokEnd:
			fmt.Fprintf(&b, "</%s>", sc.local(sc.name))
		}
	}
}

func TestScanner(t *testing.T) {
	tests := []struct {
		Name, In, Want, Err string
	}{
		{Name: "elements", In: `<?xml version="1.0"?><x:a xmlns:x="u" x:b='1' c="two words"><x:c/>t</x:a>`,
			Want: `<a x="u" b="1" c="two words"><c></c>{t}</a>`},
		{Name: "entities", In: `<a v="&lt;&amp;&quot;&#65;&#x42;">&lt;b&gt; &apos;&#x1F44D;&#10;</a>`,
			Want: `<a v="<&\"AB">{<b> '👍` + "\n" + `}</a>`},
		{Name: "line ends", In: "<a v=\"1\r\n2\r3\">x\r\ny\rz\r</a>", Want: `<a v="1\n2\n3">{x` + "\ny\nz\n" + `}</a>`},
		{Name: "a reference to CR is kept", In: "<a>x&#13;\ny</a>", Want: "<a>{x\r\ny}</a>"},
		{Name: "CDATA", In: "<a><![CDATA[<b>&amp;]]]]><![CDATA[>\r\n]]>z</a>", Want: "<a>{<b>&amp;]]>\nz}</a>"},
		{Name: "comments and instructions", In: `<a><!-- <b> -- --><?pi <c>?>x</a>`, Want: `<a>{x}</a>`},
		{Name: "byte order mark", In: "\xEF\xBB\xBF<a/>", Want: `<a></a>`},
		{Name: "whitespace", In: "<a>\n  <b x = \"1\"\n/>\n</a >", Want: "<a>{\n  }<b x=\"1\"></b>{\n}</a>"},
		{Name: "text at the end", In: "<a/>tail", Want: "<a></a>{tail}"},
		{Name: "DTD", In: `<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, Err: "XML syntax error at byte 0: a DTD (<!DOCTYPE>), which an XLSX part must not have (ECMA-376 Part 2, M1.18)"},
		{Name: "UTF-16", In: "\xFF\xFE<\x00", Err: "the part is UTF-16"},
		{Name: "unknown entity", In: `<a>&nbsp;</a>`, Err: "XML syntax error at byte 3: unknown entity &nbsp;"},
		{Name: "bare ampersand", In: `<a>fish & chips</a>`, Err: "XML syntax error at byte 8: an & that starts no entity reference"},
		{Name: "bad reference", In: `<a>&#0;</a>`, Err: "invalid character reference &#0;"},
		{Name: "lt in attribute", In: `<a b="<"/>`, Err: "'<' in an attribute value"},
		{Name: "no quotes", In: `<a b=1/>`, Err: "an attribute value without quotes"},
		{Name: "no value", In: `<a b/>`, Err: "an attribute without a value"},
		{Name: "no name", In: `<a>< b/></a>`, Err: "a tag without a name"},
		{Name: "cut in a tag", In: `<a><b c="1`, Err: "the part ends inside an attribute value"},
		{Name: "cut in a comment", In: `<a><!-- x`, Err: "the part ends inside a comment"},
		{Name: "cut in CDATA", In: `<a><![CDATA[x`, Err: "the part ends inside a CDATA section"},
	}
	for _, tt := range tests {
		for _, reader := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{{"whole", func(r io.Reader) io.Reader { return r }}, {"byte by byte", iotest.OneByteReader}} {
			t.Run(tt.Name+"/"+reader.name, func(t *testing.T) {
				got, err := dump(newScanner(reader.wrap(strings.NewReader(tt.In))))
				if tt.Err != "" {
					require.Error(t, err)
					assert.Contains(t, err.Error(), tt.Err)
					var se *SyntaxError
					assert.True(t, errors.As(err, &se), "a *SyntaxError")
					return
				}
				require.NoError(t, err)
				assert.Equal(t, tt.Want, got)
			})
		}
	}
}

func TestScannerEndsInsideMarkupUnexpectedly(t *testing.T) {
	_, err := dump(newScanner(strings.NewReader(`<a><b`)))
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

// Text of any length comes in pieces of at most textPiece bytes, and
// nothing is lost at their seams, whatever the reads' sizes.
func TestScannerTextInPieces(t *testing.T) {
	text := strings.Repeat("ab\r\ncd&amp;", 4*textPiece/6+100) // decoded, 4 full pieces and some
	want := strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "&amp;", "&")
	for _, r := range []io.Reader{
		strings.NewReader("<t>" + text + "</t>"),
		iotest.HalfReader(strings.NewReader("<t>" + text + "</t>")),
		iotest.OneByteReader(strings.NewReader("<t>" + text + "</t>")),
	} {
		sc := newScanner(r)
		var got []byte
		pieces := 0
		for {
			k, err := sc.next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			if k == tokText {
				assert.LessOrEqual(t, len(sc.text), textPiece+4)
				got = append(got, sc.text...)
				pieces++
			}
		}
		assert.Equal(t, want, string(got))
		assert.Equal(t, 5, pieces)
	}
}

// A tag past the budget is read to its end and marked; the tokens after it
// are read as usual.
func TestScannerLongTag(t *testing.T) {
	long := strings.Repeat("x", tagBudget+10)
	got, err := dump(newScanner(strings.NewReader(`<a><b r="A1" v="` + long + `" w="1"/><c d="&amp;"/></a>`)))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf(`<a><b r="A1" [over %d]></b><c d="&"></c></a>`, 1+2+2+len(long)+1+1), got)
}

// FuzzScanner checks the scanner against encoding/xml: whatever the
// standard library reads without error (and without a DTD), the scanner
// reads as the same elements, attributes and text.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{
		`<a b="1">x<c/>&amp;<![CDATA[y]]><!--z--></a>`,
		"<x:a xmlns:x='u'>\r\n<b>&#x41;</b></x:a>",
		`<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		want, err := dumpStd(in)
		got, gerr := dump(newScanner(strings.NewReader(in)))
		if err != nil {
			return // the standard library refuses it; the scanner may be kinder
		}
		require.NoError(t, gerr, "encoding/xml reads %q", in)
		assert.Equal(t, want, got)
	})
}

// dumpStd is dump, by encoding/xml.
func dumpStd(in string) (string, error) {
	d := xml.NewDecoder(strings.NewReader(in))
	var b strings.Builder
	inText := false
	for {
		tok, err := d.RawToken()
		if _, ok := tok.(xml.CharData); !ok && inText {
			b.WriteString("}")
			inText = false
		}
		if err == io.EOF {
			return b.String(), nil
		}
		if err != nil {
			return "", err
		}
		switch v := tok.(type) {
		case xml.CharData:
			if !inText {
				b.WriteString("{")
				inText = true
			}
			b.Write(v)
		case xml.StartElement:
			fmt.Fprintf(&b, "<%s", v.Name.Local)
			for _, a := range v.Attr {
				fmt.Fprintf(&b, " %s=%q", a.Name.Local, a.Value)
			}
			b.WriteString(">")
		case xml.EndElement:
			fmt.Fprintf(&b, "</%s>", v.Name.Local)
		case xml.Directive:
			return "", errors.New("a directive")
		}
	}
}
