// Package kube turns a job file into Kubernetes manifests: a ConfigMap that
// holds the job file and the files it names, and an Indexed Job (or a CronJob
// that runs one) whose pods each run one shard:
//
//	msgmigrate run /etc/msgmigrate/JOB.yaml --shard auto/N --parallelism P
//
// The manifests follow the Kubernetes documentation's Indexed Job and
// CronJob pages (https://kubernetes.io/docs/concepts/workloads/controllers/job/):
// completionMode Indexed, a podFailurePolicy on msgmigrate's exit codes,
// restartPolicy Never, secrets as environment variables from a Secret, the
// configuration from a ConfigMap, a non-root read-only container.
//
// A job file that cannot run in a pod as written is refused with an *Error
// naming the file, the line and the key: a local SQLite ledger (a pod can move
// to another node; its file cannot follow), a password written into the file,
// an input file that is neither on a volume nor small enough for the
// ConfigMap.
package kube

import (
	"fmt"
	"path"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Paths inside the container. The image's file system is read-only: the
// only writable place is the emptyDir at WorkDir.
const (
	ConfigDir = "/etc/msgmigrate"     // the ConfigMap, read-only
	WorkDir   = "/var/lib/msgmigrate" // emptyDir: TMPDIR, the report, the failures file
)

// Defaults the CLI shows in its flags.
const (
	DefaultCPU                  = "500m"
	DefaultMemory               = "192Mi" // the binary peaks at ~150 MB (README, Performance)
	DefaultMemoryLimit          = "256Mi" // the runtime's soft limit is 116 MiB; this is the hard stop
	DefaultBackoffLimitPerIndex = 3
	DefaultStartingDeadline     = 10 * time.Minute
	// drainMargin is added to the longest in-flight request when the
	// grace period is computed: the ledger commit and the report.
	drainMargin = 30 * time.Second
	// cronHistory is how many finished runs of each outcome a CronJob keeps
	// (the failed ones are what one looks at).
	cronHistory = 3
)

// Options say what to generate. The zero value of each optional field means
// "the default" or "not set".
type Options struct {
	Image     string // required
	Name      string // default: the job file's name as a DNS label
	Namespace string // default: none (kubectl's current namespace)

	Shards      int // completions; default 1
	Parallelism int // pods at once; default Shards; at most Shards

	BackoffLimitPerIndex int32  // retries of one shard (the CLI's default: DefaultBackoffLimitPerIndex)
	MaxFailedIndexes     *int32 // fail the whole Job past this many failed shards
	ActiveDeadline       time.Duration
	TTLAfterFinished     *time.Duration

	Schedule         string // a cron schedule: generate a CronJob
	TimeZone         string // the CronJob's time zone (IANA name)
	StartingDeadline time.Duration

	Secret string // default NAME-env
	// Volume is "CLAIM:/mount": a PersistentVolumeClaim mounted read-only,
	// where the pods read the input files.
	Volume string

	CPU, Memory, MemoryLimit string // quantities; defaults above
	PullPolicy               string // default: IfNotPresent for a pinned image, Always for :latest or none
	GracePeriod              time.Duration

	// Sets are --set key=value overrides: applied to the job as `run`
	// applies them, and passed on to the pods' command line.
	Sets []string

	// Validate, when set, loads the job as `run` would (job.Load), with the
	// lookup the generator uses for ${VAR}: variables with a default take it,
	// the others read as "${NAME}". Its error is returned as is.
	Validate func(lookup func(string) (string, bool)) error
}

// Error is a job file, or an option, that cannot make a working manifest.
type Error struct {
	File   string // the job or mapping file; "" for a flag
	Line   int    // 0 when unknown (e.g. a value given with --set)
	Key    string // "state", "source.path", "--name"
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Key)
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

func flagError(flag, format string, a ...any) error {
	return &Error{Key: flag, Reason: fmt.Sprintf(format, a...)}
}

// checkOptions fills the defaults and checks what can be checked without
// the job file.
func (o *Options) checkOptions() error {
	if o.Image == "" {
		return flagError("--image", "required: the msgmigrate image the pods run (see the Dockerfile)")
	}
	if o.Shards == 0 {
		o.Shards = 1
	}
	if o.Parallelism == 0 {
		o.Parallelism = o.Shards
	}
	switch {
	case o.Shards < 1 || o.Shards > maxIndexedCompletions:
		return flagError("--shards", "%d: want 1 to %d", o.Shards, maxIndexedCompletions)
	case o.Parallelism < 1 || o.Parallelism > o.Shards:
		// More pods than shards would leave pods with nothing to do, and
		// each would still take 1/parallelism of the job's rate.
		return flagError("--parallelism", "%d: want 1 to --shards (%d)", o.Parallelism, o.Shards)
	case o.BackoffLimitPerIndex < 0:
		return flagError("--backoff-limit-per-index", "%d: want 0 or more", o.BackoffLimitPerIndex)
	case o.MaxFailedIndexes != nil && (*o.MaxFailedIndexes < 0 || int(*o.MaxFailedIndexes) > o.Shards):
		return flagError("--max-failed-indexes", "%d: want 0 to --shards (%d)", *o.MaxFailedIndexes, o.Shards)
	case o.ActiveDeadline < 0:
		return flagError("--active-deadline", "%s: want a positive duration", o.ActiveDeadline)
	case o.TTLAfterFinished != nil && *o.TTLAfterFinished < 0:
		return flagError("--ttl-after-finished", "%s: want 0 or a positive duration", *o.TTLAfterFinished)
	case o.GracePeriod < 0:
		return flagError("--grace-period", "%s: want a positive duration", o.GracePeriod)
	}
	for _, v := range []struct{ flag, value string }{{"--image", o.Image}, {"--schedule", o.Schedule}} {
		if !yamlText(v.value) {
			return flagError(v.flag, "%q: control characters cannot go into a manifest", v.value)
		}
	}
	for _, s := range o.Sets {
		if !yamlText(s) {
			return flagError("--set", "%q: control characters cannot go into a manifest", s)
		}
	}
	if o.Namespace != "" {
		if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
			return flagError("--namespace", "%q: %s", o.Namespace, strings.Join(errs, "; "))
		}
	}
	if err := o.checkSchedule(); err != nil {
		return err
	}
	if o.CPU == "" {
		o.CPU = DefaultCPU
	}
	if o.Memory == "" {
		o.Memory = DefaultMemory
	}
	if o.MemoryLimit == "" {
		o.MemoryLimit = DefaultMemoryLimit
	}
	cpu, err := resource.ParseQuantity(o.CPU)
	if err != nil || cpu.Sign() <= 0 {
		return flagError("--cpu", "%q is not a CPU quantity (e.g. 500m, 1)", o.CPU)
	}
	mem, err := resource.ParseQuantity(o.Memory)
	if err != nil || mem.Sign() <= 0 {
		return flagError("--memory", "%q is not a memory quantity (e.g. 192Mi)", o.Memory)
	}
	limit, err := resource.ParseQuantity(o.MemoryLimit)
	if err != nil || limit.Sign() <= 0 {
		return flagError("--memory-limit", "%q is not a memory quantity (e.g. 256Mi)", o.MemoryLimit)
	}
	if limit.Cmp(mem) < 0 {
		return flagError("--memory-limit", "%s is less than the request --memory %s", o.MemoryLimit, o.Memory)
	}
	switch o.PullPolicy {
	case "":
		o.PullPolicy = defaultPullPolicy(o.Image)
	case "Always", "IfNotPresent", "Never":
	default:
		return flagError("--pull-policy", "%q: want Always, IfNotPresent or Never", o.PullPolicy)
	}
	if o.Volume != "" {
		claim, mount, ok := strings.Cut(o.Volume, ":")
		if errs := validation.IsDNS1123Subdomain(claim); !ok || len(errs) > 0 {
			return flagError("--volume", "%q: want CLAIM:/mount, CLAIM the name of a PersistentVolumeClaim", o.Volume)
		}
		if !path.IsAbs(mount) || path.Clean(mount) != mount || mount == "/" {
			return flagError("--volume", "%q: the mount point must be an absolute, clean path other than /", o.Volume)
		}
		for _, own := range []string{ConfigDir, WorkDir} {
			if within(own, mount) || within(mount, own) {
				return flagError("--volume", "%q: %s is the pods' own (choose e.g. /data)", o.Volume, own)
			}
		}
	}
	return nil
}

// maxIndexedCompletions keeps a Job under the API's limits for Indexed Jobs
// (above 10^5 completions, maxFailedIndexes becomes required and
// parallelism is capped at 10^4: k8s.io/api batch/v1 JobSpec).
const maxIndexedCompletions = 100_000

// defaultPullPolicy is what the API server would default to (Always for
// :latest or no tag), said explicitly so the manifest reads the same
// everywhere.
func defaultPullPolicy(image string) string {
	if strings.Contains(image, "@") {
		return "IfNotPresent"
	}
	last := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(last, ":")
	if !ok || tag == "latest" {
		return "Always"
	}
	return "IfNotPresent"
}

var cronMacros = map[string]bool{"@yearly": true, "@annually": true, "@monthly": true, "@weekly": true,
	"@daily": true, "@midnight": true, "@hourly": true}

// checkSchedule checks the CronJob's schedule the way the API server reads
// it (robfig/cron's standard parser: five fields, a macro, or @every).
func (o *Options) checkSchedule() error {
	if o.Schedule == "" {
		switch {
		case o.TimeZone != "":
			return flagError("--time-zone", "only with --schedule")
		case o.StartingDeadline != 0:
			return flagError("--starting-deadline", "only with --schedule")
		}
		return nil
	}
	s := strings.TrimSpace(o.Schedule)
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		return flagError("--schedule", "%q: give the time zone with --time-zone (the API refuses TZ= in a schedule)", o.Schedule)
	}
	switch {
	case cronMacros[s]:
	case strings.HasPrefix(s, "@every "):
		if _, err := time.ParseDuration(strings.TrimPrefix(s, "@every ")); err != nil {
			return flagError("--schedule", "%q: @every takes a duration (e.g. @every 6h)", o.Schedule)
		}
	case len(strings.Fields(s)) != 5:
		return flagError("--schedule", "%q: want five fields (minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\") or @hourly, @daily…", o.Schedule)
	}
	if o.TimeZone != "" {
		if _, err := time.LoadLocation(o.TimeZone); err != nil || o.TimeZone == "Local" {
			return flagError("--time-zone", "%q is not a time zone name (e.g. Europe/Berlin)", o.TimeZone)
		}
	}
	if o.StartingDeadline == 0 {
		o.StartingDeadline = DefaultStartingDeadline
	}
	// The CronJob controller looks every 10 s: a shorter deadline can
	// miss every run (the CronJob page, "Job creation").
	if o.StartingDeadline < 10*time.Second {
		return flagError("--starting-deadline", "%s: want 10s or more", o.StartingDeadline)
	}
	return nil
}

// within says whether p is dir or below it (slash paths).
func within(dir, p string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
