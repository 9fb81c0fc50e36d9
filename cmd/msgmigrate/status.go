package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/msgmigrate/msgmigrate/extract/ledgersource"
	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/ledger"
)

// readers opens every shard's ledger of a job: it works while runs hold
// them.
func (g *globals) readers(path string) (*job.Job, []ledger.Reader, error) {
	j, err := g.loadJobToRead(path)
	if err != nil {
		return nil, nil, err
	}
	rs, err := ledger.Readers(j.State)
	return j, rs, err
}

func closeAll(rs []ledger.Reader) {
	for _, r := range rs {
		r.Close()
	}
}

// shardStatus is what status says of one shard's ledger.
type shardStatus struct {
	Ledger         string           `json:"ledger"`
	Loaded         int64            `json:"loaded"`
	SizeBytes      int64            `json:"size_bytes,omitempty"`
	Failed         int64            `json:"failed"`
	RecordFailures map[string]int64 `json:"record_failures,omitempty"`
	Watermark      string           `json:"watermark,omitempty"`
	Runs           []runStatus      `json:"runs"`
	By             []ledger.Group   `json:"by,omitempty"`
}

type runStatus struct {
	ID         int64           `json:"id"`
	Command    string          `json:"command"`
	State      string          `json:"state"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	LastOrigin string          `json:"last_origin,omitempty"`
	Counts     json.RawMessage `json:"counts,omitempty"`
}

func statusOf(r ledger.Reader, by string, runs int) (shardStatus, error) {
	s := shardStatus{Ledger: r.Where()}
	c, err := r.Counts()
	if err != nil {
		return s, err
	}
	s.Loaded, s.Failed = c.Loaded, c.Failed
	s.SizeBytes = sizeOf(r)
	if len(c.RecordFailures) > 0 {
		s.RecordFailures = c.RecordFailures
	}
	if s.Watermark, err = r.Meta("watermark"); err != nil {
		return s, err
	}
	rs, err := r.Runs(runs)
	if err != nil {
		return s, err
	}
	for _, run := range rs {
		rs := runStatus{ID: run.ID, Command: run.Command, State: run.State, StartedAt: run.StartedAt, LastOrigin: run.LastOrigin}
		if !run.FinishedAt.IsZero() {
			rs.FinishedAt = &run.FinishedAt
		}
		if json.Valid([]byte(run.Counts)) && run.Counts != "{}" && run.Counts != "null" {
			rs.Counts = json.RawMessage(run.Counts)
		}
		s.Runs = append(s.Runs, rs)
	}
	if by != "" {
		if s.By, err = r.Breakdown(by); err != nil {
			return s, err
		}
	}
	return s, nil
}

func statusCmd(g *globals) *cobra.Command {
	var by string
	var asJSON bool
	var runs int
	c := &cobra.Command{
		Use:   "status JOB",
		Short: "Print the ledger's counts, its watermark and the last runs — every shard's, and the totals",
		Long: `Print what the job's ledger holds: items loaded and failed, the records that failed before
they had a key (read or map), the watermark of an incremental job, and the last runs with their
counts. A sharded job shows every shard, then the totals. Safe while a run is going.

Exit codes: 0 printed; 1 the job or its ledger cannot be read.`,
		Example: `  msgmigrate status job.yaml
  msgmigrate status job.yaml --by code      # failures by the vendor's error code
  msgmigrate status job.yaml --by route     # loaded and failed by route
  msgmigrate status job.yaml --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if by != "" && by != "code" && by != "route" {
				return fmt.Errorf("--by %q: want code or route", by)
			}
			_, rs, err := g.readers(args[0])
			if err != nil {
				return err
			}
			defer closeAll(rs)
			var all []shardStatus
			for _, r := range rs {
				s, err := statusOf(r, by, runs)
				if err != nil {
					return fmt.Errorf("%s: %w", r.Where(), err)
				}
				all = append(all, s)
			}
			if asJSON {
				var total shardStatus
				for _, s := range all {
					total.Loaded += s.Loaded
					total.Failed += s.Failed
				}
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"shards": all, "loaded": total.Loaded, "failed": total.Failed})
			}
			printStatus(g.stdout, all, by)
			return nil
		},
	}
	c.Flags().StringVar(&by, "by", "", "break items down by code (failures) or route")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().IntVar(&runs, "runs", 5, "how many of the last runs to show")
	return c
}

func printStatus(w io.Writer, all []shardStatus, by string) {
	var loaded, failed int64
	rf := map[string]int64{}
	for _, s := range all {
		loaded += s.Loaded
		failed += s.Failed
		for k, v := range s.RecordFailures {
			rf[k] += v
		}
		fmt.Fprintf(w, "ledger %s", s.Ledger)
		if s.SizeBytes > 0 {
			fmt.Fprintf(w, " (%s on disk", humanize.IBytes(uint64(s.SizeBytes)))
			if n := s.Loaded + s.Failed; n > 0 {
				fmt.Fprintf(w, ", %d bytes an item", s.SizeBytes/n)
			}
			fmt.Fprint(w, "; msgmigrate ledger vacuum gives back what is free)")
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  loaded %d · failed %d", s.Loaded, s.Failed)
		if len(s.RecordFailures) > 0 {
			fmt.Fprintf(w, " · records that failed before loading: %d read, %d map", s.RecordFailures["read"], s.RecordFailures["map"])
		}
		fmt.Fprintln(w)
		if s.Watermark != "" {
			fmt.Fprintf(w, "  watermark %s (the next incremental run reads from it, minus the lookback)\n", s.Watermark)
		}
		for i, r := range s.Runs {
			if i == 0 {
				fmt.Fprintln(w, "  runs, newest first:")
			}
			fmt.Fprintf(w, "    #%d %s %s, started %s", r.ID, r.Command, r.State, r.StartedAt.Local().Format(time.DateTime))
			if r.FinishedAt != nil {
				fmt.Fprintf(w, ", took %s", r.FinishedAt.Sub(r.StartedAt).Round(100*time.Millisecond))
			}
			fmt.Fprintln(w)
			if line := runCounts(r.Counts); line != "" {
				fmt.Fprintf(w, "       %s\n", line)
			}
			switch {
			case r.LastOrigin == "":
			case r.State == "completed":
				fmt.Fprintf(w, "       read up to %s\n", r.LastOrigin)
			default:
				fmt.Fprintf(w, "       stopped at %s (the next run goes on from the ledger)\n", r.LastOrigin)
			}
		}
		if by != "" {
			printBreakdown(w, s.By, by)
		}
	}
	if len(all) > 1 {
		fmt.Fprintf(w, "total (%d shards): loaded %d · failed %d", len(all), loaded, failed)
		if len(rf) > 0 {
			fmt.Fprintf(w, " · records that failed before loading: %d read, %d map", rf["read"], rf["map"])
		}
		fmt.Fprintln(w)
	}
}

func runCounts(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var c struct {
		Read, Loaded, Skipped, Failed, Unsent int64
		OtherShards                           int64  `json:"other_shards"`
		StoppedBy                             string `json:"stopped_by"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return ""
	}
	s := fmt.Sprintf("read %d · loaded %d · skipped %d · failed %d", c.Read, c.Loaded, c.Skipped, c.Failed)
	if c.Unsent > 0 {
		s += fmt.Sprintf(" · unsent %d", c.Unsent)
	}
	if c.OtherShards > 0 {
		s += fmt.Sprintf(" · %d for other shards", c.OtherShards)
	}
	if c.StoppedBy != "" {
		s += " — stopped: " + c.StoppedBy
	}
	return s
}

func printBreakdown(w io.Writer, groups []ledger.Group, by string) {
	if len(groups) == 0 {
		fmt.Fprintf(w, "  by %s: nothing\n", by)
		return
	}
	const shown = 50
	if by == "code" {
		fmt.Fprintf(w, "  failures by code:\n")
		for i, g := range groups {
			if i == shown {
				fmt.Fprintf(w, "    … %d more codes (--json lists them all)\n", len(groups)-shown)
				break
			}
			name := g.Name
			if name == "" {
				name = "(none)"
			}
			fmt.Fprintf(w, "    %-32s %d\n", name, g.Failed)
		}
		return
	}
	fmt.Fprintf(w, "  by route (failed first):\n    %-76s %9s %9s\n", "route", "loaded", "failed")
	for i, g := range groups {
		if i == shown {
			fmt.Fprintf(w, "    … %d more routes (--json lists them all)\n", len(groups)-shown)
			break
		}
		fmt.Fprintf(w, "    %-76s %9d %9d\n", g.Name, g.Loaded, g.Failed)
	}
}

func idmapCmd(g *globals) *cobra.Command {
	var out, sourceID string
	c := &cobra.Command{
		Use:   "idmap JOB",
		Short: "Write the cross-reference of what the job loaded: source id, key, target id, loaded at, origin (CSV)",
		Long: `Write one CSV line per loaded item, every shard's: the record's id in the source, the
item's key, the id the target gave it, when it was recorded, and where the record was.

The source id is the kept field --source-id names; else the column the mapping's key is made of
(kept automatically); else the kept "id"; else the id of an API record; else its origin.

Exit codes: 0 written; 1 the job or its ledger cannot be read.`,
		Example: `  msgmigrate idmap job.yaml -o idmap.csv
  msgmigrate idmap job.yaml --source-id message_id`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, rs, err := g.readers(args[0])
			if err != nil {
				return err
			}
			defer closeAll(rs)
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
			for _, r := range rs {
				err := r.Loaded(func(e ledger.Entry) error {
					kept := map[string]any{}
					if len(e.Kept) > 0 {
						_ = json.Unmarshal(e.Kept, &kept)
					}
					id := ledgersource.SourceID(e.Origin, kept)
					if v, ok := kept[sourceID]; ok && sourceID != "" {
						id = v
					} else if v, ok := kept[ledgersource.KeyColumnsField]; ok {
						id = v
					}
					n++
					return cw.Write([]string{strings.TrimSpace(fmt.Sprint(id)), e.Key, e.TargetID, e.At.UTC().Format(time.RFC3339Nano), e.Origin.String()})
				})
				if err != nil {
					return err
				}
			}
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
			if out != "" && out != "-" {
				fmt.Fprintf(g.stderr, "msgmigrate: %d rows written to %s\n", n, out)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write to this file (default standard output)")
	c.Flags().StringVar(&sourceID, "source-id", "", "the kept field that holds the record's id in the source")
	return c
}
