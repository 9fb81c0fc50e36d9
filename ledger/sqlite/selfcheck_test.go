package sqlite

import (
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/ledger/ledgertest"
)

func filled(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "job.db")
	d, err := Open(path, ledger.Options{})
	require.NoError(t, err)
	run, err := d.StartRun("job.yaml", "run")
	require.NoError(t, err)
	var es []ledger.Entry
	for i := range n {
		es = append(es, ledgertest.Item("k"+strconv.Itoa(i), ledger.Loaded, i+2))
	}
	require.NoError(t, d.Write(run, es, nil, nil))
	require.NoError(t, d.Close())
	return path
}

func knows(t *testing.T, d *DB, n int) {
	t.Helper()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	seen := make([]ledger.Seen, n)
	require.NoError(t, d.Lookup(keys, seen))
	for i, s := range seen {
		require.True(t, s.Known, keys[i])
		require.Equal(t, ledger.Loaded, s.Status)
	}
}

// A ledger file that holds no ledger is refused, naming it — never taken
// for a fresh one (which would send everything again).
func TestAFileThatIsNotALedgerIsRefused(t *testing.T) {
	cases := map[string]func(path string){
		"zero length": func(path string) { require.NoError(t, os.Truncate(path, 0)) },
		"another file": func(path string) {
			require.NoError(t, os.WriteFile(path, []byte("id,body\n1,hello\n"), 0o644))
		},
		"another database": func(path string) {
			os.Remove(path)
			db, err := sql.Open("sqlite", path)
			require.NoError(t, err)
			_, err = db.Exec(`CREATE TABLE t(x)`)
			require.NoError(t, err)
			db.Close()
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			path := filled(t, 10)
			os.Remove(path + "-wal")
			damage(path)
			_, err := Open(path, ledger.Options{})
			require.ErrorIs(t, err, ledger.ErrNotLedger)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), "--new-ledger")
			_, err = OpenReader(path)
			require.ErrorIs(t, err, ledger.ErrNotLedger)

			// Starting over on purpose sets the damaged file aside.
			d, err := Open(path, ledger.Options{NewLedger: true})
			require.NoError(t, err)
			c, err := d.Counts()
			require.NoError(t, err)
			assert.Zero(t, c.Loaded)
			require.NoError(t, d.Close())
			aside, _ := filepath.Glob(path + ".set-aside-*")
			assert.NotEmpty(t, aside, "nothing is deleted")
		})
	}
}

// A ledger that vanished while the traces of an earlier run remain (its
// report, its key index) is not silently started afresh.
func TestAVanishedLedgerIsNoticed(t *testing.T) {
	path := filled(t, 10)
	report := filepath.Join(filepath.Dir(path), "job.report.json")
	require.NoError(t, os.WriteFile(report, []byte(`{}`), 0o644))
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	_, err := Open(path, ledger.Options{Traces: []string{report}})
	require.ErrorIs(t, err, ledger.ErrNotLedger)
	assert.Contains(t, err.Error(), "is missing")

	require.NoError(t, os.RemoveAll(path+".keys"))
	_, err = Open(path, ledger.Options{Traces: []string{report}})
	require.ErrorIs(t, err, ledger.ErrNotLedger, "the report alone is a trace")
	assert.Contains(t, err.Error(), report)

	d, err := Open(path, ledger.Options{Traces: []string{report}, NewLedger: true})
	require.NoError(t, err)
	require.NoError(t, d.Close())
}

func TestAFreshJobGetsAFreshLedger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "job.db")
	d, err := Open(path, ledger.Options{Traces: []string{filepath.Join(filepath.Dir(path), "job.report.json")}})
	require.NoError(t, err)
	require.NoError(t, d.Close())
}

// The key index is derived: lost or damaged, it is rebuilt from the file,
// and a run that died before sealing it is caught up.
func TestTheKeyIndexIsRebuilt(t *testing.T) {
	t.Run("deleted", func(t *testing.T) {
		path := filled(t, 500)
		require.NoError(t, os.RemoveAll(path+".keys"))
		d, err := Open(path, ledger.Options{})
		require.NoError(t, err)
		defer d.Close()
		knows(t, d, 500)
	})
	t.Run("damaged", func(t *testing.T) {
		path := filled(t, 500)
		runs, _ := filepath.Glob(path + ".keys/*.run")
		require.NotEmpty(t, runs)
		require.NoError(t, os.Truncate(runs[0], 100))
		d, err := Open(path, ledger.Options{})
		require.NoError(t, err)
		defer d.Close()
		knows(t, d, 500)
	})
	t.Run("not sealed", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "job.db")
		d, err := Open(path, ledger.Options{})
		require.NoError(t, err)
		run, _ := d.StartRun("job.yaml", "run")
		var es []ledger.Entry
		for i := range 300 {
			es = append(es, ledgertest.Item("k"+strconv.Itoa(i), ledger.Loaded, i+2))
		}
		require.NoError(t, d.Write(run, es, nil, nil))
		// Die without sealing: close the index without Flush.
		require.NoError(t, d.closeAll())
		d, err = Open(path, ledger.Options{})
		require.NoError(t, err)
		defer d.Close()
		knows(t, d, 300)
	})
	t.Run("from another ledger", func(t *testing.T) {
		big := filled(t, 50)
		small := filepath.Join(t.TempDir(), "job.db")
		d, err := Open(small, ledger.Options{})
		require.NoError(t, err)
		require.NoError(t, d.Close())
		// A restore put back the file, not its index: the index of the
		// bigger ledger is beside a smaller file.
		require.NoError(t, os.RemoveAll(small+".keys"))
		require.NoError(t, os.Rename(big+".keys", small+".keys"))
		d, err = Open(small, ledger.Options{})
		require.NoError(t, err)
		defer d.Close()
		seen := make([]ledger.Seen, 1)
		require.NoError(t, d.Lookup([]string{"k1"}, seen))
		assert.False(t, seen[0].Known, "the index answers for its own ledger only")
	})
}

func TestShardPaths(t *testing.T) {
	assert.Equal(t, "/s/job.db", ShardPath("/s/job.db", ledger.Shard{}))
	assert.Equal(t, "/s/job.shard-3-of-8.db", ShardPath("/s/job.db", ledger.Shard{Index: 3, Count: 8}))
	assert.Equal(t, "/s/state.shard-0-of-2.db", ShardPath("/s/state", ledger.Shard{Index: 0, Count: 2}))
}

// A ledger written by the first layout is upgraded in place, its log
// applied, nothing lost.
func TestALedgerOfTheFirstLayoutIsUpgraded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	for _, s := range []string{
		`CREATE TABLE items (key TEXT PRIMARY KEY, route TEXT NOT NULL, origin TEXT NOT NULL, hash BLOB NOT NULL, status TEXT NOT NULL,
			target_id TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0, code TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '',
			payload BLOB, kept TEXT, run_id INTEGER NOT NULL, updated_at TEXT NOT NULL) WITHOUT ROWID`,
		`CREATE INDEX items_status ON items(status)`,
		`CREATE TABLE log (id INTEGER PRIMARY KEY, key TEXT NOT NULL, route TEXT NOT NULL, origin TEXT NOT NULL, hash BLOB NOT NULL, status TEXT NOT NULL,
			target_id TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0, code TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '',
			payload BLOB, kept TEXT, run_id INTEGER NOT NULL, updated_at TEXT NOT NULL)`,
		`CREATE TABLE record_failures (run_id INTEGER NOT NULL, origin TEXT NOT NULL, stage TEXT NOT NULL, error TEXT NOT NULL)`,
		`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`CREATE TABLE runs (id INTEGER PRIMARY KEY, job TEXT NOT NULL, command TEXT NOT NULL, started_at TEXT NOT NULL,
			finished_at TEXT NOT NULL DEFAULT '', state TEXT NOT NULL, last_origin TEXT NOT NULL DEFAULT '', counts TEXT NOT NULL DEFAULT '{}')`,
		`INSERT INTO runs(job, command, started_at, state) VALUES('job.yaml', 'run', '2026-11-01T00:00:00Z', 'completed')`,
		`INSERT INTO items VALUES('a', '["d","c"]', 'm.csv:2', x'00000000000000000000000000000001', 'loaded', 'T-a', 1, '', '', NULL, NULL, 1, '2026-11-01T00:00:01Z')`,
		`INSERT INTO items VALUES('b', '["d","c"]', 'gorgias message 77', x'00000000000000000000000000000002', 'failed', '', 1, 'BAD', 'no', x'7b7d', NULL, 1, '2026-11-01T00:00:02Z')`,
		`INSERT INTO log(key, route, origin, hash, status, target_id, run_id, updated_at) VALUES('b', '["d","c"]', 'gorgias message 77', x'00000000000000000000000000000002', 'loaded', 'T-b', 1, '2026-11-01T00:00:03Z')`,
		`INSERT INTO record_failures VALUES(1, 'm.csv:9', 'map', 'sentOn: bad')`,
		`INSERT INTO meta VALUES('watermark', '2026-11-01T00:00:00Z')`,
	} {
		_, err := db.Exec(s)
		require.NoError(t, err, s)
	}
	db.Close()

	d, err := Open(path, ledger.Options{})
	require.NoError(t, err)
	defer d.Close()
	seen := make([]ledger.Seen, 2)
	require.NoError(t, d.Lookup([]string{"a", "b"}, seen))
	assert.Equal(t, ledger.Loaded, seen[0].Status)
	assert.Equal(t, ledger.Loaded, seen[1].Status, "the log's later outcome was applied")
	o, err := d.Origin("b")
	require.NoError(t, err)
	assert.Equal(t, "gorgias message 77", o)
	c, err := d.Counts()
	require.NoError(t, err)
	assert.Equal(t, int64(2), c.Loaded)
	assert.Equal(t, map[string]int64{"map": 1}, c.RecordFailures)
	wm, _ := d.Meta("watermark")
	assert.Equal(t, "2026-11-01T00:00:00Z", wm)
	var loaded []ledger.Entry
	require.NoError(t, d.Loaded(func(e ledger.Entry) error { loaded = append(loaded, e); return nil }))
	require.Len(t, loaded, 2)
	assert.Equal(t, "T-b", loaded[1].TargetID)
	assert.Equal(t, "m.csv:2", loaded[0].Origin.String())
}

// A state directory a run cannot write to is named, with why — not
// SQLite's "unable to open database file (14)". (A read-only file system
// refuses root too; a directory's mode does not, so the test needs one.)
func TestAReadOnlyStateDirectoryIsNamed(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o555))
	defer os.Chmod(dir, 0o755)
	if f, err := os.Create(filepath.Join(dir, "probe")); err == nil {
		f.Close()
		t.Skip("this user can write to a read-only directory (root): run the tests as another user to check this")
	}
	_, err := Open(filepath.Join(dir, "job.db"), ledger.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "its directory "+dir+" is not writable")
}
