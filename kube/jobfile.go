package kube

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/job"
)

// jobFile is a job file read for generating manifests: its text as written
// (for the ConfigMap), the ${VAR} names it uses (for the Secret), and a view
// with --set applied and ${VAR} expanded without the environment: a variable
// with a default takes it, the others read as "${NAME}".
type jobFile struct {
	path string // as given
	dir  string
	raw  []byte
	root *yaml.Node // --set applied, not expanded
	view *yaml.Node // --set applied and expanded
	vars map[string]*SecretVar
}

// SecretVar is a ${VAR} the job file uses: the pods read it from the Secret.
type SecretVar struct {
	Name     string
	Optional bool // every use gives a default: the Secret may leave it out
	Line     int  // of its first use
}

func readJob(path string, sets []string) (*jobFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	jf := &jobFile{path: path, dir: filepath.Dir(path), raw: raw, vars: map[string]*SecretVar{}}
	// Two parses rather than a deep copy: the view is expanded in place.
	if jf.root, err = parseJob(path, raw, sets); err != nil {
		return nil, err
	}
	if jf.view, err = parseJob(path, raw, sets); err != nil {
		return nil, err
	}
	if err := jf.collectVars(jf.root, ""); err != nil {
		return nil, err
	}
	// A ledger's URL must come from the Secret whatever default the file
	// gives: a default there is a local file, which a pod cannot keep.
	ledgers := []string{"state"}
	if kind, _ := scalar(jf.root, "source.kind"); kind == "ledger" {
		ledgers = append(ledgers, "source.state", "source.path")
	}
	for _, key := range ledgers {
		if n := at(jf.root, key); n != nil && n.Kind == yaml.ScalarNode {
			names, _ := varNames(n.Value)
			for _, name := range names {
				jf.vars[name].Optional = false
			}
		}
	}
	if err := config.Expand(path, jf.view, jf.lookup); err != nil {
		return nil, err
	}
	return jf, nil
}

func parseJob(path string, raw []byte, sets []string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: a job file is a YAML mapping with source, mapping and sink", path)
	}
	root := doc.Content[0]
	for _, s := range sets {
		if err := job.ApplySet(root, s); err != nil {
			return nil, err
		}
	}
	return root, nil
}

// lookup reads ${VAR} for the view: a default applies when every use has
// one; otherwise the value is the reference itself, which no check mistakes
// for a path or a URL.
func (jf *jobFile) lookup(name string) (string, bool) {
	if v, ok := jf.vars[name]; ok && !v.Optional {
		return "${" + name + "}", true
	}
	return "", false
}

// collectVars records every ${VAR} below n, and whether each use has a
// default, with config's own expansion (so the two can never disagree).
func (jf *jobFile) collectVars(n *yaml.Node, key string) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		names, err := varNames(n.Value)
		if err != nil {
			return &Error{File: jf.path, Line: n.Line, Key: key, Reason: err.Error()}
		}
		for _, name := range names {
			_, err := config.ExpandString(n.Value, func(v string) (string, bool) {
				return "x", v != name
			})
			v := jf.vars[name]
			if v == nil {
				v = &SecretVar{Name: name, Optional: true, Line: n.Line}
				jf.vars[name] = v
			}
			if err != nil {
				v.Optional = false
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := jf.collectVars(n.Content[i+1], joinKey(key, n.Content[i].Value)); err != nil {
				return err
			}
		}
	default:
		for _, c := range n.Content {
			if err := jf.collectVars(c, key); err != nil {
				return err
			}
		}
	}
	return nil
}

// varNames lists the variables s refers to, in order, once each.
func varNames(s string) ([]string, error) {
	var names []string
	seen := map[string]bool{}
	_, err := config.ExpandString(s, func(name string) (string, bool) {
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
		return "x", true
	})
	return names, err
}

// secretVars lists the variables in name order.
func (jf *jobFile) secretVars() []SecretVar {
	out := make([]SecretVar, 0, len(jf.vars))
	for _, v := range jf.vars {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func joinKey(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// child is the value of key in the mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// at is the node at a dotted key, or nil.
func at(n *yaml.Node, key string) *yaml.Node {
	for p := range strings.SplitSeq(key, ".") {
		n = child(n, p)
	}
	return n
}

// scalar is the scalar at a dotted key and its line; "" when absent.
func scalar(n *yaml.Node, key string) (string, int) {
	v := at(n, key)
	if v == nil || v.Kind != yaml.ScalarNode {
		return "", 0
	}
	return v.Value, v.Line
}
