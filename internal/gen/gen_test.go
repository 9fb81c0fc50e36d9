package gen

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/extract/csv"
	"github.com/msgmigrate/msgmigrate/extract/extracttest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func generate(t *testing.T, spec Spec) ([]byte, PerRoute) {
	t.Helper()
	var b bytes.Buffer
	per, err := Write(&b, spec)
	require.NoError(t, err)
	return b.Bytes(), per
}

// readBack reads a generated file with the product's own CSV reader, which
// keeps every byte of a field (encoding/csv would drop the \r of a CRLF).
func readBack(t *testing.T, data []byte) []map[string]string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.csv")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	src, err := csv.Open(path, "m.csv", "", 0)
	require.NoError(t, err)
	defer src.Close()
	fields, failed := extracttest.ReadFields(t, src)
	require.Empty(t, failed)
	out := make([]map[string]string, len(fields))
	for i, f := range fields {
		out[i] = map[string]string{}
		for k, v := range f {
			out[i][k] = v.(string) // a CSV cell is text; an empty one is absent
		}
	}
	return out
}

// The golden files show what a row looks like; the short one was written by
// the generator before realistic rows existed, so it also proves Short
// still writes those rows byte for byte (figures measured on them compare).
func TestGolden(t *testing.T) {
	for _, tt := range []struct {
		Name string
		Spec Spec
	}{
		{"realistic", Spec{Rows: 40, Routes: 15, Seed: 42}},
		{"short", Spec{Rows: 40, Routes: 15, Seed: 42, Short: true}},
	} {
		t.Run(tt.Name, func(t *testing.T) {
			got, _ := generate(t, tt.Spec)
			golden := filepath.Join("testdata", tt.Name+".golden.csv")
			if *update {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got))
		})
	}
}

func TestSameSeedSameFile(t *testing.T) {
	a, _ := generate(t, Spec{Rows: 2000, Routes: 50, Seed: 7})
	b, _ := generate(t, Spec{Rows: 2000, Routes: 50, Seed: 7})
	c, _ := generate(t, Spec{Rows: 2000, Routes: 50, Seed: 8})
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, c)
}

// Realistic rows are what the issue measured on: ~330 bytes, multi-line with
// LF and CRLF, several scripts, quotes and commas, some HTML and attachments,
// every route interleaved through the file.
func TestRealisticRows(t *testing.T) {
	const rows, routes = 20_000, 1500
	data, per := generate(t, Spec{Rows: rows, Routes: routes, Seed: 42})
	header, _, _ := bytes.Cut(data, []byte("\n"))
	assert.Equal(t, strings.Join(Header, ","), string(header))
	perRow := float64(len(data)-len(header)-1) / rows
	assert.InDelta(t, 330, perRow, 15, "bytes a row as CSV")

	recs := readBack(t, data)
	require.Len(t, recs, rows)
	count := map[string]int{}
	seen := map[string]int{}
	var changes, sum int
	prev := ""
	for i, r := range recs {
		body := r["body_text"]
		require.True(t, utf8.ValidString(body))
		has := func(name string, ok bool) {
			if ok {
				count[name]++
			}
		}
		has("crlf", strings.Contains(body, "\r\n"))
		has("lf", strings.Contains(strings.ReplaceAll(body, "\r\n", ""), "\n"))
		has("quote", strings.Contains(body, `"`) || strings.Contains(r["subject"], `"`))
		has("comma", strings.Contains(body, ","))
		has("accent", strings.ContainsAny(body, "éèüßñ"))
		has("cjk", strings.ContainsFunc(body, func(c rune) bool { return c >= 0x3040 && c <= 0x9fff }))
		has("arabic", strings.ContainsFunc(body, func(c rune) bool { return c >= 0x0600 && c <= 0x06ff }))
		has("emoji", strings.ContainsFunc(body, func(c rune) bool { return c >= 0x1f300 }))
		has("html", r["body_html"] != "")
		has("attachment", r["attachment_url"] != "")
		has("no body", body == "" && r["body_html"] == "")
		route := r["department_uuid"] + "/" + r["customer_uuid"]
		seen[route]++
		if route != prev {
			changes++
		}
		prev = route
		assert.Equal(t, i+1, mustAtoi(t, r["id"]))
	}
	for _, name := range []string{"crlf", "lf", "quote", "comma", "accent", "cjk", "arabic", "emoji"} {
		assert.Greater(t, count[name], rows/50, "rows with %s", name)
	}
	assert.InDelta(t, rows*9/20/6, count["html"], rows/100, "HTML bodies: a sixth of the emails")
	assert.Positive(t, count["attachment"])
	assert.Less(t, count["attachment"], rows/10)
	assert.Zero(t, count["no body"], "every row has a body the mapping can send")

	assert.Len(t, seen, routes, "every route used")
	assert.Greater(t, changes, rows*99/100, "routes interleave: consecutive rows rarely share one")
	for i, n := range per {
		d, c := Route(42, i)
		assert.Equal(t, seen[d+"/"+c], n, "route %d", i)
		sum += n
	}
	assert.Equal(t, rows, sum)
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		require.True(t, c >= '0' && c <= '9', s)
		n = n*10 + int(c-'0')
	}
	return n
}

func TestMinRequests(t *testing.T) {
	for _, tt := range []struct {
		Name  string
		Per   PerRoute
		Batch int
		Want  int
	}{
		{"Empty", nil, 100, 0},
		{"Exact", PerRoute{100, 200}, 100, 3},
		{"Remainders", PerRoute{1, 101, 99}, 100, 4},
		{"RouteWithNoRows", PerRoute{0, 5}, 100, 1},
	} {
		t.Run(tt.Name, func(t *testing.T) {
			assert.Equal(t, tt.Want, tt.Per.MinRequests(tt.Batch))
		})
	}
}
