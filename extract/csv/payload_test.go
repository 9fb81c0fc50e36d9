package csv_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	_ "github.com/msgmigrate/msgmigrate/api/mykaarma"
	"github.com/msgmigrate/msgmigrate/extract/csv"
	"github.com/msgmigrate/msgmigrate/extract/extracttest"
	"github.com/msgmigrate/msgmigrate/mappings"
	"github.com/msgmigrate/msgmigrate/transform"
)

var update = flag.Bool("update", false, "rewrite testdata/encodings from the messages below")

const dept, cust = "3f2b8c1e-6d4a-4f0e-9b7a-1c2d3e4f5a6b", "0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b"

// messages are a dealership's export in the columns csv-to-mykaarma reads,
// with what Windows-1252 puts at 0x80–0x9F (€ … – — ‘ ’ “ ” Š Œ) and accents
// above it, a delimiter, quotes and a line break inside values.
var messages = [][]string{
	{"id", "department_uuid", "customer_uuid", "channel", "direction", "sent_at", "created_at", "subject", "body_text", "body_html", "user_uuid", "attachment_url"},
	{"1", dept, cust, "sms", "outbound", "2024-03-01T09:15:00Z", "2024-03-01 09:14:58", "", "Hi José, your Škoda is ready – pick-up until 6 pm… Total: 1 250 €", "", "", ""},
	{"2", dept, cust, "email", "inbound", "2024-03-02T16:45:31Z", "2024-03-02 16:45:31", "Re: “Winter tyres”", "Thanks — Thursday works, 9:00.\r\nGrüße, Jürgen", "", "", ""},
	{"3", dept, cust, "email", "outbound", "2024-03-03T08:00:00Z", "2024-03-03 08:00:00", "Œuvre d’art", "", "<p>Bonjour M. Lefèvre,</p><p>« C’est prêt », ½ price.</p>", "", ""},
	{"4", dept, cust, "phone", "inbound", "2024-03-04T10:00:00Z", "2024-03-04 10:00:00", "", "Missed call; ‘voicemail’ left (Zoë)", "", "", ""},
}

// csvText is the package's own (encoding_test.go), for this external test.
var csvText = csv.CSVText

// exports are the messages as Excel saves them, written with x/text's
// encoders; each is read with the source.encoding values that fit it.
var exports = []struct {
	File     string
	Excel    string
	Settings []string
	Write    func(t *testing.T) []byte
}{
	{"messages-utf8.csv", "CSV UTF-8 (Comma delimited)", []string{"", "auto"}, func(t *testing.T) []byte {
		return []byte("\xEF\xBB\xBF" + csvText(messages, ","))
	}},
	{"messages-windows1252.csv", "CSV (Comma delimited)", []string{"windows-1252", "cp1252"}, func(t *testing.T) []byte {
		b, err := charmap.Windows1252.NewEncoder().String(csvText(messages, ","))
		require.NoError(t, err)
		return []byte(b)
	}},
	{"messages-unicode.txt", "Unicode Text", []string{"utf-16le", "utf-16", "auto"}, func(t *testing.T) []byte {
		b, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String(csvText(messages, "\t"))
		require.NoError(t, err)
		return []byte(b)
	}},
}

var fixtures = filepath.Join("..", "..", "testdata", "encodings")

// The checked-in exports are what the test writes (run with -update to
// rewrite them), so a user can try them and the test below reads real files.
func TestEncodingFixtures(t *testing.T) {
	for _, e := range exports {
		path := filepath.Join(fixtures, e.File)
		data := e.Write(t)
		if *update {
			require.NoError(t, os.MkdirAll(fixtures, 0o755))
			require.NoError(t, os.WriteFile(path, data, 0o644))
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "run with -update to create it")
		assert.True(t, bytes.Equal(data, got), "%s differs from what the test writes: run with -update", path)
	}
	utf8, win, utf16 := exports[0].Write(t), exports[1].Write(t), exports[2].Write(t)
	assert.Contains(t, string(win), "\x93Winter tyres\x94", "Windows-1252 curly quotes are single bytes 0x93 0x94")
	assert.Less(t, len(win), len(utf8))
	assert.True(t, bytes.HasPrefix(utf16, []byte("\xFF\xFEi\x00d\x00\t\x00")), "UTF-16LE, BOM, tab-delimited")
}

// The done-when of issue 13: the same messages saved as UTF-8, Windows-1252
// and UTF-16LE (BOM, tabs) map to identical payloads, byte for byte.
func TestSameMessagesSamePayloads(t *testing.T) {
	data, err := mappings.Read("csv-to-mykaarma")
	require.NoError(t, err)
	m, err := transform.ParseMapping("builtin:csv-to-mykaarma", data, ".")
	require.NoError(t, err)
	prog, err := transform.Compile(m, transform.Options{})
	require.NoError(t, err)

	var want []string
	for _, e := range exports {
		for _, setting := range e.Settings {
			t.Run(e.Excel+"/"+setting, func(t *testing.T) {
				src, err := csv.OpenWith(filepath.Join(fixtures, e.File), e.File, csv.Options{Encoding: setting})
				require.NoError(t, err)
				defer src.Close()
				recs, errs := extracttest.ReadAll(t, src)
				require.Empty(t, errs)
				mapper := prog.NewMapper()
				var got []string
				for _, rec := range recs {
					it, err := mapper.Map(rec)
					require.NoError(t, err)
					got = append(got, it.Key+" "+string(it.Payload))
				}
				require.Len(t, got, len(messages)-1)
				if want == nil {
					want = got
					return
				}
				assert.Equal(t, want, got)
			})
		}
	}
	require.NotNil(t, want)
	// And the payloads hold the text as written, in UTF-8.
	var bodies []string
	for _, p := range want {
		var item struct {
			MessageAttributes struct{ Body, Subject string }
		}
		require.NoError(t, json.Unmarshal([]byte(p[strings.IndexByte(p, ' ')+1:]), &item))
		bodies = append(bodies, item.MessageAttributes.Subject+"|"+item.MessageAttributes.Body)
	}
	assert.Equal(t, []string{
		"|" + messages[1][8],
		messages[2][7] + "|" + messages[2][8],
		messages[3][7] + "|Bonjour M. Lefèvre,\n« C’est prêt », ½ price.",
		"|" + messages[4][8],
	}, bodies)
}
