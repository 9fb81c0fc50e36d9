package suggest

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClosest(t *testing.T) {
	kinds := []string{"csv", "jsonl", "xlsx", "parquet", "gorgias", "superoffice"}
	cases := map[string]string{"cvs": "csv", "CSV": "csv", "parquett": "parquet", "gorgais": "gorgias", "xml": "", "superofice": "superoffice"}
	for in, want := range cases {
		assert.Equal(t, want, Closest(in, kinds), in)
	}
	assert.Equal(t, 3, Distance("kitten", "sitting"))
	assert.Equal(t, 1, Distance("é", "e"), "runes, not bytes")
}
