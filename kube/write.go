package kube

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

// objects are the manifests in the order they must be applied.
func (m *Manifests) objects() []any {
	if m.CronJob != nil {
		return []any{m.ConfigMap, m.CronJob}
	}
	return []any{m.ConfigMap, m.Job}
}

// WriteYAML writes the manifests as YAML documents, after a comment that
// says how to create the Secret (its values are never in the output).
func (m *Manifests) WriteYAML(w io.Writer) error {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(m.Instructions(), "\n"), "\n") {
		b.WriteString(strings.TrimRight("# "+line, " ") + "\n")
	}
	comments := []string{
		fmt.Sprintf("The job file and the files it names, read-only at %s in the pods. Immutable, named by its content.", ConfigDir),
		fmt.Sprintf("One pod per shard (JOB_COMPLETION_INDEX), %s at a time; exit 1 fails the Job, 2 fails the shard, 3 (drained) is retried.", parallelismText(m)),
	}
	for i, obj := range m.objects() {
		data, err := marshal(obj)
		if err != nil {
			return err
		}
		y, err := yaml.JSONToYAML(data)
		if err != nil {
			return fmt.Errorf("kube: %w", err)
		}
		fmt.Fprintf(&b, "---\n# %s\n%s", comments[i], y)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the manifests as one JSON List, as kubectl reads it.
func (m *Manifests) WriteJSON(w io.Writer) error {
	var items []json.RawMessage
	for _, obj := range m.objects() {
		data, err := marshal(obj)
		if err != nil {
			return err
		}
		items = append(items, data)
	}
	out, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}, "", "  ")
	if err != nil {
		return fmt.Errorf("kube: %w", err)
	}
	_, err = w.Write(append(out, '\n'))
	return err
}

// marshal is the object's JSON without its (empty) status: the output is
// for kubectl apply, which never sends a status.
func marshal(obj any) ([]byte, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	delete(fields, "status")
	return json.Marshal(fields)
}

func parallelismText(m *Manifests) string {
	spec := m.Job
	if spec == nil {
		return fmt.Sprint(*m.CronJob.Spec.JobTemplate.Spec.Parallelism)
	}
	return fmt.Sprint(*spec.Spec.Parallelism)
}

// Instructions say how to create the Secret and apply the manifests; the
// YAML output starts with them as a comment (for -o json, the CLI prints
// them on stderr).
func (m *Manifests) Instructions() string {
	var b strings.Builder
	ns := ""
	if m.Namespace != "" {
		ns = " --namespace " + m.Namespace
	}
	// Server-side: a client-side apply keeps a copy of the object in an
	// annotation, limited to 256 KiB, which a ConfigMap can pass.
	apply := "  kubectl apply --server-side" + ns + " -f FILE\n"
	kind := "an Indexed Job"
	if m.CronJob != nil {
		kind = fmt.Sprintf("a CronJob (%q) of Indexed Jobs", m.CronJob.Spec.Schedule)
	}
	fmt.Fprintf(&b, "msgmigrate k8s %s: %s named %s.\n", m.JobFile, kind, m.Name)
	for _, n := range m.Notes {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	var required, optional []SecretVar
	for _, v := range m.Vars {
		if v.Optional {
			optional = append(optional, v)
		} else {
			required = append(required, v)
		}
	}
	if len(m.Vars) > 0 {
		b.WriteString("\n1. Create the Secret the pods read the job's ${VAR}s from (its values never appear here):\n\n")
		fmt.Fprintf(&b, "     kubectl create secret generic %s%s", m.Secret, ns)
		for _, v := range required {
			fmt.Fprintf(&b, " \\\n       --from-literal=%s='…'", v.Name)
		}
		b.WriteString("\n")
		if len(optional) > 0 {
			names := make([]string, len(optional))
			for i, v := range optional {
				names[i] = v.Name
			}
			fmt.Fprintf(&b, "\n   Optional keys (the job file gives a default): %s.\n", strings.Join(names, ", "))
		}
		b.WriteString("\n2. Apply this file:" + apply)
	} else {
		b.WriteString("\nApply this file:" + apply)
	}
	fmt.Fprintf(&b, "\nWatch it:  kubectl get pods%s -l app.kubernetes.io/instance=%s\n", ns, m.Name)
	return b.String()
}
