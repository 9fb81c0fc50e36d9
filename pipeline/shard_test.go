package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/internal/gen"
	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/pipeline"
	"github.com/msgmigrate/msgmigrate/sandbox"
)

// Shards by route: each shard reads the whole input and keeps the records
// whose route falls to it; together they load every record once, every
// route in one shard (so batches stay full), each shard in its own ledger.
func TestShardsByRouteLoadEveryRecordOnce(t *testing.T) {
	var sb strings.Builder
	per, err := gen.Write(&sb, gen.Spec{Rows: 2000, Routes: 60, Seed: 11})
	require.NoError(t, err)
	h := newHarness(t, sb.String(), sandbox.Faults{Throttle: 0.03, ServerError: 0.03, Seed: 5}, "")
	const n = 3
	var loaded, other, requests int64
	for i := range n {
		rep := h.run(func(o *pipeline.Options) { o.Shard = ledger.Shard{Index: i, Count: n} })
		assert.Equal(t, fmt.Sprintf("%d/%d", i, n), rep.Shard)
		assert.Equal(t, int64(2000), rep.Read, "each shard reads the whole input")
		assert.Equal(t, rep.Read, rep.Loaded+rep.Skipped+rep.Failed+rep.Unsent+rep.OtherShards)
		loaded += rep.Loaded
		other += rep.OtherShards
		requests += rep.Requests - rep.Retried
	}
	assert.Equal(t, int64(2000), loaded)
	assert.Equal(t, int64(2000*(n-1)), other)
	assert.Equal(t, int64(2000), h.fake.MyKaarma.Unique())
	for _, st := range h.fake.MyKaarma.All() {
		assert.Equal(t, 1, st.Times)
	}
	assert.LessOrEqual(t, requests-h.fake.MyKaarma.Stats.Throttled.Load(), int64(per.MinRequests(100))+int64(n),
		"whole routes in one shard: about the fewest requests the routes allow")

	// Every shard's ledger is read as one: status totals, idmap, retry.
	rs, err := ledger.Readers(h.load().State)
	require.NoError(t, err)
	require.Len(t, rs, n)
	var total int64
	for _, r := range rs {
		c, err := r.Counts()
		require.NoError(t, err)
		total += c.Loaded
		r.Close()
	}
	assert.Equal(t, int64(2000), total)

	// A rerun of every shard sends nothing.
	before := h.fake.MyKaarma.Stats.Requests.Load()
	for i := range n {
		rep := h.run(func(o *pipeline.Options) { o.Shard = ledger.Shard{Index: i, Count: n} })
		assert.Zero(t, rep.Loaded)
	}
	assert.Equal(t, before, h.fake.MyKaarma.Stats.Requests.Load())
}

// Shards by file: a directory of part files, each shard opening only its
// own parts.
func TestShardsByFileReadOnlyTheirParts(t *testing.T) {
	h := newHarness(t, "", sandbox.Faults{}, "")
	parts := filepath.Join(h.dir, "parts")
	require.NoError(t, os.MkdirAll(parts, 0o755))
	for p := range 4 {
		var b strings.Builder
		b.WriteString(csvHeader)
		for i := range 250 {
			b.WriteString(row(p*1000+i, fmt.Sprintf("part %d row %d", p, i)))
		}
		require.NoError(t, os.WriteFile(filepath.Join(parts, fmt.Sprintf("part-%04d.csv", p)), []byte(b.String()), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(parts, "_SUCCESS"), nil, 0o644))
	text := strings.Replace(mustRead(t, h.job), "path: messages.csv", "path: parts", 1)
	require.NoError(t, os.WriteFile(h.job, []byte(text+"shard: {count: 2, by: file}\n"), 0o644))
	var read, loaded int64
	for i := range 2 {
		j := h.load()
		rep, err := pipeline.Run(context.Background(), context.Background(), j, func() pipeline.Options {
			o := h.opts()
			o.Shard, o.ShardByFile = ledger.Shard{Index: i, Count: 2}, true
			return o
		}())
		require.NoError(t, err)
		assert.Equal(t, int64(500), rep.Read, "two parts of 250: not the other shard's")
		assert.Zero(t, rep.OtherShards)
		read += rep.Read
		loaded += rep.Loaded
	}
	assert.Equal(t, int64(1000), read)
	assert.Equal(t, int64(1000), loaded)
	assert.Equal(t, int64(1000), h.fake.MyKaarma.Unique(), "the parts' ids are distinct")
}
