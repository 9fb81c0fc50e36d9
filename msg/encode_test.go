package msg

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncodeFieldsRoundTrip(t *testing.T) {
	in := map[string]any{
		"s": "multi\r\nline 👍 \"q\"", "empty": "", "i": int64(-9007199254740993), "f": 1.5, "t": true, "fa": false,
		"time": time.Date(2024, 3, 1, 9, 15, 0, 123456789, time.UTC), "nil": nil,
		"list": []any{"a", float64(1)}, "obj": map[string]any{"k": "v"},
	}
	out, err := DecodeFields(EncodeFields(nil, in))
	require.NoError(t, err)
	assert.Equal(t, in, out)
	_, err = DecodeFields([]byte{3, 1})
	assert.Error(t, err)
}

func FuzzDecodeFields(f *testing.F) {
	f.Add(EncodeFields(nil, map[string]any{"a": "b", "n": int64(3)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeFields(b) // never panics
	})
}
