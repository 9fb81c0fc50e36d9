package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/internal/gen"
	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// BenchmarkRun loads 100k generated rows over 1500 interleaved routes into a
// loopback fake, 8 in flight, batches of 100 — the reference job.
//
//	go test ./pipeline -run XXX -bench Run -benchtime 3x
func BenchmarkRun(b *testing.B) {
	const rows, routes = 100_000, 1500
	dir := b.TempDir()
	f, err := os.Create(filepath.Join(dir, "m.csv"))
	require.NoError(b, err)
	require.NoError(b, gen.WriteCSV(f, gen.Spec{Rows: rows, Routes: routes, Seed: 42}))
	require.NoError(b, f.Close())
	runs := 0
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		b.Run(fmt.Sprintf("latency=%v", latency), func(b *testing.B) {
			fake := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{Username: "u", Password: "p", CountOnly: true,
				Faults: sandbox.Faults{Latency: latency}}})
			defer fake.Close()
			var items, requests int64
			var fill float64
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				runs++ // a fresh ledger each time
				jobPath := filepath.Join(dir, fmt.Sprintf("job-%d.yaml", runs))
				require.NoError(b, os.WriteFile(jobPath, []byte(
					"source: {kind: csv, path: m.csv}\nmapping: builtin:csv-to-mykaarma\n"+
						"sink: {kind: mykaarma, url: sandbox, username: u, password: p, concurrency: 8, batch: {max_items: 100, max_bytes: 4MiB}}\n"), 0o644))
				j, err := job.Load(jobPath, nil, func(string) (string, bool) { return "", false })
				require.NoError(b, err)
				b.StartTimer()
				rep, err := pipeline.Run(context.Background(), context.Background(), j,
					pipeline.Options{URLs: fake, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
				require.NoError(b, err)
				require.Equal(b, int64(rows), rep.Loaded)
				items += rep.Loaded
				requests += rep.Requests
				fill = rep.MeanBatchFill
			}
			b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
			b.ReportMetric(fill, "fill")
		})
	}
}
