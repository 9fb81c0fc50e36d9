package registry

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRegistry(t *testing.T) {
	r := New[int]("source")
	r.Register("csv", 1)
	r.Register("jsonl", 2)
	f, err := r.Get("csv")
	require.NoError(t, err)
	assert.Equal(t, 1, f)
	_, err = r.Get("xml")
	assert.EqualError(t, err, `unknown source kind "xml" (known: csv, jsonl)`)
	assert.PanicsWithValue(t, `source kind "csv" registered twice`, func() { r.Register("csv", 3) })
}
