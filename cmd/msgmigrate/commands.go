package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
	"github.com/msgmigrate/msgmigrate/transform"
)

func runCmd(g *globals) *cobra.Command {
	var dryRun bool
	var limit int
	c := &cobra.Command{
		Use:   "run JOB",
		Short: "Run a job: extract, map and load every record not loaded yet",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.pipeline(args[0], "run", pipeline.Options{DryRun: dryRun, Limit: limit})
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "map and check every record; send nothing")
	c.Flags().IntVar(&limit, "limit", 0, "read only the first N records (a trial)")
	return c
}

func retryCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "retry JOB",
		Short: "Resend the items that failed, from the ledger",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.pipeline(args[0], "retry", pipeline.Options{})
		},
	}
}

func (g *globals) pipeline(path, command string, opts pipeline.Options) error {
	j, err := g.loadJob(path)
	if err != nil {
		return err
	}
	log, err := g.logger()
	if err != nil {
		return err
	}
	opts.Log = log
	opts.Progress = g.progressWriter()
	urls := sandboxFor(j)
	defer urls.Close()
	opts.URLs = urls
	hard, drain, stop := signalContexts()
	defer stop()
	var rep *pipeline.Report
	if command == "retry" {
		rep, err = pipeline.Retry(hard, drain, j, opts)
	} else {
		rep, err = pipeline.Run(hard, drain, j, opts)
	}
	if rep != nil {
		printSummary(g.stdout, rep)
	}
	if err != nil {
		return err
	}
	switch {
	case rep.State == "interrupted":
		return &codeError{code: exitInterrupted, err: errors.New("interrupted: run the same command again to finish")}
	case rep.Failed > 0:
		return &codeError{code: exitFailed}
	}
	return nil
}

func printSummary(w io.Writer, r *pipeline.Report) {
	mode := r.Command
	if r.DryRun {
		mode += " (dry run)"
	}
	fmt.Fprintf(w, "%s %s: %s in %.1fs (%.0f records/s)\n", mode, r.Job, r.State, r.DurationSeconds, r.RecordsPerSecond)
	fmt.Fprintf(w, "  read %d · loaded %d · skipped %d · failed %d", r.Read, r.Loaded, r.Skipped, r.Failed)
	if r.Unsent > 0 {
		fmt.Fprintf(w, " · unsent %d", r.Unsent)
	}
	if r.DryRun {
		fmt.Fprintf(w, " · would send %d", r.WouldSend)
	}
	fmt.Fprintln(w)
	if r.Skipped > 0 {
		fmt.Fprintf(w, "  skipped: %d by rule, %d already loaded, %d duplicates, %d changed since loaded\n",
			r.SkippedBy.Rule, r.SkippedBy.AlreadyLoaded, r.SkippedBy.Duplicate, r.SkippedBy.Changed)
	}
	if r.Failed > 0 {
		fmt.Fprintf(w, "  failed: %d read, %d map, %d load\n", r.FailedBy.Read, r.FailedBy.Map, r.FailedBy.Load)
	}
	if r.Requests > 0 {
		fmt.Fprintf(w, "  requests %d · mean batch %.1f · retried %d · throttled %d\n", r.Requests, r.MeanBatchFill, r.Retried, r.Throttled)
	}
	if r.FailuresFile != "" && r.Failed > 0 {
		fmt.Fprintf(w, "  failures: %s\n", r.FailuresFile)
	}
	if r.ReportFile != "" {
		fmt.Fprintf(w, "  report:   %s\n", r.ReportFile)
	}
	if r.LedgerFile != "" {
		fmt.Fprintf(w, "  ledger:   %s\n", r.LedgerFile)
	}
}

func validateCmd(g *globals) *cobra.Command {
	var show int
	c := &cobra.Command{
		Use:   "validate JOB",
		Short: "Compile the mapping and map every record; print what would fail and why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, prog, err := g.compiled(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "mapping %s: ok (sink %s, %d fields)\n", j.MappingFile, prog.Schema.Sink, len(prog.Schema.Fields))
			n, failed, skipped := 0, 0, 0
			err = eachMapped(cmd.Context(), j, prog, func(rec *msg.Record, it *msg.Item, err error) bool {
				n++
				switch {
				case errors.Is(err, transform.ErrSkipped):
					skipped++
				case err != nil:
					failed++
					if failed <= show {
						fmt.Fprintln(g.stdout, "  "+err.Error())
					}
				}
				return true
			})
			if err != nil {
				return err
			}
			if failed > show {
				fmt.Fprintf(g.stdout, "  … and %d more\n", failed-show)
			}
			fmt.Fprintf(g.stdout, "%d records: %d would be sent, %d skipped by rule, %d fail\n", n, n-failed-skipped, skipped, failed)
			if failed > 0 {
				return &codeError{code: exitFailed}
			}
			return nil
		},
	}
	c.Flags().IntVar(&show, "show", 50, "print at most this many failures")
	return c
}

func previewCmd(g *globals) *cobra.Command {
	var n int
	c := &cobra.Command{
		Use:   "preview JOB",
		Short: "Print the first mapped payloads as the sink would send them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, prog, err := g.compiled(args[0])
			if err != nil {
				return err
			}
			shown := 0
			return eachMapped(cmd.Context(), j, prog, func(rec *msg.Record, it *msg.Item, err error) bool {
				switch {
				case errors.Is(err, transform.ErrSkipped):
					fmt.Fprintf(g.stdout, "# %s: skipped by the where rule\n", rec.Origin)
					return true
				case err != nil:
					fmt.Fprintf(g.stdout, "# %s\n", err)
				default:
					route := make([]string, len(it.Route))
					for i, v := range it.Route {
						route[i] = prog.Schema.Route[i] + "=" + v
					}
					// Indented, but byte for byte what the sink sends.
					var b bytes.Buffer
					_ = json.Indent(&b, it.Payload, "", "  ")
					fmt.Fprintf(g.stdout, "# %s → %s (key %s)\n%s\n", it.Origin, strings.Join(route, " "), it.Key, b.Bytes())
				}
				shown++
				return shown < n
			})
		},
	}
	c.Flags().IntVarP(&n, "n", "n", 5, "how many records to show")
	return c
}

// sandboxFor serves url: sandbox for a job: the fakes start on first use,
// expecting the job's own credentials.
func sandboxFor(j *job.Job) *sandbox.Lazy {
	return &sandbox.Lazy{Value: func(kind, key string) string {
		switch kind {
		case j.SinkKind:
			return j.SinkValue(key)
		case j.SourceKind:
			return j.SourceValue(key)
		}
		return ""
	}}
}

// compiled loads a job and compiles its mapping.
func (g *globals) compiled(path string) (*job.Job, *transform.Program, error) {
	j, err := g.loadJob(path)
	if err != nil {
		return nil, nil, err
	}
	prog, err := j.Compile()
	return j, prog, err
}

// eachMapped reads and maps records one by one until fn returns false.
func eachMapped(ctx context.Context, j *job.Job, prog *transform.Program, fn func(*msg.Record, *msg.Item, error) bool) error {
	urls := sandboxFor(j)
	defer urls.Close()
	src, err := pipeline.OpenSource(ctx, j, pipeline.Options{URLs: urls})
	if err != nil {
		return err
	}
	defer src.Close()
	m := prog.NewMapper()
	for {
		rec, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		var me *msg.Error
		if errors.As(err, &me) {
			if !fn(&msg.Record{Origin: me.Origin}, nil, err) {
				return nil
			}
			continue
		}
		if err != nil {
			return err
		}
		it, err := m.Map(rec)
		if !fn(rec, it, err) {
			return nil
		}
	}
}
