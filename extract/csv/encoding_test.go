package csv

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	xencoding "golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/extracttest"
	"github.com/msgmigrate/msgmigrate/msg"
)

// csvText writes rows as CSV the way Excel does: fields quoted when they
// need it, quotes doubled, CRLF line ends.
func csvText(rows [][]string, delim string) string {
	var b strings.Builder
	for _, row := range rows {
		for i, f := range row {
			if i > 0 {
				b.WriteString(delim)
			}
			if strings.ContainsAny(f, delim+"\"\r\n") {
				f = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
			}
			b.WriteString(f)
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

// encodeText writes text in an encoding with x/text's encoders: the test data
// does not come from the code under test.
func encodeText(t testing.TB, e xencoding.Encoding, text string) string {
	t.Helper()
	out, err := e.NewEncoder().String(text)
	require.NoError(t, err)
	return out
}

var (
	utf16LE = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	utf16BE = unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
)

// western are messages as a dealership export holds them: accents, the euro
// sign, curly quotes, dashes and ellipses (0x80–0x9F in Windows-1252), the
// delimiter, quotes and a line break inside a value, an empty cell.
var western = [][]string{
	{"id", "customer", "body"},
	{"1", "José Müller", "Your Škoda… is ready – 1 250 € “as quoted”, Zoë"},
	{"2", "Œuvre Ltd", "Line one\r\nline two, with a \"quote\" and ‘single’ ones"},
	{"3", "", "ok"},
}

// fieldsOf is rows as records' fields: an empty cell is absent.
func fieldsOf(rows [][]string) []map[string]any {
	var out []map[string]any
	for _, row := range rows[1:] {
		m := map[string]any{}
		for i, f := range row {
			if f != "" {
				m[rows[0][i]] = f
			}
		}
		out = append(out, m)
	}
	return out
}

func TestEncodingsReadTheSameRows(t *testing.T) {
	comma, tab := csvText(western, ","), csvText(western, "\t")
	tests := []struct {
		Name     string
		Data     string
		Settings []string
	}{
		{"UTF-8", comma, []string{"", "utf-8", "UTF8", "auto"}},
		{"UTF-8 with BOM (Excel: CSV UTF-8)", "\xEF\xBB\xBF" + comma, []string{"", "utf-8", "auto"}},
		{"Windows-1252 (Excel: CSV)", encodeText(t, charmap.Windows1252, comma), []string{"windows-1252", "cp1252", "Windows-1252"}},
		{"UTF-16LE with BOM, tabs (Excel: Unicode Text)", "\xFF\xFE" + encodeText(t, utf16LE, tab), []string{"utf-16le", "utf-16", "auto"}},
		{"UTF-16BE with BOM", "\xFE\xFF" + encodeText(t, utf16BE, comma), []string{"utf-16be", "utf-16", "auto"}},
		{"UTF-16LE without BOM", encodeText(t, utf16LE, tab), []string{"utf-16le", "UTF16LE"}},
		{"UTF-16BE without BOM", encodeText(t, utf16BE, comma), []string{"utf-16be"}},
	}
	for _, tt := range tests {
		for _, setting := range tt.Settings {
			t.Run(tt.Name+"/"+setting, func(t *testing.T) {
				s, err := OpenWith(writeFile(t, "m.csv", tt.Data), "m.csv", Options{Encoding: setting})
				require.NoError(t, err)
				defer s.Close()
				assert.Equal(t, western[0], s.Columns())
				rows, errs := extracttest.ReadFields(t, s)
				assert.Empty(t, errs)
				assert.Equal(t, fieldsOf(western), rows)
				assert.Nil(t, s.Hints())
			})
		}
	}
}

// Every single-byte code page x/text offers reads every character it has,
// by its name, byte-exact.
func TestEveryCodePageKeepsEveryCharacter(t *testing.T) {
	for _, e := range charmap.All {
		cm, ok := e.(*charmap.Charmap)
		if !ok || cm == charmap.XUserDefined {
			continue
		}
		name := charmapName(cm)
		t.Run(name, func(t *testing.T) {
			var all strings.Builder
			for b := range 256 {
				r := cm.DecodeByte(byte(b))
				// C1 controls (ISO-8859's 0x80–0x9F) fail their row: see
				// TestLatin1ReadingOfAWindows1252File.
				if r == utf8.RuneError || r < 0x20 || r == '"' || r == ',' || r == 0x7F || isC1(r) {
					continue
				}
				all.WriteRune(r)
			}
			rows := [][]string{{"id", "text"}, {"1", all.String()}}
			data := encodeText(t, cm, csvText(rows, ","))
			s, err := OpenWith(writeFile(t, "m.csv", data), "m.csv", Options{Encoding: name})
			require.NoError(t, err)
			defer s.Close()
			got, errs := extracttest.ReadFields(t, s)
			assert.Empty(t, errs)
			assert.Equal(t, fieldsOf(rows), got)
		})
	}
}

func TestEncodingNames(t *testing.T) {
	tests := []struct{ In, Want string }{
		{"", "utf-8"}, {"UTF-8", "utf-8"}, {"utf8", "utf-8"}, {"US-ASCII", "utf-8"}, {"auto", "auto"},
		{"utf-16", "utf-16"}, {"UTF-16LE", "utf-16le"}, {"utf16be", "utf-16be"},
		{"windows-1252", "windows-1252"}, {"cp1252", "windows-1252"}, {"CP1250", "windows-1250"},
		{"iso-8859-1", "iso-8859-1"}, {"latin1", "iso-8859-1"}, {"latin-1", "iso-8859-1"},
		{"iso8859-1", "iso-8859-1"}, {"ISO_8859-1", "iso-8859-1"}, {"l1", "iso-8859-1"},
		{"iso-8859-15", "iso-8859-15"}, {"latin-9", "iso-8859-15"},
		{"macintosh", "macintosh"}, {"mac", "macintosh"}, {"mac-roman", "macintosh"},
		{"x-mac-cyrillic", "x-mac-cyrillic"},
		{"cp850", "ibm850"}, {"IBM850", "ibm850"}, {"850", "ibm850"}, {"cp437", "ibm437"},
		{"cp858", "ibm00858"}, {"koi8-r", "koi8-r"}, {" windows-1251 ", "windows-1251"},
	}
	for _, tt := range tests {
		t.Run(tt.In, func(t *testing.T) {
			e, err := lookupEncoding(tt.In)
			require.NoError(t, err)
			assert.Equal(t, tt.Want, e.name)
			require.NoError(t, CheckEncoding(tt.In))
		})
	}
	for _, e := range charmap.All {
		if cm, ok := e.(*charmap.Charmap); ok && cm != charmap.XUserDefined {
			enc, err := lookupEncoding(charmapName(cm))
			require.NoError(t, err, "%v is found by its own name", cm)
			assert.Equal(t, *newByteTable(cm), *enc.table, "%v", cm)
		}
	}
	for _, bad := range []string{"latin", "utf-32", "ebcdic", "x-user-defined", "cp99999"} {
		err := CheckEncoding(bad)
		assert.ErrorIs(t, err, ErrUnknownEncoding, bad)
		assert.ErrorContains(t, err, "use utf-8 (the default), windows-1252", bad)
	}
	err := CheckEncoding("shift_jis")
	assert.ErrorIs(t, err, ErrUnsupportedEncoding)
	assert.EqualError(t, err, `"shift_jis": encoding not supported: only UTF-8, UTF-16 and single-byte code pages are read (convert the file to UTF-8 first)`)
}

// Bytes that are not text in the file's encoding fail their row with the
// byte and its line, and reading goes on: nothing becomes U+FFFD.
func TestBadBytesFailTheirRow(t *testing.T) {
	tests := []struct {
		Name, Setting, Data string
		Rows                []map[string]any
		Errs                []string
	}{
		{
			Name: "UndefinedInWindows1252", Setting: "windows-1252",
			Data: "id,body\r\n1,caf\xE9\r\n2,a\x81b\r\n3,\"two\r\nlines \x8D\x9D \x81\"\r\n4,ok \x80\r\n",
			Rows: []map[string]any{{"id": "1", "body": "café"}, {"id": "4", "body": "ok €"}},
			Errs: []string{
				`m.csv:3: column "body": byte 0x81 has no character in windows-1252`,
				`m.csv:4: column "body" (line 5): bytes 0x8D 0x9D 0x81 have no character in windows-1252`,
			},
		},
		{
			Name: "UndefinedInISO8859-7", Setting: "iso-8859-7",
			Data: "id,body\n1,\xE1\xE2\n2,x\xFFy\n",
			Rows: []map[string]any{{"id": "1", "body": "αβ"}},
			Errs: []string{`m.csv:3: column "body": byte 0xFF has no character in iso-8859-7`},
		},
		{
			Name: "UnpairedSurrogate", Setting: "utf-16le",
			Data: encodeText(t, utf16LE, "id,body\n1,😀\n2,a") + "\x3D\xD8" + encodeText(t, utf16LE, "b\n3,") + "\x00\xDC" + encodeText(t, utf16LE, "\n4,ok\n"),
			Rows: []map[string]any{{"id": "1", "body": "😀"}, {"id": "4", "body": "ok"}},
			Errs: []string{
				`m.csv:3: column "body": unpaired UTF-16 surrogate 0xD83D (half a character)`,
				`m.csv:4: column "body": unpaired UTF-16 surrogate 0xDC00 (half a character)`,
			},
		},
		{
			Name: "OddLastByte", Setting: "utf-16be",
			Data: encodeText(t, utf16BE, "id,body\n1,ok\n2,x") + "\x00",
			Rows: []map[string]any{{"id": "1", "body": "ok"}},
			Errs: []string{`m.csv:3: column "body": the file ends in an odd byte (0x00): UTF-16 has two bytes a unit`},
		},
		{
			Name: "InvalidUTF8", Setting: "utf-8",
			Data: "id,note,body\n1,\"a\nb\",x\xC3(\n2,,\x81\n",
			Errs: []string{
				`m.csv:2: column "body" (line 3) is not valid UTF-8 (0xC3): the file looks like Windows-1252; set source.encoding`,
				`m.csv:4: column "body" is not valid UTF-8 (0x81): if the file is in another encoding, set source.encoding`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			s, err := OpenWith(writeFile(t, "m.csv", tt.Data), "m.csv", Options{Encoding: tt.Setting})
			require.NoError(t, err)
			defer s.Close()
			recs, errs := extracttest.ReadAll(t, s)
			var rows []map[string]any
			for _, r := range recs {
				rows = append(rows, r.Fields)
			}
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
				var te *TextError
				assert.True(t, errors.As(e, &te), "a *TextError: %v", e)
			}
			assert.Equal(t, tt.Rows, rows)
			assert.Equal(t, tt.Errs, msgs)
		})
	}
}

// A Windows-1252 file read as ISO-8859-1: its curly quotes, dashes and €
// would arrive as invisible C1 control characters. The row fails naming the
// byte and the encoding to set, the run says it once; Latin-1 text that is
// Latin-1 loads.
func TestLatin1ReadingOfAWindows1252File(t *testing.T) {
	data := "id,body\r\n1,caf\xE9 cr\xE8me\r\n2,\"say \x93hi\x94\"\r\n3,\x80 5\r\n"
	for _, setting := range []string{"iso-8859-1", "latin1"} {
		t.Run(setting, func(t *testing.T) {
			s, err := OpenWith(writeFile(t, "messages.csv", data), "messages.csv", Options{Encoding: setting})
			require.NoError(t, err)
			defer s.Close()
			got, errs := extracttest.ReadFields(t, s)
			assert.Equal(t, []map[string]any{{"id": "1", "body": "café crème"}}, got)
			assert.Equal(t, []string{
				`messages.csv:3: column "body": byte 0x93 reads as an invisible control character in iso-8859-1: the file looks like Windows-1252; set source.encoding: windows-1252`,
				`messages.csv:4: column "body": byte 0x80 reads as an invisible control character in iso-8859-1: the file looks like Windows-1252; set source.encoding: windows-1252`,
			}, errs)
			assert.Equal(t, []string{"messages.csv read as iso-8859-1 holds control characters (line 3: 0x93); it looks like Windows-1252: set source.encoding: windows-1252"}, s.Hints())
		})
	}
	// Read as what it is, every row loads.
	s, err := OpenWith(writeFile(t, "messages.csv", data), "messages.csv", Options{Encoding: "windows-1252"})
	require.NoError(t, err)
	defer s.Close()
	got, errs := extracttest.ReadFields(t, s)
	assert.Empty(t, errs)
	assert.Equal(t, []map[string]any{{"id": "1", "body": "café crème"}, {"id": "2", "body": "say “hi”"}, {"id": "3", "body": "€ 5"}}, got)
}

func TestWindows1252Hint(t *testing.T) {
	// Curly quotes and an é as Excel's "CSV (Comma delimited)" writes them.
	data := "id,body\r\n1,plain\r\n2,\"multi\r\nline \x93hi\x94 \x93there\x94\"\r\n3,caf\xE9\r\n"
	s, err := OpenWith(writeFile(t, "messages.csv", data), "messages.csv", Options{})
	require.NoError(t, err)
	defer s.Close()
	assert.Nil(t, s.Hints(), "nothing noticed before reading")
	_, errs := extracttest.ReadFields(t, s)
	assert.Equal(t, []string{
		`messages.csv:3: column "body" (line 4) is not valid UTF-8 (0x93 0x94): the file looks like Windows-1252; set source.encoding`,
		`messages.csv:5: column "body" is not valid UTF-8 (0xE9): the file looks like Windows-1252; set source.encoding`,
	}, errs)
	assert.Equal(t, []string{"messages.csv looks like Windows-1252 (line 4: 0x93 0x94); set source.encoding"}, s.Hints(),
		"said once, with the first such line and its bytes")

	tests := []struct{ Name, Data, Setting string }{
		{"UndefinedInWindows1252", "id,body\n1,a\x81\x93b\n", ""},
		{"ValidUTF8", "id,body\n1,“curly”\n", ""},
		{"DecodedAlready", "id,body\n1,a\x81\x93b\n", "windows-1252"},
	}
	for _, tt := range tests {
		t.Run("NoHint/"+tt.Name, func(t *testing.T) {
			s, err := OpenWith(writeFile(t, "m.csv", tt.Data), "m.csv", Options{Encoding: tt.Setting})
			require.NoError(t, err)
			defer s.Close()
			extracttest.ReadAll(t, s)
			assert.Nil(t, s.Hints())
		})
	}
	t.Run("LookupSetting", func(t *testing.T) {
		s, err := OpenWith(writeFile(t, "c.csv", "k,v\n1,\x93x\x94\n"), "c.csv", Options{Setting: "lookups.customers.encoding"})
		require.NoError(t, err)
		defer s.Close()
		_, errs := extracttest.ReadFields(t, s)
		assert.Equal(t, []string{`c.csv:2: column "v" is not valid UTF-8 (0x93 0x94): the file looks like Windows-1252; set lookups.customers.encoding`}, errs)
		assert.Equal(t, []string{"c.csv looks like Windows-1252 (line 2: 0x93 0x94); set lookups.customers.encoding"}, s.Hints())
	})
}

func TestOpenErrors(t *testing.T) {
	tests := []struct{ Name, Setting, Data, Want string }{
		{"UTF16BOMInUTF8", "", "\xFF\xFE" + encodeText(t, utf16LE, "a\tb\n"),
			"m.csv starts with a UTF-16LE byte order mark, but source.encoding is utf-8 (the default): set source.encoding: utf-16le, or auto"},
		{"UTF8BOMInWindows1252", "windows-1252", "\xEF\xBB\xBFa,b\n",
			"m.csv starts with a UTF-8 byte order mark, but source.encoding is windows-1252: set source.encoding: utf-8, or auto"},
		{"BigEndianBOMInLittleEndian", "utf-16le", "\xFE\xFF" + encodeText(t, utf16BE, "a\tb\n"),
			"m.csv starts with a UTF-16BE byte order mark, but source.encoding is utf-16le: set source.encoding: utf-16be, or auto"},
		{"UTF16WithoutBOM", "utf-16", encodeText(t, utf16LE, "a\tb\n"),
			`m.csv: source.encoding utf-16 needs a byte order mark to tell the byte order, and the file has none: set utf-16le (Excel's "Unicode Text") or utf-16be`},
		{"UTF8BOMInUTF16", "utf-16", "\xEF\xBB\xBFa,b\n",
			`m.csv: source.encoding utf-16 needs a byte order mark to tell the byte order, and the file has none: set utf-16le (Excel's "Unicode Text") or utf-16be`},
		{"Unknown", "latin-99", "a\n", `m.csv: source.encoding "latin-99": unknown encoding (use ` + encodingHelp + ")"},
		{"HeaderNotUTF8", "", "id,caf\xE9\n", "m.csv:1: header: column 2: not valid UTF-8 (0xE9): the file looks like Windows-1252; set source.encoding"},
		{"HeaderNotUTF8Nor1252", "", "id,\x9D\n", "m.csv:1: header: column 2: not valid UTF-8 (0x9D): if the file is in another encoding, set source.encoding"},
		{"HeaderUndefined", "windows-1252", "id,\x81\n", "m.csv:1: header: column 2: byte 0x81 has no character in windows-1252"},
		{"EmptyUTF16", "auto", "\xFF\xFE", "m.csv: the file is empty: a header row is required"},
		{"UTF16LENoBOMInUTF8", "", encodeText(t, utf16LE, "id\tbody\r\n1\tx\r\n"),
			"m.csv:1: header: column 1 holds NUL bytes: the file looks like UTF-16 without a byte order mark; set source.encoding: utf-16le"},
		{"UTF16BENoBOMInAuto", "auto", encodeText(t, utf16BE, "id,body\r\n"),
			"m.csv:1: header: column 1 holds NUL bytes: the file looks like UTF-16 without a byte order mark; set source.encoding: utf-16be"},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			_, err := OpenWith(writeFile(t, "m.csv", tt.Data), "m.csv", Options{Encoding: tt.Setting})
			assert.EqualError(t, err, tt.Want)
		})
	}
}

// The job key: source.encoding, checked against the job file.
func TestJobKey(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, "m.csv", "\xFF\xFE"+encodeText(t, utf16LE, "id\tbody\r\n1\tZoë\r\n"))
	for _, tt := range []struct{ Encoding, Err string }{
		{"auto", ""},
		{"utf-16le", ""},
		{"klingon", `job.yaml: source.encoding "klingon": unknown encoding (use ` + encodingHelp + ")"},
	} {
		var node yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte("kind: csv\npath: "+path+"\nencoding: "+tt.Encoding+"\n"), &node))
		src, err := extract.Open(context.Background(), "csv", config.Section{File: "job.yaml", Node: node.Content[0], Dir: dir}, extract.Env{})
		if tt.Err != "" {
			assert.EqualError(t, err, tt.Err)
			continue
		}
		require.NoError(t, err)
		rows, errs := extracttest.ReadFields(t, src)
		src.Close()
		assert.Empty(t, errs)
		assert.Equal(t, []map[string]any{{"id": "1", "body": "Zoë"}}, rows, tt.Encoding)
	}
}

func TestConformanceDecoded(t *testing.T) {
	rows := "id;body;note\r\n1;\"multi\r\nline; \"\"quoted\"\" – ok\";\r\n2;x\"y;z\r\n3;a\x81b;\r\n4;\"never closed;z\r\n5;last …;€\r\n"
	for _, tt := range []struct {
		Name, Setting, Data string
		Bad                 []string
	}{
		{"Windows1252", "windows-1252", encodeText(t, charmap.Windows1252, strings.ReplaceAll(rows, "\x81", "")), []string{"m.csv:4", "m.csv:6"}},
		{"Windows1252Undefined", "windows-1252", strings.Replace(encodeText(t, charmap.Windows1252, strings.ReplaceAll(rows, "\x81", "")), "ab", "a\x81b", 1),
			[]string{"m.csv:4", "m.csv:5", "m.csv:6"}},
		{"UTF16LE", "auto", "\xFF\xFE" + encodeText(t, utf16LE, strings.ReplaceAll(rows, "\x81", "")), []string{"m.csv:4", "m.csv:6"}},
	} {
		t.Run(tt.Name, func(t *testing.T) {
			path := writeFile(t, "m.csv", tt.Data)
			want := []map[string]any{{"id": "1", "body": "multi\r\nline; \"quoted\" – ok"}}
			if len(tt.Bad) == 2 {
				want = append(want, map[string]any{"id": "3", "body": "ab"})
			}
			want = append(want, map[string]any{"id": "5", "body": "last …", "note": "€"})
			extracttest.Run(t, extracttest.Fixture{
				Open: func(t *testing.T) extract.Source {
					s, err := OpenWith(path, "m.csv", Options{Encoding: tt.Setting})
					require.NoError(t, err)
					return s
				},
				Records: want,
				Bad:     tt.Bad,
			})
		})
	}
}

// endless is a UTF-16LE "Unicode Text" export that never ends.
type endless struct {
	buf []byte
	row []byte
}

func (e *endless) Read(p []byte) (int, error) {
	for len(e.buf) < len(p) {
		e.buf = append(e.buf, e.row...)
	}
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	return n, nil
}

// Decoding streams: reading the first rows of an endless file ends, having
// read a bounded part of it.
func TestDecodingStreams(t *testing.T) {
	e := &endless{buf: []byte("\xFF\xFE" + encodeText(t, utf16LE, "a\tb\r\n")), row: []byte(encodeText(t, utf16LE, strings.Repeat("x", 50)+"\t“é”\r\n"))}
	s, err := newSource(io.NopCloser(e), 0, "m.txt", encoding{name: "auto", kind: encAuto}, Options{Setting: "source.encoding"})
	require.NoError(t, err)
	for i := range 10_000 {
		rec, err := s.Next(context.Background())
		require.NoError(t, err)
		require.Equal(t, msg.Origin{Source: "m.txt", Line: i + 2}, rec.Origin)
		require.Equal(t, "“é”", rec.Fields["b"])
	}
	done, _ := s.Progress()
	assert.Less(t, done, int64(2<<20), "10 000 rows of 110 bytes and the buffers")
	assert.Greater(t, done, int64(10_000*110))
}

// The decoders' markers, which findBadText reads back.
func TestDecoders(t *testing.T) {
	w1252, err := lookupEncoding("windows-1252")
	require.NoError(t, err)
	tests := []struct {
		Name string
		T    transform.Transformer
		In   string
		Want string
		Bad  badText
	}{
		{"Windows1252", w1252.table, "a\x80\x93\xE9", "a€“é", badText{}},
		{"Windows1252Undefined", w1252.table, "a\x81b\x9D", "a\xFF\x88\x81b\xFF\x89\x8D", badText{at: 1, bytes: []byte{0x81, 0x9D}}},
		{"UTF16LE", utf16Decoder{}, "a\x00\xE9\x00\x3D\xD8\x00\xDE", "aé😀", badText{}},
		{"UTF16BE", utf16Decoder{bigEndian: true}, "\x00a\xD8\x3D\xDE\x00", "a😀", badText{}},
		{"HighSurrogateAlone", utf16Decoder{}, "\x3D\xD8a\x00", "\xED\xA0\xBDa", badText{at: 0, surrogate: 0xD83D}},
		{"HighSurrogateLast", utf16Decoder{}, "a\x00\xFF\xDB", "a\xED\xAF\xBF", badText{at: 1, surrogate: 0xDBFF}},
		{"LowSurrogateAlone", utf16Decoder{}, "\x00\xDC", "\xED\xB0\x80", badText{at: 0, surrogate: 0xDC00}},
		{"OddByte", utf16Decoder{}, "a\x00b", "a\xFF\x86\x82", badText{at: 1, bytes: []byte{'b'}}},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			got, _, err := transform.String(tt.T, tt.In)
			require.NoError(t, err)
			assert.Equal(t, tt.Want, got)
			if tt.Bad.at == 0 && tt.Bad.bytes == nil && tt.Bad.surrogate == 0 {
				assert.True(t, utf8.ValidString(got))
				return
			}
			assert.Equal(t, tt.Bad, findBadText(got, true))
		})
	}
}

// decoders are the decoding paths a fuzz input goes through, each with a
// reference decoder that writes U+FFFD where ours writes a marker: x/text's
// for the code pages, the standard library's for UTF-16 (x/text's writes one
// U+FFFD for two unpaired low surrogates in a row).
var decoders = []struct {
	name string
	ours transform.Transformer
	ref  func([]byte) (string, error)
}{
	{"utf-16le", utf16Decoder{}, func(b []byte) (string, error) { return refUTF16(b, false), nil }},
	{"utf-16be", utf16Decoder{bigEndian: true}, func(b []byte) (string, error) { return refUTF16(b, true), nil }},
	{"windows-1252", newByteTable(charmap.Windows1252), refCharmap(charmap.Windows1252)},
	{"iso-8859-8", newByteTable(charmap.ISO8859_8), refCharmap(charmap.ISO8859_8)},
	{"windows-874", newByteTable(charmap.Windows874), refCharmap(charmap.Windows874)},
	{"ibm037", newByteTable(charmap.CodePage037), refCharmap(charmap.CodePage037)},
}

func refCharmap(cm *charmap.Charmap) func([]byte) (string, error) {
	return func(b []byte) (string, error) { return cm.NewDecoder().String(string(b)) }
}

func refUTF16(b []byte, bigEndian bool) string {
	units := make([]uint16, len(b)/2)
	for i := range units {
		if bigEndian {
			units[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			units[i] = uint16(b[2*i+1])<<8 | uint16(b[2*i])
		}
	}
	s := string(utf16.Decode(units))
	if len(b)%2 == 1 {
		s += string(utf8.RuneError)
	}
	return s
}

// unmark replaces the decoders' markers with U+FFFD, as x/text writes them.
func unmark(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
			i += markerLen // both markers are three bytes
			continue
		}
		b.WriteString(s[i : i+size])
		i += size
	}
	return b.String()
}

// FuzzDecode checks each decoder: reading a byte at a time gives what
// decoding at once does; it agrees with x/text's decoder except that a
// marker stands where x/text loses the bytes to U+FFFD; and findBadText
// finds a marker exactly when there is one.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("a\x00\x3D\xD8\x00\xDE\x81\x9D\x00\xDCb"), uint8(0))
	f.Add([]byte("\xD8\x3D\xDE\x00\xD8\x00a"), uint8(1))
	f.Add([]byte("caf\xE9 \x93\x81\x94"), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		d := decoders[int(which)%len(decoders)]
		whole, _, err := transform.Bytes(d.ours, data)
		require.NoError(t, err)
		bytewise, err := io.ReadAll(transform.NewReader(iotest.OneByteReader(bytes.NewReader(data)), d.ours))
		require.NoError(t, err)
		require.Equal(t, whole, bytewise, "%s %q", d.name, data)

		ref, err := d.ref(data)
		require.NoError(t, err)
		require.Equal(t, ref, unmark(string(whole)), "%s %q", d.name, data)

		if utf8.Valid(whole) {
			return
		}
		bad := findBadText(string(whole), true)
		require.GreaterOrEqual(t, bad.at, 0)
		require.True(t, len(bad.bytes) > 0 || bad.surrogate != 0, "%s %q", d.name, data)
		require.True(t, utf8.ValidString(string(whole[:bad.at])))
	})
}

// FuzzDecodeSource reads any bytes in each encoding through the source: it
// must not panic, must stop, must yield only valid UTF-8, and must name
// lines that go forward.
func FuzzDecodeSource(f *testing.F) {
	f.Add([]byte("\xFF\xFEa\x00\t\x00b\x00\n\x00\x3D\xD8\t\x00\"\x00\n\x00"), uint8(0))
	f.Add([]byte("id,body\n1,\"a\x81\n2,b\x93\n"), uint8(2))
	settings := []string{"auto", "utf-16be", "windows-1252", "utf-8", "iso-8859-8", "ibm037"}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		setting := settings[int(which)%len(settings)]
		enc, err := lookupEncoding(setting)
		require.NoError(t, err)
		s, err := newSource(io.NopCloser(bytes.NewReader(data)), int64(len(data)), "m.csv", enc, Options{MaxRecord: 256, Setting: "source.encoding"})
		if err != nil {
			return // a header that cannot be read is an error at open
		}
		last := 1
		for range len(data) + 2 {
			rec, err := s.Next(context.Background())
			if errors.Is(err, io.EOF) {
				done, total := s.Progress()
				require.Equal(t, total, done)
				return
			}
			var me *msg.Error
			if errors.As(err, &me) {
				require.Greater(t, me.Origin.Line, last)
				last = me.Origin.Line
				continue
			}
			require.NoError(t, err)
			require.Greater(t, rec.Origin.Line, last)
			last = rec.Origin.Line
			for k, v := range rec.Fields {
				require.True(t, utf8.ValidString(k) && utf8.ValidString(v.(string)), "%q: %q", k, v)
			}
		}
		t.Fatalf("source did not stop on %q", data)
	})
}
