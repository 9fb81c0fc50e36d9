// Package job reads a job file: where records come from, how they are mapped,
// where they go, and where the run keeps its state. Relative paths in a job
// file are relative to the job file's directory.
package job

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/msgmigrate/msgmigrate/config"
	"github.com/msgmigrate/msgmigrate/mappings"
	"github.com/msgmigrate/msgmigrate/transform"
)

// Job is a loaded job file.
type Job struct {
	File string // as given
	Dir  string // relative paths are resolved against it
	Name string // the file's base name without extension

	SourceKind string
	Source     config.Section
	SinkKind   string
	Sink       config.Section

	Mapping     string // as written: a path or builtin:NAME
	MappingFile string // for messages: the path, or builtin:NAME
	MappingData []byte
	MappingDir  string // where the mapping's lookup files are

	State    string // ledger path
	Report   string // JSON report path
	Failures string // JSON-lines failures path
	Location *time.Location
	Lookups  []transform.LookupSpec
	// Shards is shard.count (0: not sharded); ShardBy is shard.by: route
	// (the default) or file.
	Shards  int
	ShardBy string
	// Metrics is the metrics: section (nil node when absent).
	Metrics config.Section
}

var topKeys = []string{"source", "mapping", "sink", "state", "report", "failures", "timezone", "lookups", "shard", "metrics"}

// Load reads the job at path. sets are "dotted.key=value" overrides, as the
// --set flag gives them; lookup reads the environment.
func Load(path string, sets []string, lookup func(string) (string, bool)) (*Job, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: a job file is a YAML mapping with source, mapping and sink", path)
	}
	root := doc.Content[0]
	for _, s := range sets {
		if err := ApplySet(root, s); err != nil {
			return nil, err
		}
	}
	// Which variables the connectors' keys come from, before they are
	// read: a refused credential is then named by its variable.
	vars := map[string]map[string][]string{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i].Value; k == "source" || k == "sink" {
			vars[k] = config.VarsIn(root.Content[i+1])
		}
	}
	if err := config.Expand(path, root, lookup); err != nil {
		return nil, err
	}
	j := &Job{File: path, Dir: filepath.Dir(path)}
	j.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	var errs []error
	var tz string
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "source":
			j.Source = config.Section{File: path, Node: v, Dir: j.Dir, Vars: vars["source"]}
			j.SourceKind = kindOf(v)
		case "sink":
			j.Sink = config.Section{File: path, Node: v, Dir: j.Dir, Vars: vars["sink"]}
			j.SinkKind = kindOf(v)
		case "mapping":
			j.Mapping = v.Value
		case "state":
			j.State = v.Value
			if !strings.Contains(v.Value, "://") { // a file; else a database URL
				j.State = j.path(v.Value)
			}
		case "report":
			j.Report = j.path(v.Value)
		case "failures":
			j.Failures = j.path(v.Value)
		case "timezone":
			tz = v.Value
			loc, err := time.LoadLocation(tz)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: timezone %q: %w", config.Pos(path, v.Line), tz, err))
			}
			j.Location = loc
		case "lookups":
			specs, err := transform.ParseLookups(path, j.Dir, v)
			errs = append(errs, err)
			j.Lookups = specs
		case "shard":
			var s struct {
				Count int    `yaml:"count"`
				By    string `yaml:"by"`
			}
			if err := (config.Section{File: path, Node: v}).Decode(&s); err != nil {
				errs = append(errs, err)
				continue
			}
			switch {
			case s.Count < 1:
				errs = append(errs, fmt.Errorf("%s: shard.count must be at least 1", config.Pos(path, v.Line)))
			case s.By != "" && s.By != "route" && s.By != "file":
				errs = append(errs, fmt.Errorf("%s: shard.by %q: want route (the default) or file", config.Pos(path, v.Line), s.By))
			}
			j.Shards, j.ShardBy = s.Count, s.By
		case "metrics":
			j.Metrics = config.Section{File: path, Node: v, Dir: j.Dir}
		default:
			errs = append(errs, fmt.Errorf("%s:%d: unknown key %q (known: %s)", path, k.Line, k.Value, strings.Join(topKeys, ", ")))
		}
	}
	if j.SourceKind == "" {
		errs = append(errs, fmt.Errorf("%s: source.kind is required", path))
	}
	if j.SinkKind == "" {
		errs = append(errs, fmt.Errorf("%s: sink.kind is required", path))
	}
	if j.Mapping == "" {
		errs = append(errs, fmt.Errorf("%s: mapping is required (a file, or builtin:NAME — known: %s)", path, strings.Join(mappings.Names(), ", ")))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := j.readMapping(); err != nil {
		return nil, err
	}
	state := filepath.Join(j.Dir, ".msgmigrate", j.Name)
	if j.State == "" {
		j.State = state + ".db"
	}
	if j.Report == "" {
		j.Report = state + ".report.json"
	}
	if j.Failures == "" {
		j.Failures = state + ".failures.jsonl"
	}
	return j, nil
}

func (j *Job) path(p string) string { return config.Resolve(j.Dir, p) }

func (j *Job) readMapping() error {
	if name, ok := strings.CutPrefix(j.Mapping, mappings.Prefix); ok {
		data, err := mappings.Read(name)
		if err != nil {
			return fmt.Errorf("%s: mapping: %w", j.File, err)
		}
		j.MappingFile, j.MappingData, j.MappingDir = j.Mapping, data, j.Dir
		return nil
	}
	p := j.path(j.Mapping)
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("%s: mapping: %w", j.File, err)
	}
	j.MappingFile, j.MappingData, j.MappingDir = p, data, filepath.Dir(p)
	return nil
}

// Compile parses and compiles the job's mapping.
func (j *Job) Compile() (*transform.Program, error) {
	m, err := transform.ParseMapping(j.MappingFile, j.MappingData, j.MappingDir)
	if err != nil {
		return nil, err
	}
	return transform.Compile(m, transform.Options{Location: j.Location, Lookups: j.Lookups})
}

// SinkValue returns a scalar of the sink section (e.g. "url"), or "".
func (j *Job) SinkValue(key string) string {
	return scalar(j.Sink.Node, key)
}

// SourceValue returns a scalar of the source section, or "".
func (j *Job) SourceValue(key string) string {
	return scalar(j.Source.Node, key)
}

func kindOf(n *yaml.Node) string { return scalar(n, "kind") }

func scalar(n *yaml.Node, key string) string {
	if n == nil || n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}

// ApplySet sets a dotted key to a scalar value, creating mappings on the
// way: --set sink.concurrency=16. The value has no line (errors about it
// name --set).
func ApplySet(root *yaml.Node, set string) error {
	key, value, ok := strings.Cut(set, "=")
	if !ok || key == "" {
		return fmt.Errorf("--set %q: want key=value, e.g. sink.concurrency=16", set)
	}
	n := root
	parts := strings.Split(key, ".")
	for i, p := range parts {
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == p {
				next = n.Content[j+1]
				break
			}
		}
		last := i == len(parts)-1
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			if last {
				next = &yaml.Node{Kind: yaml.ScalarNode}
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: p, Tag: "!!str"}, next)
		}
		if last {
			next.Kind, next.Value, next.Tag, next.Content, next.Style, next.Line = yaml.ScalarNode, value, "", nil, 0, 0
			return nil
		}
		if next.Kind != yaml.MappingNode {
			return fmt.Errorf("--set %s: %s is not a mapping", key, strings.Join(parts[:i+1], "."))
		}
		n = next
	}
	return nil
}
