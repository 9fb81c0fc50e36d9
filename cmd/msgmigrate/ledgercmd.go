package main

import (
	"fmt"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/msgmigrate/msgmigrate/ledger"
)

func ledgerCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "ledger",
		Short: "Look after a job's ledger",
	}
	c.AddCommand(vacuumCmd(g))
	return c
}

func vacuumCmd(g *globals) *cobra.Command {
	var shard string
	c := &cobra.Command{
		Use:   "vacuum JOB",
		Short: "Give back the room the ledger no longer needs (while no run holds it)",
		Long: `Rewrite the job's ledger without the room deleted rows left (a retry replaces rows), empty
its write-ahead log, and merge its key index — every shard's, or one (--shard I/N). It takes the
ledger's lock: it waits for no run, and refuses while one holds the ledger.

Exit codes: 0 done; 1 the ledger cannot be opened (in use, missing, damaged).`,
		Example: "  msgmigrate ledger vacuum job.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := g.loadJob(args[0])
			if err != nil {
				return err
			}
			var shards []ledger.Shard
			switch {
			case shard != "":
				s, err := shardOf(shard, j)
				if err != nil {
					return err
				}
				shards = []ledger.Shard{s}
			case j.Shards > 0:
				for i := range j.Shards {
					shards = append(shards, ledger.Shard{Index: i, Count: j.Shards})
				}
			default:
				shards = []ledger.Shard{{}}
			}
			for _, s := range shards {
				l, err := ledger.Open(j.State, ledger.Options{Shard: s})
				if err != nil {
					return err
				}
				before := sizeOf(l)
				err = l.Vacuum()
				after := sizeOf(l)
				if cerr := l.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%s: %s → %s\n", l.Where(), humanize.IBytes(uint64(before)), humanize.IBytes(uint64(after)))
			}
			return nil
		},
	}
	c.Flags().StringVar(&shard, "shard", "", "vacuum only shard I/N")
	return c
}

func sizeOf(r ledger.Reader) int64 {
	if s, ok := r.(ledger.Sizer); ok {
		n, _ := s.Size()
		return n
	}
	return 0
}
