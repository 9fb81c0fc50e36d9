package ledger

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func entry(key, status string) Entry {
	return Entry{Key: key, Route: []string{"d", "c"}, Origin: "m.csv:2", Hash: []byte("0123456789abcdef"), Status: status, Attempts: 1, Payload: []byte(`{"k":1}`)}
}

func TestWriteLookupCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.db")
	l, err := Open(path)
	require.NoError(t, err)
	run, err := l.StartRun("job.yaml", "run")
	require.NoError(t, err)
	ids, err := l.Write(run, []Entry{entry("a", Loaded), entry("b", Failed)}, []RecordFailure{{Origin: "m.csv:9", Stage: "map", Error: "bad"}})
	require.NoError(t, err)
	require.Len(t, ids, 2)
	key, seen, err := l.LogEntry(ids[1])
	require.NoError(t, err)
	assert.Equal(t, "b", key)
	assert.Equal(t, Failed, seen.Status)
	assert.Equal(t, run, seen.RunID)

	counts, err := l.Counts()
	require.NoError(t, err)
	assert.Equal(t, map[string]int{Loaded: 1, Failed: 1}, counts, "counts include the log")

	// A later failure of a loaded key never hides that it was delivered;
	// a later success of a failed key does count.
	_, err = l.Write(run, []Entry{entry("a", Failed), entry("b", Loaded)}, nil)
	require.NoError(t, err)
	require.NoError(t, l.Compact(nil))
	for _, k := range []string{"a", "b"} {
		e, ok, err := l.Entry(k)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, Loaded, e.Status, k)
	}
	e, _, _ := l.Entry("b")
	assert.Equal(t, 2, e.Attempts, "attempts add up")
	s, ok, err := l.Lookup("a")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "m.csv:2", s.Origin)
	_, ok, err = l.Lookup("zzz")
	require.NoError(t, err)
	assert.False(t, ok)
	rf, err := l.RecordFailures(run)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"map": 1}, rf)
	require.NoError(t, l.FinishRun(run, "completed", "m.csv:9", map[string]int{"read": 3}))
	require.NoError(t, l.Close())
}

func TestOneRunAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.db")
	l, err := Open(path)
	require.NoError(t, err)
	_, err = Open(path)
	assert.ErrorContains(t, err, "in use by another msgmigrate run")
	ro, err := OpenReadOnly(path)
	require.NoError(t, err, "status can look while a run holds the ledger")
	ro.Close()
	require.NoError(t, l.Close())
	l2, err := Open(path)
	require.NoError(t, err)
	l2.Close()
}

func TestOpenMergesWhatADeadRunLeft(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.db")
	l, err := Open(path)
	require.NoError(t, err)
	run, _ := l.StartRun("job.yaml", "run")
	_, err = l.Write(run, []Entry{entry("a", Loaded)}, nil)
	require.NoError(t, err)
	require.NoError(t, l.Close()) // no Compact: as if the process died

	l, err = Open(path)
	require.NoError(t, err)
	defer l.Close()
	_, ok, err := l.Lookup("a")
	require.NoError(t, err)
	assert.True(t, ok)
	runs, err := l.Runs(5)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	_, err = l.StartRun("job.yaml", "run")
	require.NoError(t, err)
	runs, _ = l.Runs(5)
	assert.Equal(t, "died", runs[1].State, "a run left running is marked as died")
	var failed []string
	require.NoError(t, l.Failed(func(e Entry) error { failed = append(failed, e.Key); return nil }))
	assert.Empty(t, failed)
}
