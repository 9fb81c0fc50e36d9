package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/metrics"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/transport"
)

// runFlags are what run and retry share.
type runFlags struct {
	shard       string
	parallelism int
	newLedger   bool
}

func (f *runFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.shard, "shard", "", "run shard I of N (I/N), or auto/N: I from JOB_COMPLETION_INDEX (Kubernetes) or CLOUD_RUN_TASK_INDEX")
	c.Flags().IntVar(&f.parallelism, "parallelism", 0, "processes of this job running at once: each takes 1/P of the rate (default MSGMIGRATE_PARALLELISM, else 1)")
	c.Flags().BoolVar(&f.newLedger, "new-ledger", false, "start over on purpose: set a damaged or lost ledger aside (everything is sent again)")
}

const exitCodesHelp = `
Exit codes: 0 every record loaded or skipped by rule; 2 finished, with failed records (see the
failures file, then retry); 3 interrupted or stopped by an outage, resumable (run the same command
again); 1 configuration or fatal error (nothing more was sent).`

func runCmd(g *globals) *cobra.Command {
	var dryRun, resendChanged bool
	var limit int
	var f runFlags
	c := &cobra.Command{
		Use:   "run JOB",
		Short: "Run a job: extract, map and load every record not loaded yet",
		Long: `Run a job: read every record, map it, and send what the ledger does not hold as loaded.
A rerun sends only what is new or failed; a record changed since it was loaded is counted, not
resent (--resend-changed resends it to a sink that updates by key).` + exitCodesHelp,
		Example: `  msgmigrate run job.yaml
  msgmigrate run job.yaml --dry-run              # map and check everything, send nothing
  msgmigrate run job.yaml --limit 100            # a trial on the first 100 records
  msgmigrate run job.yaml --shard auto/8 --parallelism 4   # one pod of an Indexed Job`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.pipeline(args[0], "run", pipeline.Options{DryRun: dryRun, Limit: limit, ResendChanged: resendChanged, NewLedger: f.newLedger}, f)
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "map and check every record; send nothing")
	c.Flags().IntVar(&limit, "limit", 0, "read only the first N records (a trial)")
	c.Flags().BoolVar(&resendChanged, "resend-changed", false, "send again records changed since they were loaded (sinks that update by key)")
	f.add(c)
	return c
}

func retryCmd(g *globals) *cobra.Command {
	var codes []string
	var f runFlags
	c := &cobra.Command{
		Use:   "retry JOB",
		Short: "Resend the items that failed, from the ledger (the source is not read again)",
		Long: `Resend the items the ledger holds as failed, from the payloads it kept. Records that could
not be read or mapped have no payload: they stay failed (and in the failures file) until a run
reads them correctly.` + exitCodesHelp,
		Example: `  msgmigrate retry job.yaml
  msgmigrate retry job.yaml --code RETRIES_EXHAUSTED --code UNKNOWN_OUTCOME`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.pipeline(args[0], "retry", pipeline.Options{Codes: codes, NewLedger: f.newLedger}, f)
		},
	}
	c.Flags().StringArrayVar(&codes, "code", nil, "resend only the failures with this code (repeatable; status --by code lists them)")
	f.add(c)
	return c
}

// shardOf reads --shard (or the job's shard: count) into a shard.
func shardOf(flag string, j *job.Job) (ledger.Shard, error) {
	if flag == "" {
		if j.Shards == 0 {
			return ledger.Shard{}, nil
		}
		flag = "auto/" + strconv.Itoa(j.Shards)
	}
	is, ns, ok := strings.Cut(flag, "/")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil || n < 1 {
		return ledger.Shard{}, fmt.Errorf("--shard %q: want I/N (e.g. 3/8) or auto/N", flag)
	}
	if j.Shards != 0 && j.Shards != n {
		return ledger.Shard{}, fmt.Errorf("--shard %q: the job file says shard.count %d", flag, j.Shards)
	}
	if is == "auto" {
		var from string
		for _, name := range []string{"JOB_COMPLETION_INDEX", "CLOUD_RUN_TASK_INDEX"} {
			if v, ok := os.LookupEnv(name); ok {
				is, from = v, name
				break
			}
		}
		if from == "" {
			return ledger.Shard{}, fmt.Errorf("--shard auto/%d: neither JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) nor CLOUD_RUN_TASK_INDEX (Cloud Run) is set: give the index, e.g. --shard 0/%d", n, n)
		}
		i, err := strconv.Atoi(is)
		if err != nil || i < 0 || i >= n {
			return ledger.Shard{}, fmt.Errorf("--shard auto/%d: %s=%q is not an index from 0 to %d", n, from, is, n-1)
		}
		return ledger.Shard{Index: i, Count: n}, nil
	}
	i, err := strconv.Atoi(is)
	if err != nil || i < 0 || i >= n {
		return ledger.Shard{}, fmt.Errorf("--shard %q: the index must be from 0 to %d", flag, n-1)
	}
	return ledger.Shard{Index: i, Count: n}, nil
}

func parallelismOf(flag int) (int, error) {
	if flag > 0 {
		return flag, nil
	}
	if v, ok := os.LookupEnv("MSGMIGRATE_PARALLELISM"); ok && v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 {
			return 0, fmt.Errorf("MSGMIGRATE_PARALLELISM=%q: want a number of processes, 1 or more", v)
		}
		return p, nil
	}
	return 1, nil
}

func (g *globals) pipeline(path, command string, opts pipeline.Options, f runFlags) error {
	j, err := g.loadJob(path)
	if err != nil {
		return err
	}
	log, err := g.logger()
	if err != nil {
		return err
	}
	if opts.Shard, err = shardOf(f.shard, j); err != nil {
		return err
	}
	opts.ShardByFile = j.ShardBy == "file"
	p, err := parallelismOf(f.parallelism)
	if err != nil {
		return err
	}
	opts.RateShare = 1 / float64(p)
	opts.Log = log
	opts.Progress = g.progressWriter()
	urls := sandboxFor(j)
	defer urls.Close()
	opts.URLs = urls

	mcfg, err := metrics.Decode(j.Metrics)
	if err != nil {
		return err
	}
	labels := metrics.Labels{Job: j.Name}
	if opts.Shard.Count > 0 {
		labels.Shard, labels.Shards = strconv.Itoa(opts.Shard.Index), strconv.Itoa(opts.Shard.Count)
	}
	m, err := metrics.New(mcfg, labels, log)
	if err != nil {
		return err
	}
	if !opts.DryRun {
		opts.Metrics = m
	} else {
		m = nil
	}
	if err := m.Start(context.Background()); err != nil {
		m.Finish(context.Background(), metrics.Failed)
		return err
	}

	hard, drain, stop := signalContexts(g.errWriter())
	defer stop()
	var rep *pipeline.Report
	if command == "retry" {
		rep, err = pipeline.Retry(hard, drain, j, opts)
	} else {
		rep, err = pipeline.Run(hard, drain, j, opts)
	}
	code := exitOK
	switch {
	case err != nil:
		code = exitError
	case rep.State == "interrupted":
		code = exitInterrupted
	case rep.Failed > 0 || stillFailing(rep) > 0:
		// A retry that leaves records of earlier runs unread or unmapped
		// has not finished the job: they were never loaded.
		code = exitFailed
	}
	if err := m.Finish(context.Background(), map[int]string{exitOK: metrics.Completed, exitFailed: metrics.CompletedWithFailures,
		exitInterrupted: metrics.Interrupted, exitError: metrics.Failed}[code]); err != nil {
		log.Warn("metrics", "error", err)
	}
	if rep != nil {
		printSummary(g.stdout, rep, err)
	}
	if err != nil {
		return explain(err, j)
	}
	switch code {
	case exitInterrupted:
		why := "interrupted"
		if rep.StoppedBy != "" {
			why = "stopped: " + rep.StoppedBy
		}
		return &codeError{code: exitInterrupted, err: fmt.Errorf("%s; %d records unsent — run the same command again to finish", why, rep.Unsent)}
	case exitFailed:
		return &codeError{code: exitFailed}
	}
	return nil
}

// explain adds what a user can do to an error that stopped the run: the
// credentials' variables, for a refusal of them.
func explain(err error, j *job.Job) error {
	var fe *transport.FatalError
	if !errors.As(err, &fe) || fe.Last.Kind != transport.KindAuth {
		return err
	}
	sec, what := j.Sink, "sink"
	if strings.HasPrefix(fe.Service, "source") {
		sec, what = j.Source, "source"
	}
	var keys []string
	for key, vars := range sec.Vars {
		if isCredential(key) {
			keys = append(keys, fmt.Sprintf("%s.%s (from %s)", what, key, strings.Join(vars, ", ")))
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return fmt.Errorf("%w\n  check the credentials of %s", err, what)
	}
	return fmt.Errorf("%w\n  check %s", err, strings.Join(keys, " and "))
}

func isCredential(key string) bool {
	switch key {
	case "username", "password", "api_key", "token", "ticket", "app_token", "email":
		return true
	}
	return false
}

func printSummary(w io.Writer, r *pipeline.Report, runErr error) {
	mode := r.Command
	if r.DryRun {
		mode += " (dry run)"
	}
	if r.Shard != "" {
		mode += " shard " + r.Shard
	}
	fmt.Fprintf(w, "%s %s: %s in %.1fs (%.0f records/s)\n", mode, r.Job, r.State, r.DurationSeconds, r.RecordsPerSecond)
	if r.StoppedBy != "" {
		fmt.Fprintf(w, "  stopped: %s\n", r.StoppedBy)
	}
	fmt.Fprintf(w, "  read %d · loaded %d · skipped %d · failed %d", r.Read, r.Loaded, r.Skipped, r.Failed)
	if r.Unsent > 0 {
		fmt.Fprintf(w, " · unsent %d", r.Unsent)
	}
	if r.OtherShards > 0 {
		fmt.Fprintf(w, " · %d for other shards", r.OtherShards)
	}
	if r.DryRun {
		fmt.Fprintf(w, " · would send %d", r.WouldSend)
	}
	fmt.Fprintln(w)
	if r.Skipped > 0 {
		fmt.Fprintf(w, "  skipped: %d by rule, %d already loaded, %d duplicates, %d changed since loaded",
			r.SkippedBy.Rule, r.SkippedBy.AlreadyLoaded, r.SkippedBy.Duplicate, r.SkippedBy.Changed)
		for _, k := range sortedKeys(r.SkippedBy.Source) {
			fmt.Fprintf(w, ", %d %s", r.SkippedBy.Source[k], k)
		}
		for _, k := range sortedKeys(r.SkippedBy.Sink) {
			fmt.Fprintf(w, ", %d %s (by the sink)", r.SkippedBy.Sink[k], k)
		}
		fmt.Fprintln(w)
	}
	if r.SkippedBy.Changed > 0 {
		fmt.Fprintf(w, "  changed since loaded: %d not resent (the report lists %d); a sink that updates by key takes --resend-changed\n", r.SkippedBy.Changed, r.ChangedListed)
	}
	if r.Failed > 0 {
		fmt.Fprintf(w, "  failed: %d read, %d map, %d load", r.FailedBy.Read, r.FailedBy.Map, r.FailedBy.Load)
		codes := sortedByCount(r.FailedByCode)
		if len(codes) > 0 {
			fmt.Fprint(w, " — ")
			for i, c := range codes {
				if i == 5 {
					fmt.Fprintf(w, ", … (status --by code)")
					break
				}
				if i > 0 {
					fmt.Fprint(w, ", ")
				}
				fmt.Fprintf(w, "%s %d", c, r.FailedByCode[c])
			}
		}
		fmt.Fprintln(w)
	}
	if routes := sortedByCount(r.FailedByRoute); len(routes) > 0 {
		n := fmt.Sprint(len(routes))
		if _, capped := r.FailedByRoute["other"]; capped {
			n = "more than " + fmt.Sprint(len(routes)-1)
		}
		fmt.Fprintf(w, "  load failures in %s routes, most in %s (%d): status --by route\n", n, routes[0], r.FailedByRoute[routes[0]])
	}
	if n := stillFailing(r); n > 0 {
		if rm := r.FailedByCode["STILL_read"] + r.FailedByCode["STILL_map"]; rm > 0 {
			fmt.Fprintf(w, "  still failing: %d records of earlier runs (%d read, %d map) were never loaded; a run that reads and maps them correctly loads them (fix the file or the mapping, then run the job)\n",
				rm, r.FailedByCode["STILL_read"], r.FailedByCode["STILL_map"])
		}
		if l := r.FailedByCode["STILL_load"]; l > 0 {
			fmt.Fprintf(w, "  still failing: %d items of earlier runs, with codes not asked for (retry without --code resends them all)\n", l)
		}
	}
	if r.Requests > 0 {
		fmt.Fprintf(w, "  requests %d", r.Requests)
		if r.MeanBatchFill > 0 {
			fmt.Fprintf(w, " · mean batch %.1f", r.MeanBatchFill)
		}
		fmt.Fprintf(w, " · retried %d · throttled %d\n", r.Retried, r.Throttled)
	}
	for _, note := range r.Warnings {
		fmt.Fprintf(w, "  note: %s\n", note)
	}
	for _, h := range r.Hints {
		fmt.Fprintf(w, "  hint: %s\n", h)
	}
	if r.FailuresFile != "" && (r.Failed > 0 || stillFailing(r) > 0) {
		fmt.Fprintf(w, "  failures: %s\n", r.FailuresFile)
	}
	if r.ReportFile != "" {
		fmt.Fprintf(w, "  report:   %s\n", r.ReportFile)
	} else if runErr != nil && !r.DryRun {
		fmt.Fprintf(w, "  report:   not written\n")
	}
	if r.LedgerFile != "" {
		fmt.Fprintf(w, "  ledger:   %s\n", r.LedgerFile)
	}
}

// stillFailing counts what a retry left failing from earlier runs: records
// that fail to read or map (only a run can load them) and, after a --code
// that matched nothing, the ledger's failed items.
func stillFailing(r *pipeline.Report) int64 {
	return r.FailedByCode["STILL_read"] + r.FailedByCode["STILL_map"] + r.FailedByCode["STILL_load"]
}

func sortedKeys(m map[string]int64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sortedByCount(m map[string]int64) []string {
	ks := sortedKeys(m)
	sort.SliceStable(ks, func(a, b int) bool { return m[ks[a]] > m[ks[b]] })
	return ks
}
