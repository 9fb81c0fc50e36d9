package pipeline

import (
	"fmt"
	"hash/fnv"
	"path/filepath"
	"strings"

	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/ledger"
)

// forShard is the job as one shard runs it: its own report and failures
// file (job.shard-3-of-8.report.json), as it has its own ledger.
func forShard(j *job.Job, s ledger.Shard) *job.Job {
	if s.Count == 0 {
		return j
	}
	c := *j
	c.Report, c.Failures = ShardFile(j.Report, s), ShardFile(j.Failures, s)
	return &c
}

// ShardFile names a shard's own file: report.json → report.shard-3-of-8.json.
func ShardFile(path string, s ledger.Shard) string {
	if s.Count == 0 || path == "" {
		return path
	}
	ext := filepath.Ext(path)
	if strings.HasSuffix(path, ".report.json") {
		ext = ".report.json"
	}
	return fmt.Sprintf("%s.shard-%d-of-%d%s", strings.TrimSuffix(path, ext), s.Index, s.Count, ext)
}

// ShardOf is the shard (of n) a route falls to: every record of a route in
// one shard, so batches stay full and every copy of a key stays together.
// FNV-1a: stable across processes, machines and versions.
func ShardOf(route string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(route))
	return int(h.Sum64() % uint64(n))
}
