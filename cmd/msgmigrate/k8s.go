package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/kube"
)

func k8sCmd(g *globals) *cobra.Command {
	var o kube.Options
	var output string
	var maxFailed int32
	var ttl time.Duration
	c := &cobra.Command{
		Use:   "k8s JOB --image IMAGE",
		Short: "Print Kubernetes manifests that run the job: a ConfigMap and an Indexed Job (or a CronJob)",
		Long: `Print the manifests that run JOB on Kubernetes: a ConfigMap with the job file and the files it
names, and an Indexed Job with one pod per shard (or, with --schedule, a CronJob that runs one).
Each pod runs "msgmigrate run JOB --shard auto/N --parallelism P".

The job's ${VAR}s come from a Secret (--secret, default NAME-env); the output starts with the
kubectl command that creates it. The ledger must be shared by the pods: state: must be a
postgres:// URL, normally ${MSGMIGRATE_STATE} from the Secret. Input files are read from a
PersistentVolumeClaim (--volume CLAIM:/mount; relative paths keep their layout below the mount)
or, when small, from the ConfigMap. --set overrides are applied as "run" applies them and are
passed to the pods: never put a secret in one.

Exit codes of each pod: 1 fails the Job, 2 (failed records) fails that shard, 3 (drained by
SIGTERM) is retried without counting.`,
		Example: `  msgmigrate k8s jobs/gorgias.yaml --image registry.example/msgmigrate:1.4.0 --shards 8 --parallelism 4 | kubectl apply -f -
  msgmigrate k8s jobs/export.yaml --image IMG --volume exports:/data --set 'state=${MSGMIGRATE_STATE}'
  msgmigrate k8s jobs/nightly.yaml --image IMG --schedule "0 2 * * *" --time-zone Europe/Berlin -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("max-failed-indexes") {
				o.MaxFailedIndexes = &maxFailed
			}
			if cmd.Flags().Changed("ttl-after-finished") {
				o.TTLAfterFinished = &ttl
			}
			if output != "yaml" && output != "json" {
				return fmt.Errorf("-o %q: want yaml or json", output)
			}
			o.Sets = g.sets
			// Load the job as run would (unknown keys, mapping, lookups),
			// with the generator's ${VAR} lookup: the pods' environment is
			// not this one.
			o.Validate = func(lookup func(string) (string, bool)) error {
				_, err := job.Load(args[0], g.sets, lookup)
				return err
			}
			m, err := kube.Generate(args[0], o)
			if err != nil {
				return err
			}
			if output == "json" {
				fmt.Fprint(g.stderr, m.Instructions())
				return m.WriteJSON(g.stdout)
			}
			return m.WriteYAML(g.stdout)
		},
	}
	f := c.Flags()
	f.StringVar(&o.Image, "image", "", "the msgmigrate image the pods run (required)")
	f.StringVar(&o.Name, "name", "", "name of the Job and its objects (default: the job file's name)")
	f.StringVar(&o.Namespace, "namespace", "", "namespace of the objects (default: kubectl's)")
	f.IntVar(&o.Shards, "shards", 1, "shards: the Job's completions, one pod each")
	f.IntVar(&o.Parallelism, "parallelism", 0, "pods at once, each taking 1/P of the job's rate (default: --shards)")
	f.Int32Var(&o.BackoffLimitPerIndex, "backoff-limit-per-index", kube.DefaultBackoffLimitPerIndex, "retries of one shard before it fails")
	f.Int32Var(&maxFailed, "max-failed-indexes", 0, "fail the whole Job once more shards than this have failed (default: run them all)")
	f.DurationVar(&o.ActiveDeadline, "active-deadline", 0, "stop the Job after this long (default: no limit)")
	f.DurationVar(&ttl, "ttl-after-finished", 0, "delete the Job this long after it finished (default: keep it)")
	f.StringVar(&o.Schedule, "schedule", "", `make a CronJob on this cron schedule, e.g. "0 2 * * *"`)
	f.StringVar(&o.TimeZone, "time-zone", "", "the schedule's time zone, e.g. Europe/Berlin (default: the cluster's)")
	f.DurationVar(&o.StartingDeadline, "starting-deadline", 0, "skip a scheduled run that cannot start within this (default 10m)")
	f.StringVar(&o.Secret, "secret", "", "the Secret holding the job's ${VAR}s (default NAME-env)")
	f.StringVar(&o.Volume, "volume", "", "CLAIM:/mount: a PersistentVolumeClaim, mounted read-only, holding the input files")
	f.StringVar(&o.CPU, "cpu", kube.DefaultCPU, "CPU request per pod")
	f.StringVar(&o.Memory, "memory", kube.DefaultMemory, "memory request per pod")
	f.StringVar(&o.MemoryLimit, "memory-limit", kube.DefaultMemoryLimit, "memory limit per pod")
	f.StringVar(&o.PullPolicy, "pull-policy", "", "image pull policy (default: IfNotPresent for a tag or digest, Always for :latest)")
	f.DurationVar(&o.GracePeriod, "grace-period", 0, "time from SIGTERM to SIGKILL (default: sink.timeout, twice for sinks that read first, + 30s)")
	f.StringVarP(&output, "output", "o", "yaml", "yaml or json")
	_ = c.MarkFlagRequired("image")
	return c
}
