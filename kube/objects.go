package kube

import (
	"fmt"
	"strings"
	"unicode/utf8"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Exit codes of `msgmigrate run`, as the README documents them.
const (
	exitError       = 1 // configuration or fatal: every shard would fail alike
	exitFailed      = 2 // finished, with failed records: retrying the shard changes nothing
	exitInterrupted = 3 // SIGTERM drained: resumable
)

const (
	containerName = "msgmigrate"
	runAsID       = 65532 // distroless's "nonroot"; the Dockerfile's USER
)

func (g *generator) labels(component string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "msgmigrate",
		"app.kubernetes.io/instance":   g.name,
		"app.kubernetes.io/component":  component,
		"app.kubernetes.io/managed-by": "msgmigrate",
	}
}

func (g *generator) manifests() *Manifests {
	m := &Manifests{
		ConfigMap: g.configMap(),
		Name:      g.name,
		JobFile:   g.jf.path,
		Secret:    g.o.Secret,
		Vars:      g.jf.secretVars(),
		Namespace: g.o.Namespace,
		Notes:     g.notes,
	}
	spec := g.jobSpec(m.ConfigMap.Name)
	meta := metav1.ObjectMeta{Name: g.name, Namespace: g.o.Namespace, Labels: g.labels("migration")}
	if g.o.Schedule == "" {
		m.Job = &batchv1.Job{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}, ObjectMeta: meta, Spec: spec}
		return m
	}
	cron := batchv1.CronJobSpec{
		Schedule: g.o.Schedule,
		// Two runs of one job must never overlap: they share the ledger,
		// and each would take the whole rate.
		ConcurrencyPolicy:          batchv1.ForbidConcurrent,
		StartingDeadlineSeconds:    new(int64(g.o.StartingDeadline.Seconds())),
		SuccessfulJobsHistoryLimit: new(int32(cronHistory)),
		FailedJobsHistoryLimit:     new(int32(cronHistory)),
		JobTemplate: batchv1.JobTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: g.labels("migration")},
			Spec:       spec,
		},
	}
	if g.o.TimeZone != "" {
		cron.TimeZone = new(g.o.TimeZone)
	}
	m.CronJob = &batchv1.CronJob{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"}, ObjectMeta: meta, Spec: cron}
	return m
}

func (g *generator) configMap() *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      g.name + "-" + g.configHash(),
			Namespace: g.o.Namespace,
			Labels:    g.labels("config"),
		},
		// Immutable and named by its content: a changed job file is a new
		// ConfigMap, never a change under a running Job.
		Immutable: new(true),
	}
	for _, f := range g.files {
		// Text goes in data, readable; other bytes in binaryData. A byte
		// order mark counts as other bytes: YAML emitters escape every
		// character after one, which makes the text unreadable anyway.
		if text := string(f.data); yamlText(text) && !strings.ContainsRune(text, '\uFEFF') {
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[f.key] = string(f.data)
			continue
		}
		if cm.BinaryData == nil {
			cm.BinaryData = map[string][]byte{}
		}
		cm.BinaryData[f.key] = f.data
	}
	return cm
}

func (g *generator) jobSpec(configMap string) batchv1.JobSpec {
	spec := batchv1.JobSpec{
		Completions:    new(int32(g.o.Shards)),
		Parallelism:    new(int32(g.o.Parallelism)),
		CompletionMode: new(batchv1.IndexedCompletion),
		// A shard is safe to retry: the ledger skips what it loaded.
		BackoffLimitPerIndex: new(g.o.BackoffLimitPerIndex),
		MaxFailedIndexes:     g.o.MaxFailedIndexes,
		PodFailurePolicy:     podFailurePolicy(),
		// A replacement starts only once the pod it replaces has stopped
		// (drained and recorded): two pods never work one shard at once.
		// With a podFailurePolicy it is the only value the API takes.
		PodReplacementPolicy: new(batchv1.Failed),
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: g.labels("migration")},
			Spec:       g.podSpec(configMap),
		},
	}
	if g.o.ActiveDeadline > 0 {
		spec.ActiveDeadlineSeconds = new(int64(g.o.ActiveDeadline.Seconds()))
	}
	if g.o.TTLAfterFinished != nil {
		spec.TTLSecondsAfterFinished = new(int32(g.o.TTLAfterFinished.Seconds()))
	}
	return spec
}

// podFailurePolicy maps msgmigrate's exit codes onto the Job (the Job page,
// "Pod failure policy"). Rules are read in order, the first match wins: a
// pod the cluster took away (a node drain, preemption, eviction) is not the
// shard's fault whatever it exited with, so that rule comes first.
func podFailurePolicy() *batchv1.PodFailurePolicy {
	onExit := func(action batchv1.PodFailurePolicyAction, code int32) batchv1.PodFailurePolicyRule {
		return batchv1.PodFailurePolicyRule{Action: action, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			ContainerName: new(containerName),
			Operator:      batchv1.PodFailurePolicyOnExitCodesOpIn,
			Values:        []int32{code},
		}}
	}
	return &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
			{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue},
		}},
		onExit(batchv1.PodFailurePolicyActionFailJob, exitError),
		onExit(batchv1.PodFailurePolicyActionFailIndex, exitFailed),
		onExit(batchv1.PodFailurePolicyActionIgnore, exitInterrupted),
	}}
}

func (g *generator) podSpec(configMap string) corev1.PodSpec {
	c := corev1.Container{
		Name:            containerName,
		Image:           g.o.Image,
		ImagePullPolicy: corev1.PullPolicy(g.o.PullPolicy),
		Args:            g.args(),
		Env:             g.env(),
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(g.o.CPU),
				corev1.ResourceMemory: resource.MustParse(g.o.Memory),
			},
			// No CPU limit: throttling a loader only slows it; memory is
			// the one that must stop a runaway.
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(g.o.MemoryLimit)},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "config", MountPath: ConfigDir, ReadOnly: true},
			{Name: "work", MountPath: WorkDir},
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: new(false),
			ReadOnlyRootFilesystem:   new(true),
			RunAsNonRoot:             new(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		// The last lines of the log become the pod's termination message:
		// `kubectl describe pod` shows why a shard failed.
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if g.metricsPort != 0 {
		c.Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: g.metricsPort, Protocol: corev1.ProtocolTCP}}
	}
	volumes := []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: configMap},
			Items:                g.items(),
		}}},
		{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	if g.claim != "" {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: g.mount, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: g.claim, ReadOnly: true},
		}})
	}
	return corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyNever, // the Job replaces a failed pod; podFailurePolicy needs Never
		TerminationGracePeriodSeconds: new(g.grace),
		AutomountServiceAccountToken:  new(false), // msgmigrate never calls the Kubernetes API
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   new(true),
			RunAsUser:      new(int64(runAsID)),
			RunAsGroup:     new(int64(runAsID)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{c},
		Volumes:    volumes,
	}
}

func (g *generator) items() []corev1.KeyToPath {
	out := make([]corev1.KeyToPath, len(g.files))
	for i, f := range g.files {
		out[i] = corev1.KeyToPath{Key: f.key, Path: f.rel}
	}
	return out
}

// args are the pod's command line (the image's entrypoint is msgmigrate).
// Kubernetes expands $(VAR) in args and reads $$ as $: every $ is doubled so
// that ${VAR} reaches msgmigrate as written.
func (g *generator) args() []string {
	args := []string{"run", ConfigDir + "/" + g.jobRel,
		"--shard", fmt.Sprintf("auto/%d", g.o.Shards), // auto: JOB_COMPLETION_INDEX
		"--parallelism", fmt.Sprint(g.o.Parallelism),
		"--log-format", "json", "--no-progress"}
	for _, s := range g.o.Sets {
		args = append(args, "--set", s)
	}
	// Last, so they win: the image is read-only, WorkDir is not.
	for _, s := range append(g.setArgs, "report="+WorkDir+"/report.json", "failures="+WorkDir+"/failures.jsonl") {
		args = append(args, "--set", s)
	}
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "$", "$$")
	}
	return args
}

// env: TMPDIR for the open batches' spill files, and one variable from the
// Secret for each ${VAR} of the job file. JOB_COMPLETION_INDEX is set by the
// Job controller itself for Indexed Jobs ("Indexed Job for Parallel
// Processing with Static Work Assignment", kubernetes.io).
func (g *generator) env() []corev1.EnvVar {
	env := []corev1.EnvVar{{Name: "TMPDIR", Value: WorkDir}}
	for _, v := range g.jf.secretVars() {
		ref := &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: g.o.Secret}, Key: v.Name}
		if v.Optional {
			ref.Optional = new(true) // absent: the job file's default applies
		}
		env = append(env, corev1.EnvVar{Name: v.Name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: ref}})
	}
	return env
}

// yamlText says whether s can be written as a YAML string: UTF-8 made of
// the characters YAML allows in a stream (YAML 1.1, 5.1 "Character Set":
// no control characters but tab and line breaks).
func yamlText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == '\t', r == '\n', r == '\r', r == 0x85,
			r >= 0x20 && r <= 0x7E, r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
	}
	return true
}
