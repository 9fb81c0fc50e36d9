package pipeline

import "hash/fnv"

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
