package pipeline_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/internal/gen"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// The same messages as CSV, XLSX and Parquet arrive at the target once
// each, with the same payloads.
func TestEveryFormatArrivesTheSame(t *testing.T) {
	spec := gen.Spec{Rows: 3000, Routes: 30, Seed: 11}
	stored := map[string]map[string]string{}
	for _, kind := range []string{"csv", "xlsx", "parquet"} {
		h := newHarness(t, "", sandbox.Faults{}, "")
		path := filepath.Join(h.dir, "m."+kind)
		var err error
		switch kind {
		case "csv":
			f, ferr := os.Create(path)
			require.NoError(t, ferr)
			_, err = gen.Write(f, spec)
			require.NoError(t, f.Close())
		case "xlsx":
			_, err = gen.WriteXLSX(path, spec)
		case "parquet":
			_, err = gen.WriteParquet(path, spec)
		}
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(h.job, []byte(fmt.Sprintf(`source: {kind: %s, path: m.%s}
mapping: builtin:csv-to-mykaarma
sink: {kind: mykaarma, url: sandbox, username: u, password: p}
`, kind, kind)), 0o644))
		rep := h.run()
		assert.Equal(t, int64(3000), rep.Read, kind)
		assert.Equal(t, int64(3000), rep.Loaded, kind)
		stored[kind] = map[string]string{}
		for _, st := range h.fake.MyKaarma.All() {
			assert.Equal(t, 1, st.Times, kind)
			stored[kind][st.SourceUUID] = string(st.Payload)
		}
	}
	assert.Equal(t, stored["csv"], stored["xlsx"])
	assert.Equal(t, stored["csv"], stored["parquet"])
}
