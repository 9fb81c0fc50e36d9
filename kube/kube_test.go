package kube

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/msgmigrate/msgmigrate/job"
	_ "github.com/msgmigrate/msgmigrate/load/all" // the sinks' schemas, to compile the mapping as a pod would
)

var update = flag.Bool("update", false, "rewrite the golden files")

const dealer = "testdata/project/jobs/dealer.yaml"

// validate loads the job as the CLI does before generating.
func validate(path string, sets []string) func(func(string) (string, bool)) error {
	return func(lookup func(string) (string, bool)) error {
		_, err := job.Load(path, sets, lookup)
		return err
	}
}

// decoded is the output, every document strictly decoded into the API's types.
type decoded struct {
	header    string
	configMap *corev1.ConfigMap
	job       *batchv1.Job
	cronJob   *batchv1.CronJob
}

// decodeYAML splits the output into its documents and decodes each strictly:
// a field the API does not know, or a duplicate, fails the test.
func decodeYAML(t *testing.T, out []byte) decoded {
	t.Helper()
	docs := strings.Split(string(out), "\n---\n")
	require.Len(t, docs, 3, "a header, the ConfigMap, the Job or CronJob")
	var d decoded
	d.header = docs[0]
	for _, line := range strings.Split(d.header, "\n") {
		require.True(t, line == "" || strings.HasPrefix(line, "#"), "the header is only comments: %q", line)
	}
	d.configMap = &corev1.ConfigMap{}
	require.NoError(t, yaml.UnmarshalStrict([]byte(docs[1]), d.configMap))
	assert.Equal(t, "ConfigMap", d.configMap.Kind)
	assert.Equal(t, "v1", d.configMap.APIVersion)
	var tm metav1.TypeMeta
	require.NoError(t, yaml.Unmarshal([]byte(docs[2]), &tm))
	switch tm.Kind {
	case "Job":
		d.job = &batchv1.Job{}
		require.NoError(t, yaml.UnmarshalStrict([]byte(docs[2]), d.job))
	case "CronJob":
		d.cronJob = &batchv1.CronJob{}
		require.NoError(t, yaml.UnmarshalStrict([]byte(docs[2]), d.cronJob))
	default:
		t.Fatalf("second document is a %q", tm.Kind)
	}
	assert.Equal(t, "batch/v1", tm.APIVersion)
	return d
}

func generate(t *testing.T, path string, o Options) []byte {
	t.Helper()
	m, err := Generate(path, o)
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, m.WriteYAML(&b))
	return b.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(p, got, 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "run go test ./kube -update to write it")
	assert.Equal(t, string(want), string(got), "go test ./kube -update rewrites %s", p)
}

func TestManifests(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		check func(t *testing.T, d decoded, spec batchv1.JobSpec)
	}{
		{
			name: "job",
			opts: Options{Image: "registry.example/msgmigrate:1.4.0", Namespace: "migrations", Shards: 4, Parallelism: 2},
			check: func(t *testing.T, d decoded, spec batchv1.JobSpec) {
				assert.Equal(t, "dealer", d.job.Name)
				assert.Equal(t, "migrations", d.job.Namespace)
				assert.Equal(t, "migrations", d.configMap.Namespace)
				assert.Nil(t, spec.ActiveDeadlineSeconds)
				assert.Nil(t, spec.TTLSecondsAfterFinished)
				assert.Nil(t, spec.MaxFailedIndexes)
				// No volume: the small input file travels in the ConfigMap,
				// as bytes (it starts with a byte order mark, and has CRLFs).
				assert.Contains(t, d.configMap.BinaryData, "messages.csv")
				raw, _ := os.ReadFile("testdata/project/exports/messages.csv")
				assert.Equal(t, raw, d.configMap.BinaryData["messages.csv"])
			},
		},
		{
			name: "cronjob",
			opts: Options{Image: "registry.example/msgmigrate@sha256:" + strings.Repeat("ab", 32), Shards: 3,
				Schedule: "0 2 * * *", TimeZone: "Europe/Berlin", Volume: "dealer-exports:/data",
				Sets:           []string{"source.path=/data/exports/messages.csv"},
				ActiveDeadline: 6 * time.Hour, TTLAfterFinished: new(24 * time.Hour), MaxFailedIndexes: new(int32(1)),
				BackoffLimitPerIndex: 5, CPU: "1", Memory: "256Mi", MemoryLimit: "512Mi"},
			check: func(t *testing.T, d decoded, spec batchv1.JobSpec) {
				cj := d.cronJob.Spec
				assert.Equal(t, "0 2 * * *", cj.Schedule)
				assert.Equal(t, "Europe/Berlin", *cj.TimeZone)
				assert.Equal(t, batchv1.ForbidConcurrent, cj.ConcurrencyPolicy, "two runs share the ledger")
				assert.Equal(t, int64(600), *cj.StartingDeadlineSeconds)
				assert.Equal(t, int32(3), *cj.SuccessfulJobsHistoryLimit)
				assert.Equal(t, int32(3), *cj.FailedJobsHistoryLimit)
				assert.Equal(t, labels("dealer", "migration"), d.cronJob.Spec.JobTemplate.Labels)
				assert.Equal(t, int64(6*3600), *spec.ActiveDeadlineSeconds)
				assert.Equal(t, int32(24*3600), *spec.TTLSecondsAfterFinished)
				assert.Equal(t, int32(1), *spec.MaxFailedIndexes)
				assert.Equal(t, int32(5), *spec.BackoffLimitPerIndex)
				// The input is read from the claim, read-only; not bundled.
				pod := spec.Template.Spec
				assert.Contains(t, pod.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "dealer-exports", ReadOnly: true}}})
				assert.Contains(t, pod.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/data", ReadOnly: true})
				assert.NotContains(t, d.configMap.BinaryData, "messages.csv")
				assert.NotContains(t, d.configMap.Data, "messages.csv")
				assert.Equal(t, "IfNotPresent", string(pod.Containers[0].ImagePullPolicy))
				res := pod.Containers[0].Resources
				assert.Equal(t, resource.MustParse("1"), res.Requests[corev1.ResourceCPU])
				assert.Equal(t, resource.MustParse("512Mi"), res.Limits[corev1.ResourceMemory])
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Validate = validate(dealer, tt.opts.Sets)
			out := generate(t, dealer, tt.opts)
			golden(t, tt.name, out)
			d := decodeYAML(t, out)
			var spec batchv1.JobSpec
			if d.job != nil {
				spec = d.job.Spec
				assert.Equal(t, labels("dealer", "migration"), d.job.Labels)
			} else {
				spec = d.cronJob.Spec.JobTemplate.Spec
				assert.Equal(t, labels("dealer", "migration"), d.cronJob.Labels)
			}
			checkJob(t, tt.opts, d, spec)
			tt.check(t, d, spec)
			runsInPod(t, d, spec, tt.opts)
		})
	}
}

func labels(instance, component string) map[string]string {
	return map[string]string{"app.kubernetes.io/name": "msgmigrate", "app.kubernetes.io/instance": instance,
		"app.kubernetes.io/component": component, "app.kubernetes.io/managed-by": "msgmigrate"}
}

// checkJob asserts what every generated Job must say.
func checkJob(t *testing.T, o Options, d decoded, spec batchv1.JobSpec) {
	t.Helper()
	shards := o.Shards
	par := o.Parallelism
	if par == 0 {
		par = shards
	}
	assert.Equal(t, int32(shards), *spec.Completions)
	assert.Equal(t, int32(par), *spec.Parallelism)
	assert.Equal(t, batchv1.IndexedCompletion, *spec.CompletionMode)
	require.NotNil(t, spec.BackoffLimitPerIndex, "FailIndex needs backoffLimitPerIndex")
	assert.Equal(t, batchv1.Failed, *spec.PodReplacementPolicy, "the only value with a podFailurePolicy")
	assert.Nil(t, spec.BackoffLimit, "defaults to MaxInt32 with backoffLimitPerIndex")

	container := new("msgmigrate")
	exit := func(a batchv1.PodFailurePolicyAction, code int32) batchv1.PodFailurePolicyRule {
		return batchv1.PodFailurePolicyRule{Action: a, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			ContainerName: container, Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{code}}}
	}
	assert.Equal(t, []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
			{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
		exit(batchv1.PodFailurePolicyActionFailJob, 1),
		exit(batchv1.PodFailurePolicyActionFailIndex, 2),
		exit(batchv1.PodFailurePolicyActionIgnore, 3),
	}, spec.PodFailurePolicy.Rules)

	assert.Equal(t, labels("dealer", "migration"), spec.Template.Labels)
	assert.Equal(t, labels("dealer", "config"), d.configMap.Labels)
	pod := spec.Template.Spec
	assert.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy, "podFailurePolicy requires Never")
	// sink.timeout 20s (mykaarma: one request per send) + 30s to record.
	assert.Equal(t, int64(50), *pod.TerminationGracePeriodSeconds)
	assert.False(t, *pod.AutomountServiceAccountToken)
	psc := pod.SecurityContext
	assert.True(t, *psc.RunAsNonRoot)
	assert.Equal(t, int64(65532), *psc.RunAsUser)
	assert.Equal(t, int64(65532), *psc.RunAsGroup)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, psc.SeccompProfile.Type)

	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Equal(t, "msgmigrate", c.Name)
	assert.Equal(t, o.Image, c.Image)
	sc := c.SecurityContext
	assert.False(t, *sc.AllowPrivilegeEscalation)
	assert.True(t, *sc.ReadOnlyRootFilesystem)
	assert.True(t, *sc.RunAsNonRoot)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.False(t, c.Resources.Requests.Cpu().IsZero(), "CPU request set")
	assert.False(t, c.Resources.Requests.Memory().IsZero(), "memory request set")
	assert.GreaterOrEqual(t, c.Resources.Limits.Memory().Cmp(*c.Resources.Requests.Memory()), 0)

	// The job's ${VAR}s, each from the Secret; those with a default optional.
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	assert.Equal(t, WorkDir, env["TMPDIR"].Value)
	for name, optional := range map[string]bool{"MSGMIGRATE_STATE": false, "MYKAARMA_USER": false, "MYKAARMA_PASSWORD": false, "MYKAARMA_URL": true} {
		require.Contains(t, env, name)
		ref := env[name].ValueFrom.SecretKeyRef
		assert.Equal(t, "dealer-env", ref.Name, name)
		assert.Equal(t, name, ref.Key)
		assert.Equal(t, optional, ref.Optional != nil && *ref.Optional, name)
	}
	assert.Len(t, c.Env, 5, "TMPDIR and the four variables")

	args := strings.Join(c.Args, " ")
	assert.Contains(t, args, "run "+ConfigDir+"/jobs/dealer.yaml --shard auto/"+strconv.Itoa(shards)+" --parallelism "+strconv.Itoa(par))
	assert.Contains(t, args, "--set report="+WorkDir+"/report.json --set failures="+WorkDir+"/failures.jsonl")
	assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "config", MountPath: ConfigDir, ReadOnly: true})
	assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "work", MountPath: WorkDir})
	assert.Contains(t, pod.Volumes, corev1.Volume{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})

	assert.True(t, *d.configMap.Immutable)
	assert.True(t, strings.HasPrefix(d.configMap.Name, "dealer-"), d.configMap.Name)
	assert.Contains(t, d.header, "kubectl create secret generic dealer-env")
	assert.Contains(t, d.header, "--from-literal=MSGMIGRATE_STATE=")
	assert.Contains(t, d.header, "Optional keys (the job file gives a default): MYKAARMA_URL.")
}

// runsInPod lays the ConfigMap out as the kubelet would, runs the pod's
// command line through job.Load (with the Secret's variables set) and
// compiles the mapping: the job file, the mapping and its lookup tables must
// all resolve where the pod will look for them.
func runsInPod(t *testing.T, d decoded, spec batchv1.JobSpec, o Options) {
	t.Helper()
	etc := t.TempDir()
	pod := spec.Template.Spec
	var cmv *corev1.ConfigMapVolumeSource
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil {
			cmv = v.ConfigMap
		}
	}
	require.NotNil(t, cmv)
	assert.Equal(t, d.configMap.Name, cmv.Name)
	for _, it := range cmv.Items {
		data, ok := d.configMap.Data[it.Key]
		if !ok {
			b, ok := d.configMap.BinaryData[it.Key]
			require.True(t, ok, "item %s is in the ConfigMap", it.Key)
			data = string(b)
		}
		p := filepath.Join(etc, filepath.FromSlash(it.Path))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o444))
	}
	// The volume, if any, holds the exports as the user copied them.
	volume := t.TempDir()
	mount := ""
	if o.Volume != "" {
		_, mount, _ = strings.Cut(o.Volume, ":")
		require.NoError(t, os.MkdirAll(filepath.Join(volume, "exports"), 0o755))
		raw, err := os.ReadFile("testdata/project/exports/messages.csv")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(volume, "exports", "messages.csv"), raw, 0o644))
	}
	inPod := func(s string) string {
		s = strings.ReplaceAll(s, "$$", "$") // as the kubelet reads args
		if mount != "" {
			s = strings.ReplaceAll(s, mount+"/", volume+"/")
		}
		return strings.ReplaceAll(s, ConfigDir+"/", etc+"/")
	}
	args := pod.Containers[0].Args
	require.Equal(t, "run", args[0])
	var sets []string
	for i, a := range args {
		if a == "--set" {
			sets = append(sets, inPod(args[i+1]))
		}
	}
	secret := map[string]string{"MSGMIGRATE_STATE": "postgres://msgmigrate@db/migrations", "MYKAARMA_USER": "u", "MYKAARMA_PASSWORD": "p"}
	j, err := job.Load(inPod(args[1]), sets, func(k string) (string, bool) { v, ok := secret[k]; return v, ok })
	require.NoError(t, err)
	_, err = j.Compile()
	require.NoError(t, err, "the mapping and its lookup tables resolve in the pod")
	src := j.Source.Path(j.SourceValue("path"))
	_, err = os.Stat(src)
	require.NoError(t, err, "the input file is where the pod reads it")
	assert.Equal(t, WorkDir+"/report.json", j.Report)
}

func TestJSONOutput(t *testing.T) {
	m, err := Generate(dealer, Options{Image: "msgmigrate:1", Shards: 2})
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, m.WriteJSON(&b))
	var list struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}
	require.NoError(t, json.Unmarshal(b.Bytes(), &list))
	assert.Equal(t, "List", list.Kind)
	require.Len(t, list.Items, 2)
	var cm corev1.ConfigMap
	require.NoError(t, yaml.UnmarshalStrict(list.Items[0], &cm))
	var j batchv1.Job
	require.NoError(t, yaml.UnmarshalStrict(list.Items[1], &j))
	assert.Equal(t, int32(2), *j.Spec.Completions)
	for _, item := range list.Items {
		var top map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(item, &top))
		assert.NotContains(t, top, "status", "kubectl apply sends no status")
	}
}

// A file the generator refuses names the file, the line and the key.
func TestRefusals(t *testing.T) {
	big := strings.Repeat("x", maxConfigMapBytes)
	tests := []struct {
		name  string
		job   string
		files map[string]string
		opts  Options
		key   string
		line  int
		says  string
	}{
		{name: "no state", job: "source: {kind: gorgias}\nsink: {kind: mykaarma}\n",
			key: "state", says: "not set: the ledger would be a SQLite file (.msgmigrate/job.db)"},
		{name: "local state", job: "source: {kind: gorgias}\nsink: {kind: mykaarma}\nstate: .msgmigrate/job.db\n",
			key: "state", line: 3, says: `".msgmigrate/job.db" is not a postgres:// URL, so the ledger would be a SQLite file on the pod's own disk`},
		{name: "local state by --set", job: "source: {kind: gorgias}\nstate: ${MSGMIGRATE_STATE}\n",
			opts: Options{Sets: []string{"state=/tmp/job.db"}}, key: "state", says: "is not a postgres:// URL"},
		{name: "password in state", job: "state: postgres://mm:hunter2@db/migrations\n",
			key: "state", line: 1, says: "the URL holds a password"},
		{name: "password parameter", job: "state: postgresql://db/migrations?sslmode=require&password=hunter2\n",
			key: "state", line: 1, says: "the URL holds a password"},
		{name: "another database", job: "state: mysql://mm:hunter2@db/migrations\n",
			key: "state", line: 1, says: `"mysql://mm:xxxxx@db/migrations" is not a postgres:// URL`},
		{name: "ledger source on disk", job: "state: ${S}\nsource: {kind: ledger, state: gorgias.db}\n",
			key: "source.state", line: 2, says: "is not a postgres:// URL"},
		{name: "too big for a ConfigMap", job: "state: ${S}\nsource: {kind: csv, path: big.csv}\n",
			files: map[string]string{"big.csv": big}, key: "ConfigMap", says: "the job's files come to 1.0 MiB, more than a ConfigMap holds (1.0 MiB); the largest: source.path big.csv (1.0 MiB)"},
		{name: "input leaves the job's directory", job: "state: ${S}\nsource: {kind: csv, path: ../m.csv}\n",
			opts: Options{Volume: "exports:/data"}, key: "source.path", line: 2, says: "leaves the job file's directory"},
		{name: "input not on the volume", job: "state: ${S}\nsource: {kind: csv, path: /srv/m.csv}\n",
			opts: Options{Volume: "exports:/data"}, key: "source.path", line: 2, says: "/srv/m.csv is not on a volume the pods have"},
		{name: "input directory", job: "state: ${S}\nsource: {kind: parquet, path: parts}\n",
			files: map[string]string{"parts/p1.parquet": "x"}, key: "source.path", line: 2, says: "is a directory: its files belong on a volume"},
		{name: "input pattern", job: "state: ${S}\nsource: {kind: parquet, path: 'parts/*.parquet'}\n",
			key: "source.path", line: 2, says: "is a pattern"},
		{name: "input from the environment", job: "state: ${S}\nsource: {kind: csv, path: '${INPUT}'}\n",
			key: "source.path", line: 2, says: "${INPUT} comes from the Secret"},
		{name: "absolute mapping", job: "state: ${S}\nmapping: /etc/m.yaml\n",
			key: "mapping", line: 2, says: "/etc/m.yaml is an absolute path"},
		{name: "mapping from the environment", job: "state: ${S}\nmapping: ${MAPPING}\n",
			key: "mapping", line: 2, says: "comes from the Secret"},
		{name: "missing lookup", job: "state: ${S}\nlookups:\n  c: {file: c.csv, key: k, value: v}\n",
			key: "lookups.c.file", line: 3, says: "no such file"},
		{name: "jsonl file sink", job: "state: ${S}\nsink: {kind: jsonl, path: out.jsonl}\n",
			key: "sink.path", line: 2, says: "is a file in the pod, lost when it ends"},
		{name: "metrics address", job: "state: ${S}\nmetrics: {listen: 'localhost'}\n",
			key: "metrics.listen", line: 2, says: "want host:port"},
		{name: "metrics file", job: "state: ${S}\nmetrics:\n  file: m.prom\n",
			key: "metrics.file", line: 3, says: "use metrics.listen"},
		{name: "sink timeout", job: "state: ${S}\nsink: {kind: mykaarma, timeout: '${TIMEOUT}'}\n",
			key: "sink.timeout", line: 2, says: "give --grace-period"},
		{name: "control character in --set", job: "state: ${S}\n", opts: Options{Sets: []string{"sink.url=a\x7f"}}, key: "--set", says: "control characters"},
		{name: "bad name", job: "state: ${S}\n", opts: Options{Name: "Dealer_1"}, key: "--name", says: `"Dealer_1"`},
		{name: "name too long for the shards", job: "state: ${S}\n", opts: Options{Name: strings.Repeat("a", 60), Shards: 1000},
			key: "--name", says: "too long for 1000 shards"},
		{name: "cron name", job: "state: ${S}\n", opts: Options{Name: strings.Repeat("a", 53), Schedule: "@daily"},
			key: "--name", says: "a CronJob's name has at most 52"},
		{name: "cron name with shards", job: "state: ${S}\n", opts: Options{Name: strings.Repeat("a", 52), Schedule: "@daily", Shards: 100},
			key: "--name", says: "the pods' host names"},
		{name: "file name", job: "state: ${S}\n", opts: Options{Name: ""}, key: "--name (default: the job file's name)"},
		{name: "parallelism", job: "state: ${S}\n", opts: Options{Shards: 2, Parallelism: 3}, key: "--parallelism", says: "want 1 to --shards (2)"},
		{name: "shards", job: "state: ${S}\n", opts: Options{Shards: -1}, key: "--shards"},
		{name: "max failed", job: "state: ${S}\n", opts: Options{Shards: 2, MaxFailedIndexes: new(int32(3))}, key: "--max-failed-indexes"},
		{name: "no image", job: "state: ${S}\n", opts: Options{Image: "-"}, key: "--image"},
		{name: "TZ in schedule", job: "state: ${S}\n", opts: Options{Schedule: "TZ=UTC 0 2 * * *"}, key: "--schedule", says: "--time-zone"},
		{name: "schedule fields", job: "state: ${S}\n", opts: Options{Schedule: "0 2 * *"}, key: "--schedule", says: "five fields"},
		{name: "time zone", job: "state: ${S}\n", opts: Options{Schedule: "@daily", TimeZone: "Mars/Olympus"}, key: "--time-zone"},
		{name: "time zone without schedule", job: "state: ${S}\n", opts: Options{TimeZone: "UTC"}, key: "--time-zone"},
		{name: "memory limit", job: "state: ${S}\n", opts: Options{Memory: "512Mi", MemoryLimit: "256Mi"}, key: "--memory-limit"},
		{name: "cpu", job: "state: ${S}\n", opts: Options{CPU: "lots"}, key: "--cpu"},
		{name: "volume", job: "state: ${S}\n", opts: Options{Volume: "exports"}, key: "--volume"},
		{name: "volume over the config", job: "state: ${S}\n", opts: Options{Volume: "exports:/etc"}, key: "--volume"},
		{name: "pull policy", job: "state: ${S}\n", opts: Options{PullPolicy: "Sometimes"}, key: "--pull-policy"},
		{name: "namespace", job: "state: ${S}\n", opts: Options{Namespace: "Migrations"}, key: "--namespace"},
		{name: "secret", job: "state: ${S}\n", opts: Options{Secret: "env_"}, key: "--secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(dir, filepath.FromSlash(name))
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
				require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
			}
			base := "job.yaml"
			if tt.name == "file name" {
				base = "___.yaml" // nothing of it is a DNS label
			}
			path := filepath.Join(dir, base)
			require.NoError(t, os.WriteFile(path, []byte(tt.job), 0o644))
			o := tt.opts
			switch o.Image {
			case "":
				o.Image = "msgmigrate:1"
			case "-":
				o.Image = ""
			}
			_, err := Generate(path, o)
			var e *Error
			require.True(t, errors.As(err, &e), "want a *kube.Error, got %v", err)
			assert.Equal(t, tt.key, e.Key, e.Error())
			assert.Equal(t, tt.line, e.Line, e.Error())
			assert.Contains(t, e.Reason, tt.says)
			if !strings.HasPrefix(tt.key, "--") {
				assert.True(t, strings.HasPrefix(err.Error(), e.File), "names the file: %s", err)
			}
			assert.NotContains(t, err.Error(), "hunter2", "a password never appears in an error")
		})
	}
}

// What the refusals refuse must work when it is done right.
func TestAccepted(t *testing.T) {
	tests := []struct {
		name  string
		job   string
		files map[string]string
		opts  Options
		check func(t *testing.T, m *Manifests)
	}{
		{name: "password from the environment", job: "state: postgres://mm:${PGPASSWORD}@db/migrations\n",
			check: func(t *testing.T, m *Manifests) {
				assert.Equal(t, []SecretVar{{Name: "PGPASSWORD", Line: 1}}, m.Vars)
			}},
		{name: "state with a local default", job: "state: ${MSGMIGRATE_STATE:-.msgmigrate/job.db}\n",
			check: func(t *testing.T, m *Manifests) {
				// Required from the Secret: the default is a local file.
				assert.Equal(t, []SecretVar{{Name: "MSGMIGRATE_STATE", Line: 1}}, m.Vars)
			}},
		{name: "big input on the volume", job: "state: ${S}\nsource: {kind: csv, path: exports/big.csv}\n",
			files: map[string]string{"exports/big.csv": strings.Repeat("x", 2*maxConfigMapBytes)}, opts: Options{Volume: "exports:/data"},
			check: func(t *testing.T, m *Manifests) {
				args := m.Job.Spec.Template.Spec.Containers[0].Args
				assert.Contains(t, args, "source.path=/data/exports/big.csv", "relative paths keep their layout below the mount")
				assert.Len(t, m.ConfigMap.Data, 1, "only the job file")
			}},
		{name: "input named by the Secret, on the volume", job: "state: ${S}\nsource: {kind: csv, path: '${INPUT:-exports/m.csv}'}\n",
			opts: Options{Volume: "exports:/data"},
			check: func(t *testing.T, m *Manifests) {
				for _, a := range m.Job.Spec.Template.Spec.Containers[0].Args {
					assert.NotContains(t, a, "source.path", "a --set would hide the Secret's INPUT")
				}
				assert.Contains(t, m.Vars, SecretVar{Name: "INPUT", Optional: true, Line: 2})
			}},
		{name: "ledger source from the Secret", job: "state: ${S}\nsource: {kind: ledger, state: '${GORGIAS_STATE:-gorgias.db}'}\n",
			check: func(t *testing.T, m *Manifests) {
				assert.Contains(t, m.Vars, SecretVar{Name: "GORGIAS_STATE", Line: 2}, "required: its default is a local file")
			}},
		{name: "control bytes in a lookup table", job: "state: ${S}\nlookups:\n  c: {file: c.csv, key: k, value: v}\n",
			files: map[string]string{"c.csv": "k,v\n\x01,\x7f\n"},
			check: func(t *testing.T, m *Manifests) {
				assert.Equal(t, []byte("k,v\n\x01,\x7f\n"), m.ConfigMap.BinaryData["c.csv"], "bytes YAML cannot hold as text")
			}},
		{name: "ids file of a vendor source", job: "state: ${S}\nsource: {kind: ezimanager, ids: ids.txt}\nsink: {kind: ezimanager, timeout: 10s}\n",
			files: map[string]string{"ids.txt": "0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b\n"},
			check: func(t *testing.T, m *Manifests) {
				assert.Contains(t, m.ConfigMap.Data, "ids.txt")
				// ezimanager's sink reads the message before it writes it.
				assert.Equal(t, int64(2*10+30), *m.Job.Spec.Template.Spec.TerminationGracePeriodSeconds)
			}},
		{name: "vendor source", job: "state: ${S}\nsource: {kind: gorgias, api_key: '${GORGIAS_API_KEY}'}\nsink: {kind: mykaarma}\n",
			check: func(t *testing.T, m *Manifests) {
				assert.Len(t, m.ConfigMap.Data, 1)
				assert.Equal(t, int64(60+30), *m.Job.Spec.Template.Spec.TerminationGracePeriodSeconds, "the default sink timeout")
			}},
		{name: "metrics port", job: "state: ${S}\nmetrics: {listen: ':9464'}\n",
			check: func(t *testing.T, m *Manifests) {
				assert.Equal(t, []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9464, Protocol: corev1.ProtocolTCP}},
					m.Job.Spec.Template.Spec.Containers[0].Ports)
			}},
		{name: "no metrics port", job: "state: ${S}\nmetrics: {push: {url: 'http://pushgateway:9091'}}\n",
			check: func(t *testing.T, m *Manifests) {
				assert.Empty(t, m.Job.Spec.Template.Spec.Containers[0].Ports)
			}},
		{name: "jsonl to the log", job: "state: ${S}\nsink: {kind: jsonl, path: '-'}\n"},
		{name: "grace period", job: "state: ${S}\nsink: {kind: superoffice, timeout: '${T}'}\n", opts: Options{GracePeriod: 150500 * time.Millisecond},
			check: func(t *testing.T, m *Manifests) {
				assert.Equal(t, int64(151), *m.Job.Spec.Template.Spec.TerminationGracePeriodSeconds)
			}},
		{name: "name from the file", job: "state: ${S}\n",
			check: func(t *testing.T, m *Manifests) {
				assert.Equal(t, "dealer-march-2024", m.Name)
				assert.Equal(t, "dealer-march-2024-env", m.Secret)
			}},
		{name: "longest name", job: "state: ${S}\n", opts: Options{Name: strings.Repeat("a", 61), Shards: 10},
			check: func(t *testing.T, m *Manifests) {
				assert.Equal(t, strings.Repeat("a", 61), m.Job.Name, "host name aaa…-9 is 63 characters")
			}},
		{name: "shared lookup", job: "state: ${S}\nmapping: m/map.yaml\nlookups:\n  c: {file: tables/c.csv, key: k, value: v}\n",
			files: map[string]string{
				"m/map.yaml":   "version: 1\nsink: mykaarma\nfields: {sourceUuid: 'lookup(\"c\", row.id)'}\nlookups:\n  c: {file: ../tables/c.csv, key: k, value: v}\n  d: {file: ../other/c.csv, key: k, value: v}\n",
				"tables/c.csv": "k,v\n", "other/c.csv": "k,v\n1,2\n"},
			check: func(t *testing.T, m *Manifests) {
				items := m.Job.Spec.Template.Spec.Volumes[0].ConfigMap.Items
				assert.Equal(t, []corev1.KeyToPath{{Key: "Dealer_March_2024.yaml", Path: "Dealer March 2024.yaml"}, {Key: "map.yaml", Path: "m/map.yaml"},
					{Key: "c.csv", Path: "tables/c.csv"}, {Key: "c-2.csv", Path: "other/c.csv"}}, items)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(dir, filepath.FromSlash(name))
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
				require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
			}
			path := filepath.Join(dir, "Dealer March 2024.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tt.job), 0o644))
			o := tt.opts
			o.Image = "msgmigrate:1"
			m, err := Generate(path, o)
			require.NoError(t, err)
			var b bytes.Buffer
			require.NoError(t, m.WriteYAML(&b))
			decodeYAML(t, b.Bytes())
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

func TestSecretVars(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "job.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`source: {kind: gorgias, url: '${GORGIAS_URL:-sandbox}', api_key: '${GORGIAS_API_KEY}'}
sink:
  kind: mykaarma
  url: ${MYKAARMA_URL:-sandbox}/${MYKAARMA_URL}
  username: $${NOT_A_VAR}
  password: "${MYKAARMA_PASSWORD:-}"
state: ${MSGMIGRATE_STATE:-local.db}
`), 0o644))
	jf, err := readJob(path, []string{"sink.rate=${RATE:-20/s}"})
	require.NoError(t, err)
	assert.Equal(t, []SecretVar{
		{Name: "GORGIAS_API_KEY", Line: 1},
		{Name: "GORGIAS_URL", Optional: true, Line: 1},
		{Name: "MSGMIGRATE_STATE", Line: 7},                  // a local default does not make it optional
		{Name: "MYKAARMA_PASSWORD", Optional: true, Line: 6}, // an empty default is a default
		{Name: "MYKAARMA_URL", Line: 4},                      // once without a default: required
		{Name: "RATE", Optional: true},                       // from --set
	}, jf.secretVars())
	// The view: defaults taken, required variables kept as references.
	url, _ := scalar(jf.view, "sink.url")
	assert.Equal(t, "${MYKAARMA_URL}/${MYKAARMA_URL}", url, "required: no default applies")
	gorgias, _ := scalar(jf.view, "source.url")
	assert.Equal(t, "sandbox", gorgias)
	user, _ := scalar(jf.view, "sink.username")
	assert.Equal(t, "${NOT_A_VAR}", user)
}

func TestArgsEscapeDollars(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "job.yaml")
	require.NoError(t, os.WriteFile(path, []byte("state: ${S}\n"), 0o644))
	m, err := Generate(path, Options{Image: "msgmigrate:1", Sets: []string{"sink.url=${URL}", "sink.note=$(HOSTNAME)"}})
	require.NoError(t, err)
	args := m.Job.Spec.Template.Spec.Containers[0].Args
	// The kubelet reads $$ as $ and expands $(VAR): both reach msgmigrate as written.
	assert.Contains(t, args, "sink.url=$${URL}")
	assert.Contains(t, args, "sink.note=$$(HOSTNAME)")
}

func TestPullPolicy(t *testing.T) {
	for image, want := range map[string]string{
		"msgmigrate":                          "Always",
		"msgmigrate:latest":                   "Always",
		"localhost:5000/msgmigrate":           "Always",
		"localhost:5000/msgmigrate:1.4.0":     "IfNotPresent",
		"ghcr.io/x/msgmigrate@sha256:abcdef0": "IfNotPresent",
	} {
		assert.Equal(t, want, defaultPullPolicy(image), image)
	}
}

func TestLiteralPassword(t *testing.T) {
	for raw, want := range map[string]bool{
		"postgres://mm:secret@db/x":                    true,
		"postgres://mm:${PGPASSWORD}@db/x":             false,
		"postgres://mm@db/x":                           false,
		"postgres://db/x?password=secret":              true,
		"postgres://db/x?sslmode=verify-full":          false,
		"postgresql://db:5432/x?PASSWORD=${PG}":        false,
		"postgres://mm:@db/x":                          false,
		"postgres://mm:p%40ss@db/x?application_name=a": true,
	} {
		assert.Equal(t, want, literalPassword(raw), raw)
	}
}

// FuzzGenerate: whatever the job file says, Generate refuses it or writes
// manifests the API's types decode strictly.
//
//	go test ./kube -run XXX -fuzz FuzzGenerate
func FuzzGenerate(f *testing.F) {
	seed, err := os.ReadFile(dealer)
	require.NoError(f, err)
	f.Add(string(seed), "")
	f.Add("state: ${S}\nsource: {kind: csv, path: m.csv}\nmetrics: {listen: ':9464'}\n", "source.path=/data/x.csv")
	f.Add("state: postgres://u:${P}@h/db?password=x\nsink: {kind: superoffice, timeout: 5s}\n", "sink.timeout=${T:-1m}")
	f.Add("state: ${S:-${T}}\nsource: {kind: ledger, path: $${X}}\n", "state=")
	f.Fuzz(func(t *testing.T, text, set string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "job.yaml")
		require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "m.csv"), []byte("id\n1\n"), 0o644))
		var sets []string
		if set != "" {
			sets = []string{set}
		}
		m, err := Generate(path, Options{Image: "msgmigrate:1", Shards: 3, Volume: "v:/data", Sets: sets})
		if err != nil {
			return
		}
		var b bytes.Buffer
		require.NoError(t, m.WriteYAML(&b))
		d := decodeYAML(t, b.Bytes())
		assert.Equal(t, int32(3), *d.job.Spec.Completions)
	})
}

// Shards of a vendor source each read the whole listing: allowed, but the
// instructions say what it costs and how to split by account instead.
func TestShardsOfAVendorSourceAreNoted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gorgias.yaml")
	require.NoError(t, os.WriteFile(path, []byte("state: ${S}\nsource: {kind: gorgias, api_key: '${GORGIAS_API_KEY}'}\nsink: {kind: mykaarma}\n"), 0o644))
	for _, tt := range []struct {
		shards int
		note   bool
	}{{1, false}, {4, true}} {
		m, err := Generate(path, Options{Image: "msgmigrate:1", Shards: tt.shards})
		require.NoError(t, err)
		var b bytes.Buffer
		require.NoError(t, m.WriteYAML(&b))
		decodeYAML(t, b.Bytes())
		if tt.note {
			assert.Contains(t, m.Instructions(), "Note: every one of the 4 shards reads the whole gorgias source")
			assert.Contains(t, m.Instructions(), "one job per account")
		} else {
			assert.NotContains(t, m.Instructions(), "Note:")
		}
	}
}
