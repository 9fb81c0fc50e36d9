package postgres

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/ledger/ledgertest"
)

func execSQL(t testing.TB, sql string, args ...any) {
	t.Helper()
	conn := connect(t, server(t))
	defer conn.Close(context.Background())
	_, err := conn.Exec(context.Background(), sql, args...)
	require.NoError(t, err, sql)
}

func count(t testing.TB, sql string, args ...any) int64 {
	t.Helper()
	conn := connect(t, server(t))
	defer conn.Close(context.Background())
	var n int64
	require.NoError(t, conn.QueryRow(context.Background(), sql, args...).Scan(&n), sql)
	return n
}

// A schema whose tables are not a msgmigrate ledger is refused, naming it,
// and left as it was — never taken for a fresh ledger, never written to.
func TestASchemaThatIsNotALedgerIsRefused(t *testing.T) {
	cases := map[string]string{
		"another application's tables":   `CREATE TABLE {s}.items (id int PRIMARY KEY, name text); CREATE TABLE {s}.runs (x int); INSERT INTO {s}.items VALUES (1, 'kept')`,
		"a ledger of another layout":     `CREATE TABLE {s}.msgmigrate_ledger (layout text, created_at timestamptz); INSERT INTO {s}.msgmigrate_ledger VALUES ('msgmigrate postgres ledger 99', now())`,
		"a layout table without its row": `CREATE TABLE {s}.msgmigrate_ledger (layout text, created_at timestamptz)`,
	}
	for name, ddl := range cases {
		t.Run(name, func(t *testing.T) {
			schema := freshSchema(t)
			s := pgx.Identifier{schema}.Sanitize()
			execSQL(t, `CREATE SCHEMA `+s)
			execSQL(t, strings.ReplaceAll(ddl, "{s}", s))
			state := withParams(t, server(t), "schema", schema, "ledger", "job")
			for _, o := range []ledger.Options{{}, {NewLedger: true}} {
				_, err := ledger.Open(state, o)
				require.ErrorIs(t, err, ledger.ErrNotLedger)
				assert.Contains(t, err.Error(), `schema "`+schema+`"`)
			}
			_, err := ledger.Readers(state)
			require.ErrorIs(t, err, ledger.ErrNotLedger)
			assert.Zero(t, count(t, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = 'shards'`, schema),
				"nothing was created beside them")
		})
	}
}

// Other tables in the schema (public, say) are no obstacle: the ledger's go
// beside them.
func TestASchemaWithOtherTablesTakesTheLedger(t *testing.T) {
	schema := freshSchema(t)
	s := pgx.Identifier{schema}.Sanitize()
	execSQL(t, `CREATE SCHEMA `+s)
	execSQL(t, `CREATE TABLE `+s+`.customers (id int)`)
	l, err := ledger.Open(withParams(t, server(t), "schema", schema, "ledger", "job"), ledger.Options{})
	require.NoError(t, err)
	fill(t, l, 3, "k")
	require.NoError(t, l.Close())
}

// A shard that the database does not have while the report of an earlier
// run is there was lost (another database, a restore without it): refused,
// and nothing is created in what may be the wrong database.
func TestALostLedgerIsNoticed(t *testing.T) {
	report := filepath.Join(t.TempDir(), "job.report.json")
	require.NoError(t, os.WriteFile(report, []byte(`{}`), 0o644))
	o := ledger.Options{Traces: []string{report}}

	t.Run("an empty database", func(t *testing.T) {
		schema := freshSchema(t)
		state := withParams(t, server(t), "schema", schema, "ledger", "job")
		_, err := ledger.Open(state, o)
		require.ErrorIs(t, err, ledger.ErrNotLedger)
		assert.Contains(t, err.Error(), report)
		assert.Contains(t, err.Error(), "--new-ledger")
		assert.Zero(t, count(t, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema), "nothing created")

		l, err := ledger.Open(state, ledger.Options{Traces: o.Traces, NewLedger: true})
		require.NoError(t, err, "starting over on purpose")
		require.NoError(t, l.Close())
	})
	t.Run("a database with other jobs' ledgers", func(t *testing.T) {
		schema := freshSchema(t)
		other, err := ledger.Open(withParams(t, server(t), "schema", schema, "ledger", "other"), ledger.Options{})
		require.NoError(t, err)
		require.NoError(t, other.Close())
		_, err = ledger.Open(withParams(t, server(t), "schema", schema, "ledger", "job"), o)
		require.ErrorIs(t, err, ledger.ErrNotLedger)
		assert.Contains(t, err.Error(), "ledger=job")
	})
	t.Run("a fresh job", func(t *testing.T) {
		l, err := ledger.Open(newState(t), ledger.Options{Traces: []string{filepath.Join(t.TempDir(), "none.report.json")}})
		require.NoError(t, err)
		require.NoError(t, l.Close())
	})
}

// --new-ledger sets the earlier ledger aside under another name: nothing is
// deleted, and the run starts from nothing.
func TestNewLedgerSetsTheOldOneAside(t *testing.T) {
	t.Run("not sharded", func(t *testing.T) {
		schema := freshSchema(t)
		state := withParams(t, server(t), "schema", schema, "ledger", "job")
		l, err := ledger.Open(state, ledger.Options{})
		require.NoError(t, err)
		fill(t, l, 10, "k")
		require.NoError(t, l.Close())

		l, err = ledger.Open(state, ledger.Options{NewLedger: true})
		require.NoError(t, err)
		defer l.Close()
		c, err := l.Counts()
		require.NoError(t, err)
		assert.Zero(t, c.Loaded)
		seen := make([]ledger.Seen, 1)
		require.NoError(t, l.Lookup([]string{"k1"}, seen))
		assert.False(t, seen[0].Known, "everything is sent again")
		aside := withParams(t, server(t), "schema", schema, "ledger", asideName(t, schema, "job"))
		rs, err := ledger.Readers(aside)
		require.NoError(t, err, "the earlier ledger is kept, readable under its new name")
		defer rs[0].Close()
		c, err = rs[0].Counts()
		require.NoError(t, err)
		assert.Equal(t, int64(10), c.Loaded)
	})
	t.Run("one shard of several", func(t *testing.T) {
		schema := freshSchema(t)
		state := withParams(t, server(t), "schema", schema, "ledger", "job")
		s0 := ledger.Options{Shard: ledger.Shard{Index: 0, Count: 2}}
		s1 := ledger.Options{Shard: ledger.Shard{Index: 1, Count: 2}}
		l0, err := ledger.Open(state, s0)
		require.NoError(t, err)
		fill(t, l0, 10, "a")
		require.NoError(t, l0.Close())
		l1, err := ledger.Open(state, s1) // runs on while shard 0 starts over
		require.NoError(t, err)
		defer l1.Close()
		fill(t, l1, 5, "b")

		s0.NewLedger = true
		l0, err = ledger.Open(state, s0)
		require.NoError(t, err)
		defer l0.Close()
		seen := make([]ledger.Seen, 2)
		require.NoError(t, l0.Lookup([]string{"a1", "b1"}, seen))
		assert.False(t, seen[0].Known, "shard 0 starts over")
		assert.True(t, seen[1].Known, "shard 1's items stay")
		rs, err := ledger.Readers(state)
		require.NoError(t, err)
		defer closeReaders(rs)
		require.Len(t, rs, 2)
		for _, r := range rs {
			c, err := r.Counts()
			require.NoError(t, err)
			if strings.HasSuffix(r.Where(), "shard 0/2") {
				assert.Zero(t, c.Loaded)
			} else {
				assert.Equal(t, int64(5), c.Loaded, r.Where())
			}
		}
		aside := asideName(t, schema, "job")
		assert.Contains(t, aside, "shard 0/2")
		assert.Equal(t, int64(10), count(t, `SELECT count(*) FROM `+pgx.Identifier{schema}.Sanitize()+`.ledger_items WHERE ledger = $1`, aside), "kept")
	})
}

func asideName(t *testing.T, schema, name string) string {
	t.Helper()
	conn := connect(t, server(t))
	defer conn.Close(context.Background())
	var aside string
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT name FROM `+pgx.Identifier{schema}.Sanitize()+`.ledgers WHERE name LIKE $1`, name+" set aside %").Scan(&aside))
	return aside
}

func closeReaders(rs []ledger.Reader) {
	for _, r := range rs {
		r.Close()
	}
}

// A password written in the state never appears in an error or a Where.
func TestThePasswordIsNeverShown(t *testing.T) {
	const pw = "s3cr3t-Pw"
	base := server(t)
	schema := freshSchema(t)
	u := strings.Replace(withParams(t, base, "schema", schema, "ledger", "job"), "://", "://", 1)
	withPW := func(s string) string {
		// user:password@ — the test server trusts the user, so any password is taken.
		i := strings.Index(s, "://") + 3
		j := strings.Index(s[i:], "@")
		if j < 0 {
			return s[:i] + "postgres:" + pw + "@" + s[i:]
		}
		user, _, _ := strings.Cut(s[i:i+j], ":")
		return s[:i] + user + ":" + pw + s[i+j:]
	}
	state := withPW(u)
	noLedger := strings.Replace(state, "ledger=job", "ledgr=job", 1)
	var errs []error

	l, err := ledger.Open(state, ledger.Options{})
	require.NoError(t, err)
	defer l.Close()
	assert.NotContains(t, l.Where(), pw)
	_, err = ledger.Open(state, ledger.Options{}) // in use
	require.ErrorIs(t, err, ErrInUse)
	errs = append(errs, err)
	rs, err := ledger.Readers(state)
	require.NoError(t, err)
	assert.NotContains(t, rs[0].Where(), pw)
	closeReaders(rs)

	_, err = ledger.Open(noLedger, ledger.Options{})
	errs = append(errs, err)
	_, err = ledger.Readers(withPW(withParams(t, base, "schema", freshSchema(t), "ledger", "job")))
	errs = append(errs, err) // no ledger yet
	_, err = ledger.Open(withPW(withParams(t, base, "schema", schema, "ledger", "job", "dbname", "no_such_database_here")), ledger.Options{})
	errs = append(errs, err) // the server refuses
	_, err = ledger.Open(withPW(withParams(t, base, "schema", schema, "ledger", "job", "port", "1")), ledger.Options{})
	errs = append(errs, err) // nothing listens
	_, err = ledger.Open(withPW(withParams(t, base, "schema", schema, "ledger", "job", "no_such_setting", "1")), ledger.Options{})
	errs = append(errs, err)
	for _, err := range errs {
		require.Error(t, err)
		assert.NotContains(t, err.Error(), pw)
		var pe interface{ Unwrap() error }
		if errors.As(err, &pe) {
			// The driver's own error, unwrapped, is the caller's to print: it
			// must not quote it either.
			if inner := errors.Unwrap(err); inner != nil {
				assert.NotContains(t, inner.Error(), pw)
			}
		}
	}
}

// A Reader reads one shard: status shows every shard and the totals add up.
func TestReadersReadEveryShard(t *testing.T) {
	state := newState(t)
	var all []ledger.Ledger
	for i := range 3 {
		l, err := ledger.Open(state, ledger.Options{Shard: ledger.Shard{Index: i, Count: 3}})
		require.NoError(t, err)
		defer l.Close()
		run, err := l.StartRun("job.yaml", "run")
		require.NoError(t, err)
		var es []ledger.Entry
		for j := range 10 * (i + 1) {
			st := ledger.Loaded
			if j == 0 {
				st = ledger.Failed
			}
			es = append(es, ledgertest.Item("s"+string(rune('0'+i))+"-"+string(rune('a'+j)), st, j+2))
		}
		require.NoError(t, l.Write(run, es, nil, nil))
		require.NoError(t, l.FinishRun(run, "completed", "messages.csv:"+string(rune('0'+i)), nil))
		all = append(all, l)
	}
	rs, err := ledger.Readers(state)
	require.NoError(t, err)
	defer closeReaders(rs)
	require.Len(t, rs, 3)
	for i, r := range rs {
		assert.True(t, strings.HasSuffix(r.Where(), " shard "+string(rune('0'+i))+"/3"), r.Where())
		c, err := r.Counts()
		require.NoError(t, err)
		assert.Equal(t, int64(10*(i+1)-1), c.Loaded, r.Where())
		assert.Equal(t, int64(1), c.Failed, r.Where())
		runs, err := r.Runs(5)
		require.NoError(t, err)
		require.Len(t, runs, 1)
		assert.Equal(t, "messages.csv:"+string(rune('0'+i)), runs[0].LastOrigin)
		var failed []string
		require.NoError(t, r.Failed(nil, func(e ledger.Entry) error { failed = append(failed, e.Key); return nil }))
		assert.Equal(t, []string{"s" + string(rune('0'+i)) + "-a"}, failed)
	}
	// Every shard's gate sees what any shard recorded: one ledger.
	seen := make([]ledger.Seen, 3)
	require.NoError(t, all[0].Lookup([]string{"s0-b", "s1-b", "s2-b"}, seen))
	for _, s := range seen {
		assert.True(t, s.Known)
	}
}

// Two shards that record the same keys at once (a reshard while an old
// shard still runs) wait for each other, never deadlock: the server would
// abort one of the writes.
func TestShardsWritingOneKeyAtOnceDoNotDeadlock(t *testing.T) {
	// The server looks for deadlocks after 1s of waiting; sooner here (the
	// test server's user may set it).
	state := withParams(t, newState(t), "deadlock_timeout", "20ms")
	retries := deadlockRetries
	deadlockRetries = 1 // the order alone must prevent them
	var keys []string
	for i := range 500 {
		keys = append(keys, "k"+strconv.Itoa(i))
	}
	errs := make(chan error, 2)
	for s := range 2 {
		l, err := ledger.Open(state, ledger.Options{Shard: ledger.Shard{Index: s, Count: 2}})
		require.NoError(t, err)
		defer l.Close()
		run, err := l.StartRun("job.yaml", "run")
		require.NoError(t, err)
		order := slices.Clone(keys)
		if s == 1 {
			slices.Reverse(order)
		}
		go func() {
			for range 10 {
				es := make([]ledger.Entry, len(order))
				for i, k := range order {
					es[i] = ledgertest.Item(k, ledger.Loaded, i+2)
				}
				if err := l.Write(run, es, nil, nil); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		require.NoError(t, <-errs)
	}
	deadlockRetries = retries
}

// A write the server aborts to break a deadlock (with another application's
// transaction here) is written again, and costs nothing.
func TestAWriteAbortedByADeadlockIsWrittenAgain(t *testing.T) {
	state := newState(t)
	l, err := ledger.Open(state, ledger.Options{})
	require.NoError(t, err)
	defer l.Close()
	run := fill(t, l, 2, "k") // k0, k1
	d := l.(*DB)
	ctx := context.Background()

	other := connect(t, server(t))
	defer other.Close(ctx)
	_, err = other.Exec(ctx, `SET deadlock_timeout = '10s'`) // the write is the one the server aborts
	require.NoError(t, err)
	tx, err := other.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, d.q(`SELECT 1 FROM {s}.items WHERE ledger = $1 AND key = 'k1' FOR UPDATE`), d.ledgerID)
	require.NoError(t, err)

	pid := d.conn.PgConn().PID() // the writing session
	done := make(chan error, 1)
	go func() {
		// k0, then k1, which the other transaction holds.
		done <- l.Write(run, []ledger.Entry{ledgertest.Item("k0", ledger.Loaded, 9), ledgertest.Item("k1", ledger.Loaded, 10)}, nil, nil)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting bool
		require.NoError(t, other.QueryRow(ctx, `SELECT coalesce(wait_event_type = 'Lock', false) FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&waiting))
		if waiting {
			break
		}
		require.True(t, time.Now().Before(deadline), "the write never waited for k1")
		time.Sleep(5 * time.Millisecond) // polling the server
	}
	// Now the other transaction wants k0, which the write holds: a cycle.
	_, err = tx.Exec(ctx, d.q(`UPDATE {s}.items SET run = run WHERE ledger = $1 AND key = 'k0'`), d.ledgerID)
	require.NoError(t, err, "the write was aborted, not this")
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-done)
	origin, err := l.Origin("k1")
	require.NoError(t, err)
	assert.Equal(t, "messages.csv:10", origin, "the write is in")
}

// Items are read a page at a time, in the order recorded across pages.
func TestItemsAreReadAPageAtATime(t *testing.T) {
	defer func(n int) { pageRows = n }(pageRows)
	pageRows = 4
	for _, n := range []int{8, 10} { // a page boundary at the end, and not
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			l, err := ledger.Open(newState(t), ledger.Options{})
			require.NoError(t, err)
			defer l.Close()
			run, err := l.StartRun("job.yaml", "run")
			require.NoError(t, err)
			var want, wantFailed []string
			var es []ledger.Entry
			for i := range n {
				k := "k" + strconv.Itoa(n-i) // not in key order
				es = append(es, ledgertest.Item(k, ledger.Loaded, i+2), ledgertest.Item("f"+k, ledger.Failed, i+2))
				want, wantFailed = append(want, k), append(wantFailed, "f"+k)
			}
			require.NoError(t, l.Write(run, es, nil, nil))
			var got []string
			require.NoError(t, l.Loaded(func(e ledger.Entry) error { got = append(got, e.Key); return nil }))
			assert.Equal(t, want, got)
			got = nil
			require.NoError(t, l.Failed([]string{"BAD_0", "BAD_1"}, func(e ledger.Entry) error { got = append(got, e.Key); return nil }))
			assert.Equal(t, wantFailed, got)
		})
	}
}

// A reader that takes its time (a ledger source feeding a long run) holds
// nothing on the server meanwhile: a query kept open for hours would hold a
// snapshot, and keep VACUUM from every table of the database.
func TestASlowReaderHoldsNothingOnTheServer(t *testing.T) {
	defer func(n int) { pageRows = n }(pageRows)
	pageRows = 100
	state := newState(t)
	l, err := ledger.Open(state, ledger.Options{})
	require.NoError(t, err)
	defer l.Close()
	run, err := l.StartRun("job.yaml", "run")
	require.NoError(t, err)
	var es []ledger.Entry
	for i := range 3000 { // more than the socket's buffers hold
		e := ledgertest.Item("k"+strconv.Itoa(i), ledger.Loaded, i+2)
		e.Kept = []byte(`{"note":"` + strings.Repeat("x", 400) + `"}`)
		es = append(es, e)
	}
	require.NoError(t, l.Write(run, es, nil, nil))
	u, err := url.Parse(state)
	require.NoError(t, err)
	watcher := connect(t, server(t))
	defer watcher.Close(context.Background())
	first := true
	require.NoError(t, l.Loaded(func(e ledger.Entry) error {
		if !first {
			return nil
		}
		first = false
		var held int
		require.NoError(t, watcher.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE application_name LIKE $1 AND (state <> 'idle' OR backend_xmin IS NOT NULL)`,
			"msgmigrate "+u.Query().Get("ledger")+"%").Scan(&held))
		assert.Zero(t, held, "a session of the ledger's is in a query, or holds a snapshot, while the caller works")
		return nil
	}))
}
