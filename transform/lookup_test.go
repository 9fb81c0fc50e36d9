package transform

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/msgmigrate/msgmigrate/extract/csv"
	"github.com/msgmigrate/msgmigrate/msg"
)

// A lookup table saved by Excel in another encoding than UTF-8 reads to the
// same keys and values, byte-exact.
func TestLookupEncodings(t *testing.T) {
	const table = "name,customer_uuid\r\nJosé Müller,C-1\r\n“Œuvre” Ltd – Zoë,C-2\r\n"
	win, err := charmap.Windows1252.NewEncoder().String(table)
	require.NoError(t, err)
	utf16, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String(table)
	require.NoError(t, err)
	want := map[string]string{"José Müller": "C-1", "“Œuvre” Ltd – Zoë": "C-2"}
	tests := []struct{ Name, Data, Encoding string }{
		{"UTF-8", table, ""},
		{"UTF-8 with BOM", "\xEF\xBB\xBF" + table, "auto"},
		{"Windows-1252", win, "windows-1252"},
		{"UTF-16LE with BOM", utf16, "utf-16le"},
		{"UTF-16LE auto", utf16, "auto"},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "customers.csv"), []byte(tt.Data), 0o644))
			spec := LookupSpec{Name: "customers", File: "customers.csv", Key: "name", Value: "customer_uuid", Dir: dir}
			got, err := readLookup(spec, csv.Options{Encoding: tt.Encoding})
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

// A table in the wrong encoding fails the job's start with the file, the
// line, the bytes and the setting to change.
func TestLookupEncodingErrors(t *testing.T) {
	win, err := charmap.Windows1252.NewEncoder().String("name,customer_uuid\r\nok,C-0\r\n“Œuvre” Ltd,C-1\r\n")
	require.NoError(t, err)
	utf16, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String("name\tcustomer_uuid\r\n")
	require.NoError(t, err)
	tests := []struct{ Name, Data, Encoding, Want string }{
		{"Windows1252ReadAsUTF8", win, "",
			`lookup "customers": customers.csv:3: column "name" is not valid UTF-8 (0x93 0x8C 0x94): the file looks like Windows-1252; set lookups.customers.encoding`},
		{"UndefinedByte", "name,customer_uuid\r\na\x81,C-1\r\n", "windows-1252",
			`lookup "customers": customers.csv:2: column "name": byte 0x81 has no character in windows-1252`},
		{"UTF16ReadAsUTF8", utf16, "",
			`lookup "customers": customers.csv starts with a UTF-16LE byte order mark, but lookups.customers.encoding is utf-8 (the default): set lookups.customers.encoding: utf-16le, or auto`},
		{"UnknownEncoding", "name,customer_uuid\r\n", "latin-99",
			`lookup "customers": customers.csv: lookups.customers.encoding "latin-99": unknown encoding`},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "customers.csv"), []byte(tt.Data), 0o644))
			spec := LookupSpec{Name: "customers", File: "customers.csv", Key: "name", Value: "customer_uuid", Dir: dir}
			_, err := readLookup(spec, csv.Options{Encoding: tt.Encoding})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.Want)
			if tt.Name == "Windows1252ReadAsUTF8" {
				var me *msg.Error
				var te *csv.TextError
				assert.True(t, errors.As(err, &me) && errors.As(err, &te), "the row's error, by type")
			}
		})
	}
	// Without an encoding key, loadLookup reads UTF-8 and says which key to set.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "customers.csv"), []byte(win), 0o644))
	_, err = loadLookup(LookupSpec{Name: "customers", File: "customers.csv", Key: "name", Value: "customer_uuid", Dir: dir})
	assert.ErrorContains(t, err, "set lookups.customers.encoding")
}
