package pipeline

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/job"
	"github.com/msgmigrate/msgmigrate/ledger"
	_ "github.com/msgmigrate/msgmigrate/ledger/sqlite"
)

// An incremental job's watermark is the oldest of its shards', and there is
// none until every shard has completed a run: a shard that never finished
// would otherwise skip what it never read.
func TestTheJobsWatermarkWaitsForEveryShard(t *testing.T) {
	state := filepath.Join(t.TempDir(), "job.db")
	shards := make([]ledger.Ledger, 3)
	for i := range shards {
		l, err := ledger.Open(state, ledger.Options{Shard: ledger.Shard{Index: i, Count: len(shards)}})
		require.NoError(t, err)
		defer l.Close()
		shards[i] = l
	}
	r := &run{job: &job.Job{State: state}, led: shards[0], opts: Options{Shard: ledger.Shard{Index: 0, Count: len(shards)}}}
	at := func(s string) time.Time {
		w, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return w
	}
	marks := []string{"2026-11-02T10:00:00Z", "2026-11-01T08:00:00Z", "2026-11-03T00:00:00Z"}
	for i, m := range marks {
		_, ok, err := r.jobWatermark()
		require.NoError(t, err)
		assert.False(t, ok, "%d of %d shards have completed: no watermark", i, len(shards))
		require.NoError(t, shards[i].SetMeta(watermarkKey, m))
	}
	w, ok, err := r.jobWatermark()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, at(marks[1]), w, "the oldest shard's")
}
