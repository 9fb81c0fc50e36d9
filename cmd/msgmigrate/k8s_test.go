package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func TestK8s(t *testing.T) {
	const quickstart = "../../examples/quickstart.yaml"

	// The quick start keeps its ledger in a local file: refused, naming the line.
	code, out, errs := run(t, "k8s", quickstart, "--image", "msgmigrate:1")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, errs, quickstart+`:17: state: "../.msgmigrate/quickstart.db" is not a postgres:// URL, so the ledger would be a SQLite file on the pod's own disk`)

	code, out, errs = run(t, "k8s", quickstart, "--image", "msgmigrate:1", "--shards", "4", "--parallelism", "2",
		"--set", "state=${MSGMIGRATE_STATE}", "--namespace", "migrations")
	require.Equal(t, 0, code, errs)
	docs := strings.Split(out, "\n---\n")
	require.Len(t, docs, 3)
	assert.Contains(t, docs[0], "kubectl create secret generic quickstart-env --namespace migrations \\\n#        --from-literal=MSGMIGRATE_STATE='…'")
	var cm corev1.ConfigMap
	require.NoError(t, yaml.UnmarshalStrict([]byte(docs[1]), &cm))
	var j batchv1.Job
	require.NoError(t, yaml.UnmarshalStrict([]byte(docs[2]), &j))
	assert.Equal(t, int32(4), *j.Spec.Completions)
	assert.Equal(t, int32(2), *j.Spec.Parallelism)
	args := j.Spec.Template.Spec.Containers[0].Args
	assert.Equal(t, []string{"run", "/etc/msgmigrate/examples/quickstart.yaml", "--shard", "auto/4", "--parallelism", "2"}, args[:6])
	assert.Contains(t, args, "state=$${MSGMIGRATE_STATE}", "--set reaches the pods, escaped for the kubelet")

	// -o json: one List on stdout, the Secret's instructions on stderr.
	code, out, errs = run(t, "k8s", quickstart, "--image", "msgmigrate:1", "--set", "state=${MSGMIGRATE_STATE}", "-o", "json")
	require.Equal(t, 0, code, errs)
	var list struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	assert.Equal(t, "List", list.Kind)
	assert.Len(t, list.Items, 2)
	assert.Contains(t, errs, "kubectl create secret generic quickstart-env")

	// The job is loaded as run loads it: an unknown key is the same error.
	dir := t.TempDir()
	bad := write(t, dir, "bad.yaml", "source: {kind: gorgias}\nmapping: builtin:gorgias-to-mykaarma\nsink: {kind: mykaarma}\nstate: ${S}\nfailure: f.jsonl\n")
	code, _, errs = run(t, "k8s", bad, "--image", "msgmigrate:1")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, bad+`:5: unknown key "failure"`)

	code, _, errs = run(t, "k8s", quickstart, "--set", "state=${S}")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `required flag(s) "image" not set`)
}
