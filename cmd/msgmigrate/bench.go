package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/msgmigrate/msgmigrate/internal/gen"
	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

func writeCSV(path string, spec gen.Spec) (gen.PerRoute, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	per, err := gen.Write(f, spec)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return per, err
}

func benchCmd(g *globals) *cobra.Command {
	var spec gen.Spec
	var faults sandbox.Faults
	var concurrency, batch int
	var input, dir, cpuProfile, memProfile, format string
	var genOnly bool
	c := &cobra.Command{
		Use:     "bench",
		Example: "  msgmigrate bench --rows 100000 --routes 1500",
		Short:   "Generate N rows and load them into the in-process sandbox; print items/s, requests, batch fill and peak memory",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				d, err := os.MkdirTemp("", "msgmigrate-bench-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				dir = d
			} else if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			var per gen.PerRoute
			if input == "" {
				input = filepath.Join(dir, "messages."+format)
				t0 := time.Now()
				var err error
				switch format {
				case "csv":
					per, err = writeCSV(input, spec)
				case "parquet":
					per, err = gen.WriteParquet(input, spec)
				case "xlsx":
					per, err = gen.WriteXLSX(input, spec)
				default:
					err = fmt.Errorf("--format %q: want csv, parquet or xlsx", format)
				}
				if err != nil {
					return err
				}
				st, _ := os.Stat(input)
				fmt.Fprintf(g.stdout, "generated %s: %d rows, %d routes, %.1f MB in %.1fs\n", input, spec.Rows, spec.Routes, float64(st.Size())/1e6, time.Since(t0).Seconds())
				if genOnly {
					return nil
				}
			}
			kind := strings.TrimPrefix(filepath.Ext(input), ".")
			abs, err := filepath.Abs(input)
			if err != nil {
				return err
			}
			jobFile := filepath.Join(dir, "bench.yaml")
			jobText := fmt.Sprintf(`source: {kind: %s, path: %q}
mapping: builtin:csv-to-mykaarma
sink:
  kind: mykaarma
  url: sandbox
  username: bench
  password: bench
  batch: {max_items: %d, max_bytes: 4MiB}
  concurrency: %d
state: %q
`, kind, abs, batch, concurrency, filepath.Join(dir, "bench.db"))
			if err := os.WriteFile(jobFile, []byte(jobText), 0o644); err != nil {
				return err
			}
			j, err := job.Load(jobFile, g.sets, os.LookupEnv)
			if err != nil {
				return err
			}
			os.Remove(j.State)
			srv := sandbox.Start(sandbox.Config{MyKaarma: sandbox.MyKaarmaConfig{
				Username: "bench", Password: "bench", CountOnly: true, MaxBodyBytes: 8 << 20, Faults: faults}})
			defer srv.Close()
			log, err := g.logger()
			if err != nil {
				return err
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				pprof.StartCPUProfile(f)
				defer pprof.StopCPUProfile()
			}
			if memProfile != "" {
				defer func() {
					f, err := os.Create(memProfile)
					if err == nil {
						pprof.Lookup("heap").WriteTo(f, 0)
						f.Close()
					}
				}()
			}
			rep, err := pipeline.Run(context.Background(), context.Background(), j, pipeline.Options{Log: log, URLs: srv, LogEvery: time.Hour, Progress: g.progressWriter()})
			if err != nil {
				return err
			}
			ceiling := float64(concurrency*batch) / faults.Latency.Seconds()
			fmt.Fprintf(g.stdout, "rows %d · loaded %d · failed %d · %.1fs\n", rep.Read, rep.Loaded, rep.Failed, rep.DurationSeconds)
			fmt.Fprintf(g.stdout, "items/s %.0f · requests %d · mean batch fill %.1f · peak RSS %.0f MB\n",
				rep.RecordsPerSecond, rep.Requests, rep.MeanBatchFill, float64(rep.PeakRSSBytes)/(1<<20))
			if per != nil {
				fmt.Fprintf(g.stdout, "fewest requests the routes allow: %d\n", per.MinRequests(batch))
			}
			if faults.Latency > 0 {
				fmt.Fprintf(g.stdout, "ceiling at %v: in-flight × full batches / latency = %.0f items/s (%.0f%% reached)\n",
					faults.Latency, ceiling, 100*rep.RecordsPerSecond/ceiling)
				if per != nil {
					// With one route per request, no schedule beats sending the
					// fewest requests back to back, 8 at a time.
					bound := float64(spec.Rows) / (float64(per.MinRequests(batch)) / float64(concurrency) * faults.Latency.Seconds())
					fmt.Fprintf(g.stdout, "bound the routes allow: %.0f items/s (%.0f%% reached)\n", min(bound, ceiling), 100*rep.RecordsPerSecond/min(bound, ceiling))
				}
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.IntVar(&spec.Rows, "rows", 100_000, "rows to generate")
	fl.IntVar(&spec.Routes, "routes", 1500, "distinct (department, customer) routes, interleaved")
	fl.Uint64Var(&spec.Seed, "gen-seed", 42, "seed of the generated data")
	fl.IntVar(&concurrency, "concurrency", 8, "requests in flight")
	fl.IntVar(&batch, "batch", 100, "items per request")
	fl.StringVar(&input, "input", "", "use this CSV instead of generating one")
	fl.StringVar(&dir, "dir", "", "work directory (default: a temporary one, removed after)")
	fl.StringVar(&format, "format", "csv", "what to generate: csv, parquet (one row group) or xlsx")
	fl.BoolVar(&genOnly, "gen-only", false, "generate the input into --dir and stop (measure the load in a second run with --input)")
	fl.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the load")
	fl.StringVar(&memProfile, "memprofile", "", "write a heap profile after the load")
	faultFlags(c, &faults)
	c.Flags().Lookup("retry-after").DefValue = "1s"
	return c
}
