package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/extract"
	_ "github.com/msgmigrate/msgmigrate/extract/parquet"
	_ "github.com/msgmigrate/msgmigrate/extract/xlsx"
	"github.com/msgmigrate/msgmigrate/internal/gen"
	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/msg"
)

// BenchmarkReadAndMap measures extraction and mapping alone — no sink — for
// each file format, over the rows the bench command generates.
//
//	go test ./pipeline -run XXX -bench ReadAndMap -benchtime 3x
func BenchmarkReadAndMap(b *testing.B) {
	const rows = 200_000
	dir := b.TempDir()
	spec := gen.Spec{Rows: rows, Routes: 1500, Seed: 42}
	f, err := os.Create(filepath.Join(dir, "m.csv"))
	require.NoError(b, err)
	_, err = gen.Write(f, spec)
	require.NoError(b, err)
	require.NoError(b, f.Close())
	_, err = gen.WriteParquet(filepath.Join(dir, "m.parquet"), spec)
	require.NoError(b, err)
	_, err = gen.WriteXLSX(filepath.Join(dir, "m.xlsx"), spec)
	require.NoError(b, err)
	for _, kind := range []string{"csv", "parquet", "xlsx"} {
		b.Run(kind, func(b *testing.B) {
			jobPath := filepath.Join(dir, kind+".yaml")
			require.NoError(b, os.WriteFile(jobPath, []byte(fmt.Sprintf(
				"source: {kind: %s, path: m.%s}\nmapping: builtin:csv-to-mykaarma\nsink: {kind: jsonl, path: out.jsonl}\n", kind, kind)), 0o644))
			j, err := job.Load(jobPath, nil, func(string) (string, bool) { return "", false })
			require.NoError(b, err)
			prog, err := j.Compile()
			require.NoError(b, err)
			b.ResetTimer()
			for range b.N {
				src, err := extract.Open(context.Background(), j.SourceKind, j.Source, extract.Env{})
				require.NoError(b, err)
				r := &run{job: j, prog: prog, opts: Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
				r.rec = newRecorder(r, &failureWriter{}, func(error) {})
				ds, err := newDryStore("bench")
				require.NoError(b, err)
				r.store = ds
				items := make(chan *msg.Item, 1024)
				n := 0
				done := make(chan struct{})
				go func() {
					for range items {
						n++
					}
					close(done)
				}()
				require.NoError(b, r.readAndMap(context.Background(), context.Background(), src, items))
				<-done
				require.NoError(b, r.rec.close())
				src.Close()
				ds.Close()
				require.Equal(b, rows, n+int(r.c.skipRule.Load()))
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
