package extract

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Shard is one shard of a job whose shards split the input by file.
type Shard struct{ Index, Count int }

// ByFile is implemented by sources that read part files and honour
// Env.Files: only they can be sharded by file.
type ByFile interface {
	ShardedByFile() bool
}

// PartFiles lists the files a file source reads from path: the file, the
// part files of a directory (not its _SUCCESS, .crc or other side files),
// or a glob's matches — in lexical order, the order a writer numbered them.
// With a shard, only every Count-th file from Index: a shard never opens
// another shard's files.
func PartFiles(kind, path string, shard Shard) ([]string, error) {
	var files []string
	switch {
	case strings.ContainsAny(path, "*?["):
		m, err := filepath.Glob(path)
		if err != nil {
			return nil, fmt.Errorf("%s source: %s: %w", kind, path, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("%s source: no file matches %s", kind, path)
		}
		files = m
	default:
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("%s source: %w", kind, err)
		}
		if !st.IsDir() {
			files = []string{path}
			break
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("%s source: %w", kind, err)
		}
		for _, e := range entries {
			n := e.Name()
			// Part files: skip Spark's _SUCCESS, .crc side files and the like.
			if e.IsDir() || strings.HasPrefix(n, "_") || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".crc") {
				continue
			}
			files = append(files, filepath.Join(path, n))
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s source: %s holds no part files", kind, path)
		}
	}
	slices.Sort(files)
	if shard.Count <= 1 {
		return files, nil
	}
	var mine []string
	for i, f := range files {
		if i%shard.Count == shard.Index {
			mine = append(mine, f)
		}
	}
	return mine, nil
}
