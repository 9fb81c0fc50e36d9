package jsonl

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/extract/extracttest"
)

func TestConformance(t *testing.T) {
	content := "\xEF\xBB\xBF{\"id\": 9007199254740993, \"body\": \"hi\\nthere\", \"n\": 1.5, \"gone\": null, \"sender\": {\"email\": \"a@b.c\"}}\n" +
		"\n" +
		"{not json}\n" +
		"[1,2]\n" +
		"{\"id\": 2, \"tags\": [\"a\", \"b\"]}\n" +
		"{\"id\": 3} {\"id\": 4}\n"
	path := filepath.Join(t.TempDir(), "m.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	extracttest.Run(t, extracttest.Fixture{
		Open: func(t *testing.T) extract.Source {
			s, err := Open(path, "m.jsonl")
			require.NoError(t, err)
			return s
		},
		Records: []map[string]any{
			{"id": int64(9007199254740993), "body": "hi\nthere", "n": 1.5, "sender": map[string]any{"email": "a@b.c"}},
			{"id": int64(2), "tags": []any{"a", "b"}},
		},
		Bad: []string{"m.jsonl:3", "m.jsonl:4", "m.jsonl:6"},
	})
}

func TestDecodeErrors(t *testing.T) {
	_, err := Decode([]byte(`"text"`))
	assert.EqualError(t, err, "a line must be a JSON object, not a string")
}
