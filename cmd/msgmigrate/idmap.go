package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/msgmigrate/msgmigrate/extract/ledgersource"
	"github.com/msgmigrate/msgmigrate/ledger"
)

func idmapCmd(g *globals) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "idmap JOB",
		Short: "Write the cross-reference of what the job loaded: source id, key, target id, loaded at (CSV)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, l, err := g.lookAtLedger(args[0])
			if err != nil {
				return err
			}
			defer l.Close()
			var w io.Writer = g.stdout
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			cw := csv.NewWriter(w)
			cw.Write([]string{"source_id", "key", "target_id", "loaded_at", "origin"})
			n := 0
			err = l.Loaded(func(e ledger.Entry) error {
				kept := map[string]any{}
				if len(e.Kept) > 0 {
					_ = json.Unmarshal(e.Kept, &kept)
				}
				n++
				return cw.Write([]string{fmt.Sprint(ledgersource.SourceID(e.Origin, kept)), e.Key, e.TargetID,
					e.LoadedAt.UTC().Format(time.RFC3339Nano), e.Origin})
			})
			cw.Flush()
			if err == nil {
				err = cw.Error()
			}
			if err == nil && out != "" && out != "-" {
				fmt.Fprintf(g.stderr, "msgmigrate: %d rows written to %s\n", n, out)
			}
			return err
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write to this file (default standard output)")
	return c
}
