package csv

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/extracttest"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestConformance(t *testing.T) {
	content := "\xEF\xBB\xBFid;body;note\r\n1;\"multi\r\nline; \"\"quoted\"\"\";\r\n2;x\"y;z\r\n3;  spaced  ;👍\r\n4;too;many;fields\r\n5;\"never closed;z\r\n6;last;\r\n"
	path := writeFile(t, "m.csv", content)
	extracttest.Run(t, extracttest.Fixture{
		Open: func(t *testing.T) extract.Source {
			s, err := Open(path, "m.csv", "", 0)
			require.NoError(t, err)
			return s
		},
		Records: []map[string]any{
			{"id": "1", "body": "multi\r\nline; \"quoted\""},
			{"id": "3", "body": "  spaced  ", "note": "👍"},
			{"id": "6", "body": "last"},
		},
		Bad: []string{"m.csv:4", "m.csv:6", "m.csv:7"},
	})
}

func TestSourceErrors(t *testing.T) {
	tests := []struct {
		Name, Content, Want string
	}{
		{"Empty", "", "m.csv: the file is empty: a header row is required"},
		{"DuplicateHeader", "id,body,id\n1,2,3\n", `m.csv:1: header: column "id" appears twice (columns 1 and 3)`},
		{"UnnamedColumn", "id,,x\n", "m.csv:1: header: column 2 has no name"},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			_, err := Open(writeFile(t, "m.csv", tt.Content), "m.csv", "", 0)
			require.Error(t, err)
			assert.Equal(t, tt.Want, err.Error())
		})
	}
	_, err := Open(filepath.Join(t.TempDir(), "missing.csv"), "missing.csv", "", 0)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestRowErrorsNameTheLine(t *testing.T) {
	path := writeFile(t, "m.csv", "id,body\n1,ok\n2\n3,\"bad\"quote\n4,\xff\xfe\n5,fine\n")
	s, err := Open(path, "m.csv", "", 0)
	require.NoError(t, err)
	defer s.Close()
	rows, errs := extracttest.ReadFields(t, s)
	var ids []any
	for _, r := range rows {
		ids = append(ids, r["id"])
	}
	assert.Equal(t, []any{"1", "5"}, ids)
	assert.Equal(t, []string{
		"m.csv:3: row has 1 fields, the header has 2",
		"m.csv:4: " + ErrQuote.Error(),
		`m.csv:5: column "body" is not valid UTF-8 (0xFF 0xFE): the file looks like Windows-1252; set source.encoding`,
	}, errs)
}

func TestDelimiterDetection(t *testing.T) {
	for _, d := range []string{",", ";", "\t", "|"} {
		t.Run(d, func(t *testing.T) {
			path := writeFile(t, "m.csv", "id"+d+"body"+d+"\"quoted,;|\"\n1"+d+"x"+d+"y\n")
			s, err := Open(path, "m.csv", "", 0)
			require.NoError(t, err)
			defer s.Close()
			rec, err := s.Next(context.Background())
			require.NoError(t, err)
			assert.Equal(t, map[string]any{"id": "1", "body": "x", "quoted,;|": "y"}, rec.Fields)
		})
	}
	_, err := delimiterFor(`""`, nil)
	assert.Error(t, err)
}
