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

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
	"github.com/msgmigrate/msgmigrate/transform"
)

func validateCmd(g *globals) *cobra.Command {
	var show int
	c := &cobra.Command{
		Use:   "validate JOB",
		Short: "Check the job: compile the mapping, check the sink section and the source's columns, map every record; print what would fail and why",
		Long: `Check everything a run would, without sending anything: the job file, the sink section
(rate, batch, credentials present — not whether the vendor accepts them: see check), the mapping
against the sink's schema and against the source's columns (a typo in row.X is an error, with a
did-you-mean), then map every record and print what would fail and why.

Exit codes: 0 every record would be sent or skipped by rule; 2 some records would fail; 1 the job,
the mapping or the source cannot be used.`,
		Example: `  msgmigrate validate job.yaml
  msgmigrate validate job.yaml --show 200`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, prog, err := g.compiled(args[0])
			if err != nil {
				return err
			}
			if err := checkSink(cmd.Context(), j, prog); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "mapping %s: ok (sink %s, %d fields)\n", j.MappingFile, prog.Schema.Sink, len(prog.Fields()))
			urls := sandboxFor(j)
			defer urls.Close()
			src, err := pipeline.OpenSource(cmd.Context(), j, pipeline.Options{URLs: urls})
			if err != nil {
				return err
			}
			defer src.Close()
			if c, ok := src.(extract.Columns); ok && c.Columns() != nil {
				errs, unread := prog.CheckColumns(c.Columns())
				if len(errs) > 0 {
					return errors.Join(errs...)
				}
				fmt.Fprintf(g.stdout, "columns: ok (every row.X the mapping reads is one of the source's %d columns)\n", len(c.Columns()))
				if h := transform.UnreadHint(unread); h != "" {
					fmt.Fprintln(g.stdout, h)
				}
			}
			n, failed, skipped := 0, 0, 0
			err = eachMapped(cmd.Context(), src, prog, func(rec *msg.Record, it *msg.Item, err error) bool {
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
			if h, ok := src.(extract.Hints); ok {
				for _, line := range h.Hints() {
					fmt.Fprintln(g.stdout, line)
				}
			}
			if failed > 0 {
				return &codeError{code: exitFailed}
			}
			return nil
		},
	}
	c.Flags().IntVar(&show, "show", 50, "print at most this many failures")
	return c
}

// checkSink opens the job's sink as a run would — its section decoded,
// checked and its client built — without sending anything.
func checkSink(ctx context.Context, j *job.Job, prog *transform.Program) error {
	s, err := load.Open(ctx, j.SinkKind, j.Sink, load.Env{Schema: prog.Schema, ResolveURL: func(raw string) (string, error) {
		if raw == sandbox.URL {
			return "http://sandbox.invalid", nil // not contacted
		}
		return raw, nil
	}})
	if err != nil {
		return err
	}
	return s.Close()
}

func previewCmd(g *globals) *cobra.Command {
	var n int
	c := &cobra.Command{
		Use:   "preview JOB",
		Short: "Print the first mapped payloads as the sink would send them",
		Long: `Print the first records' payloads, indented but otherwise byte for byte as the sink sends them,
with their route and key; records skipped by the where rule or failing to map say so.

Exit codes: 0 printed; 1 the job, the mapping or the source cannot be used.`,
		Example: `  msgmigrate preview job.yaml -n 3`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, prog, err := g.compiled(args[0])
			if err != nil {
				return err
			}
			shown := 0
			urls := sandboxFor(j)
			defer urls.Close()
			src, err := pipeline.OpenSource(cmd.Context(), j, pipeline.Options{URLs: urls})
			if err != nil {
				return err
			}
			defer src.Close()
			return eachMapped(cmd.Context(), src, prog, func(rec *msg.Record, it *msg.Item, err error) bool {
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
// expecting the examples' default credentials.
func sandboxFor(*job.Job) *sandbox.Lazy { return &sandbox.Lazy{} }

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
func eachMapped(ctx context.Context, src extract.Source, prog *transform.Program, fn func(*msg.Record, *msg.Item, error) bool) error {
	m := prog.NewMapper()
	for {
		rec, err := src.Next(ctx)
		var me *msg.Error
		if errors.Is(err, io.EOF) && !errors.As(err, &me) {
			return nil
		}
		if errors.As(err, &me) {
			if !fn(&msg.Record{Origin: me.Origin}, nil, err) {
				return nil
			}
			continue
		}
		var skip *msg.Skip
		if errors.As(err, &skip) {
			// Left out by the source (a deleted message): as good as
			// skipped by a rule.
			if !fn(&msg.Record{Origin: skip.Origin}, nil, fmt.Errorf("%w by the source: %s", transform.ErrSkipped, skip.Reason)) {
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
