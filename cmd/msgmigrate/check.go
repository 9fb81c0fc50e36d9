package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/msgmigrate/msgmigrate/extract"
	"github.com/msgmigrate/msgmigrate/load"
	"github.com/msgmigrate/msgmigrate/msg"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/transport"
)

func checkCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "check JOB",
		Short: "Preflight: reach the source and the sink with the job's credentials, without writing anything",
		Long: `Preflight, in seconds: compile the mapping, open the source and read its first record (a
vendor API: its first page), check the mapping's columns, and probe the sink with a request that
writes nothing (myKaarma: an empty batch; a vendor's update endpoint: a harmless read) — so a wrong
password, a wrong URL, DNS, a refused connection or TLS shows up before a run, not after 1 500 requests.

Exit codes: 0 every check passed; 1 one failed (the line says which and why).`,
		Example: `  msgmigrate check job.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, prog, err := g.compiled(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "mapping %s: ok (%d fields for %s)\n", j.MappingFile, len(prog.Fields()), prog.Schema.Sink)
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			urls := sandboxFor(j)
			defer urls.Close()

			started := time.Now()
			src, err := pipeline.OpenSource(ctx, j, pipeline.Options{URLs: urls})
			if err != nil {
				return fmt.Errorf("source %s: %w", j.SourceKind, err)
			}
			defer src.Close()
			if err := pipeline.CheckColumns(src, prog, nil); err != nil {
				return err
			}
			rec, err := src.Next(ctx)
			var me *msg.Error
			var skip *msg.Skip
			switch {
			case errors.Is(err, io.EOF):
				fmt.Fprintf(g.stdout, "source %s: ok, but it has no records (%.1fs)\n", j.SourceKind, time.Since(started).Seconds())
			case errors.As(err, &me):
				fmt.Fprintf(g.stdout, "source %s: ok (reachable); its first record fails: %v\n", j.SourceKind, me)
			case errors.As(err, &skip):
				fmt.Fprintf(g.stdout, "source %s: ok (its first record is left out: %s)\n", j.SourceKind, skip.Reason)
			case err != nil:
				return prefixed("source "+j.SourceKind, explain(err, j))
			default:
				fmt.Fprintf(g.stdout, "source %s: ok (read %s in %.1fs)\n", j.SourceKind, rec.Origin, time.Since(started).Seconds())
			}
			if c, ok := src.(extract.Columns); ok && c.Columns() != nil {
				fmt.Fprintf(g.stdout, "columns: ok (%d)\n", len(c.Columns()))
			}

			sink, err := load.Open(ctx, j.SinkKind, j.Sink, load.Env{Schema: prog.Schema, ResolveURL: func(raw string) (string, error) { return urls.Resolve(j.SinkKind, raw) }})
			if err != nil {
				return fmt.Errorf("sink %s: %w", j.SinkKind, err)
			}
			defer sink.Close()
			p, ok := sink.(load.Prober)
			if !ok {
				fmt.Fprintf(g.stdout, "sink %s: ok (nothing to reach)\n", j.SinkKind)
				return nil
			}
			started = time.Now()
			what, err := p.Probe(ctx)
			if err != nil {
				return prefixed("sink "+j.SinkKind, explain(err, j))
			}
			fmt.Fprintf(g.stdout, "sink %s: ok — %s (%.1fs)\n", j.SinkKind, what, time.Since(started).Seconds())
			return nil
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	return c
}

// prefixed names the connector in err, unless err already does.
func prefixed(who string, err error) error {
	var fe *transport.FatalError
	if errors.As(err, &fe) {
		return err
	}
	return fmt.Errorf("%s: %w", who, err)
}
