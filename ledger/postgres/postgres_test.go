package postgres

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/ledger/ledgertest"
)

// envURL names a server where the tests may create schemas.
const envURL = "MSGMIGRATE_TEST_POSTGRES"

const skipMsg = "PostgreSQL tests: set " + envURL + "=postgres://… (a server where tests may create schemas; .ci/run starts one)"

// server is the test server's URL; without one the test is skipped, saying
// how to run it — but never in CI, which starts one.
func server(t testing.TB) string {
	t.Helper()
	u := os.Getenv(envURL)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(envURL + " is not set in CI: .ci/run starts a PostgreSQL and exports it")
		}
		t.Skip(skipMsg)
	}
	return u
}

var seq atomic.Int64

// unique is a name no other test of this process or another uses.
func unique(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), seq.Add(1))
}

// withParams adds query parameters to a URL.
func withParams(t testing.TB, base string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// freshSchema is a schema of the test's own, dropped when it ends.
func freshSchema(t testing.TB) string {
	t.Helper()
	base := server(t)
	schema := unique("mmtest")
	t.Cleanup(func() {
		conn := connect(t, base)
		defer conn.Close(context.Background())
		_, err := conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
		require.NoError(t, err)
	})
	return schema
}

var (
	sharedOnce   sync.Once
	sharedSchema string
)

// newState names a fresh, empty ledger, in a schema the tests share (as a
// database that holds many jobs has it), dropped when they end.
func newState(t testing.TB) string {
	t.Helper()
	base := server(t)
	sharedOnce.Do(func() { sharedSchema = unique("mmtest_shared") })
	return withParams(t, base, "schema", sharedSchema, "ledger", unique("job"))
}

func dropShared() {
	base := os.Getenv(envURL)
	if sharedSchema == "" || base == "" {
		return
	}
	conn, err := pgx.Connect(context.Background(), base)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dropping the tests' schema:", err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{sharedSchema}.Sanitize()+` CASCADE`); err != nil {
		fmt.Fprintln(os.Stderr, "dropping the tests' schema:", err)
	}
}

func connect(t testing.TB, base string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), base)
	require.NoError(t, err)
	return conn
}

func TestConformance(t *testing.T) {
	server(t)
	ledgertest.Run(t, ledgertest.Backend{New: func(t *testing.T) string { return newState(t) }})
}

func fill(t testing.TB, l ledger.Ledger, n int, prefix string) int64 {
	t.Helper()
	run, err := l.StartRun("job.yaml", "run")
	require.NoError(t, err)
	var es []ledger.Entry
	for i := range n {
		es = append(es, ledgertest.Item(prefix+strconv.Itoa(i), ledger.Loaded, i+2))
	}
	require.NoError(t, l.Write(run, es, nil, nil))
	return run
}
