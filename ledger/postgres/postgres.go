// Package postgres is the ledger's backend for a cluster: every shard of a
// job records into one PostgreSQL database, so a pod that moves to another
// node finds its ledger, and status, idmap, retry and the ledger source read
// every shard.
//
//	state: postgres://mm@db.internal/migrations?ledger=dealer
//
// The state names the database and the job's ledger (ledger=, required: one
// database holds the ledgers of many jobs, and a ledger named by the job
// file's name would be shared by accident between two job files of one name),
// optionally the schema that holds the tables (schema=, default
// msgmigrate). Every other parameter is libpq's, as pgx reads it (sslmode=,
// host=/path for a Unix socket…). The password comes from PGPASSWORD or
// ~/.pgpass (pgx reads both); one written in the URL works but never appears
// in a message.
//
// The first run creates the schema and its tables (it needs CREATE on the
// database, or a schema made for it); later runs need only to read and
// write them. Connect to the server itself, or through a pooler in session
// mode: the run lock is a session's, which a transaction-mode pooler
// (PgBouncer's pool_mode = transaction) does not keep.
//
// What the backend does, as a checklist for the next one:
//   - The tables are created when the schema holds none of them, with a
//     layout row; a schema whose tables are not a msgmigrate ledger is
//     refused (ledger.ErrNotLedger), never written to.
//   - Items are keyed by (ledger, key), whatever the shard: one schema for
//     all shards, and every shard's gate sees what any shard loaded. Each row
//     names the shard that recorded it last, so a Reader reads one shard.
//   - The run lock is per shard: a session advisory lock held by the
//     connection every write goes through. The server drops it when the
//     process dies, however it dies (the connection closes), and a write
//     can never happen without it: a lost connection fails the write.
//   - Write is one transaction: COPY into a temporary table, then one
//     INSERT … ON CONFLICT that never downgrades a loaded item; committed
//     with synchronous_commit on, so it is durable when Write returns.
//   - Lookup is one query per batch of keys, on the primary key.
//   - --new-ledger sets the shard's ledger aside under another name,
//     "NAME set aside 2026-11-30T10:00:00.000Z" (a ledger= a reader can
//     name; its rows are kept, never deleted: DELETE them by hand when no
//     longer needed); a shard the database does not have while a trace of
//     an earlier run is there (its report) is refused: the ledger was lost,
//     or the state names another database.
//   - Keys are stored as they are when text can hold them, escaped when it
//     cannot (not UTF-8, or a NUL); other texts are made storable.
//   - Vacuum is VACUUM (ANALYZE) of the shared tables: the room of rewritten
//     rows is reused, not given back to the system (VACUUM FULL would lock
//     every shard's runs out).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/msgmigrate/msgmigrate/ledger"
)

func init() { ledger.Register(backend{}) }

var (
	_ ledger.Ledger = (*DB)(nil)
	_ ledger.Reader = (*Reader)(nil)
)

type backend struct{}

// Serves postgres:// and postgresql:// URLs, as libpq does.
func (backend) Serves(state string) bool {
	return strings.HasPrefix(state, "postgres://") || strings.HasPrefix(state, "postgresql://")
}

func (backend) Open(state string, o ledger.Options) (ledger.Ledger, error) {
	return Open(state, o)
}

func (backend) Readers(state string) ([]ledger.Reader, error) {
	rs, err := OpenReaders(state)
	if err != nil {
		return nil, err
	}
	out := make([]ledger.Reader, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out, nil
}

// DefaultSchema holds the ledger's tables when the state names none.
const DefaultSchema = "msgmigrate"

// ErrInUse is a shard whose run lock another process holds.
var ErrInUse = errors.New("in use by another msgmigrate run")

// target is a parsed state: where the database is, and which ledger.
type target struct {
	pool   *pgxpool.Config
	name   string // the ledger's
	schema string
	where  string // the state for messages, without a password
	secret []string
}

// parseState reads a state URL. Its errors never quote the URL as written:
// it may hold a password.
func parseState(state, app string) (*target, error) {
	u, err := url.Parse(state)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the whole URL
		}
		return nil, fmt.Errorf("state: not a valid postgres:// URL: %v", err)
	}
	t := &target{schema: DefaultSchema}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			t.secret = append(t.secret, pw, url.QueryEscape(pw), url.PathEscape(pw))
		}
	}
	q := u.Query()
	for k, vs := range q {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			for _, v := range vs {
				if v != "" {
					t.secret = append(t.secret, v, url.QueryEscape(v))
				}
			}
		}
	}
	t.name = q.Get("ledger")
	if s := q.Get("schema"); s != "" {
		t.schema = s
	}
	q.Del("ledger")
	q.Del("schema")
	t.where = redactURL(u)
	if t.name == "" {
		return nil, fmt.Errorf("state %s names no ledger: add ?ledger=NAME (one database holds the ledgers of many jobs; the job's name is a good one)", t.where)
	}
	if len(t.schema) > 63 {
		// PostgreSQL would cut it silently, and two schemas could meet.
		return nil, fmt.Errorf("state %s: schema=%q is longer than PostgreSQL's 63 bytes", t.where, t.schema)
	}
	// pgx takes the other parameters; it would send ledger= and schema= to
	// the server as settings, which refuses them.
	u.RawQuery = q.Encode()
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, t.wrap(fmt.Errorf("state %s: %w", t.where, err))
	}
	if cfg.ConnConfig.Password != "" {
		t.secret = append(t.secret, cfg.ConnConfig.Password)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 30 * time.Second
	}
	rp := cfg.ConnConfig.RuntimeParams
	if _, ok := rp["application_name"]; !ok {
		// What pg_stat_activity shows: which job and shard a session is.
		rp["application_name"] = truncate("msgmigrate "+t.name+" "+app, 63)
	}
	// A write is durable when it returns, whatever the server's default.
	rp["synchronous_commit"] = "on"
	t.pool = cfg
	return t, nil
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// redactURL is the state as written, less its password (in the userinfo
// or a password= parameter).
func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	q := c.Query()
	changed := false
	for k := range q {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			q.Del(k)
			changed = true
		}
	}
	if changed {
		c.RawQuery = q.Encode()
	}
	return c.String()
}

// wrap hides the password in err's text, whatever produced it: a driver's
// message could quote the connection string.
func (t *target) wrap(err error) error {
	if err == nil || len(t.secret) == 0 {
		return err
	}
	return &scrubbed{err: err, secret: t.secret}
}

type scrubbed struct {
	err    error
	secret []string
}

func (s *scrubbed) Error() string {
	msg := s.err.Error()
	for _, p := range s.secret {
		if p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

func (s *scrubbed) Unwrap() error { return s.err }

// shardWhere names a shard for messages.
func (t *target) shardWhere(s ledger.Shard) string {
	if s.Count == 0 {
		return t.where
	}
	return t.where + " shard " + s.String()
}

// ident is the schema as an SQL identifier.
func (t *target) ident() string { return pgx.Identifier{t.schema}.Sanitize() }

// sql puts the schema into a statement: {s}.items is the items table.
func sqlFor(schema string) func(string) string {
	return func(q string) string { return strings.ReplaceAll(q, "{s}", schema) }
}

// lockKey is the advisory lock of one shard of one ledger: advisory locks
// are one space per database, shared with other applications, hence the
// prefix.
func lockKey(schema, name string, s ledger.Shard) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "msgmigrate ledger\x00%s\x00%s\x00%d/%d", schema, name, s.Index, s.Count)
	return int64(h.Sum64())
}

// DB is one shard's ledger, open for a run.
type DB struct {
	*Reader
	conn  *pgx.Conn // holds the shard's run lock; every write goes through it
	lock  int64
	cmu   sync.Mutex
	log   *slog.Logger
	shard ledger.Shard
}

// Open opens (creating the tables and the ledger when absent) one shard's
// ledger for a run, and takes the shard's run lock.
func Open(state string, o ledger.Options) (*DB, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t, err := parseState(state, o.Shard.String())
	if err != nil {
		return nil, err
	}
	where := t.shardWhere(o.Shard)
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, t.pool.ConnConfig.Copy())
	if err != nil {
		return nil, t.wrap(fmt.Errorf("ledger %s: %w", where, err))
	}
	d := &DB{conn: conn, log: log, shard: o.Shard, lock: lockKey(t.schema, t.name, o.Shard)}
	fail := func(err error) (*DB, error) {
		conn.Close(ctx)
		if d.Reader != nil {
			d.Reader.Close()
		}
		return nil, t.wrap(err)
	}
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, d.lock).Scan(&locked); err != nil {
		return fail(fmt.Errorf("ledger %s: %w", where, err))
	}
	if !locked {
		return fail(fmt.Errorf("ledger %s is %w (wait for it, or give this job another state:)", where, ErrInUse))
	}
	present, err := inspect(ctx, conn, t)
	if err != nil {
		return fail(err)
	}
	if !present && !o.NewLedger {
		if err := lost(o, where); err != nil {
			return fail(err) // before creating anything in what may be the wrong database
		}
	}
	if !present {
		if _, err := setup(ctx, conn, t); err != nil {
			return fail(err)
		}
	}
	ledgerID, shardID, err := prepareShard(ctx, conn, t, o, log)
	if err != nil {
		return fail(err)
	}
	if _, err := conn.Exec(ctx, incomingSQL); err != nil {
		return fail(fmt.Errorf("ledger %s: %w", where, err))
	}
	pcfg := t.pool.Copy()
	pcfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fail(fmt.Errorf("ledger %s: %w", where, err))
	}
	d.Reader = &Reader{t: t, pool: newShared(pool), ledgerID: ledgerID, shardID: shardID, where: where, q: sqlFor(t.ident())}
	return d, nil
}

// Close releases the run lock and the connections. The lock is released
// first, and waited for: closing the connection alone would free it only
// once the server notices, a moment later, and a run that starts at once
// would be refused.
func (d *DB) Close() error {
	d.cmu.Lock()
	defer d.cmu.Unlock()
	ctx := context.Background()
	d.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, d.lock) // a broken connection has lost it anyway
	err := d.conn.Close(ctx)
	return errors.Join(err, d.Reader.Close())
}

// prepareShard finds the shard's ledger, refuses one that was lost, sets it
// aside on request, and registers the shard.
func prepareShard(ctx context.Context, conn *pgx.Conn, t *target, o ledger.Options, log *slog.Logger) (ledgerID, shardID int64, err error) {
	q := sqlFor(t.ident())
	where := t.shardWhere(o.Shard)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var known bool
		err := tx.QueryRow(ctx, q(`SELECT l.id, s.id FROM {s}.ledgers l JOIN {s}.shards s ON s.ledger = l.id
			WHERE l.name = $1 AND s.idx = $2 AND s.count = $3`), t.name, o.Shard.Index, o.Shard.Count).Scan(&ledgerID, &shardID)
		switch {
		case err == nil:
			known = true
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if !known && !o.NewLedger {
			if err := lost(o, where); err != nil {
				return err
			}
		}
		if known && o.NewLedger {
			if err := setAside(ctx, tx, q, t, o.Shard, ledgerID, shardID, log); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, q(`INSERT INTO {s}.ledgers(name) VALUES($1) ON CONFLICT (name) DO NOTHING`), t.name); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, q(`SELECT id FROM {s}.ledgers WHERE name = $1`), t.name).Scan(&ledgerID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, q(`INSERT INTO {s}.shards(ledger, idx, count) VALUES($1, $2, $3) ON CONFLICT (ledger, idx, count) DO NOTHING`),
			ledgerID, o.Shard.Index, o.Shard.Count); err != nil {
			return err
		}
		return tx.QueryRow(ctx, q(`SELECT id FROM {s}.shards WHERE ledger = $1 AND idx = $2 AND count = $3`), ledgerID, o.Shard.Index, o.Shard.Count).Scan(&shardID)
	})
	if err != nil {
		if errors.Is(err, ledger.ErrNotLedger) {
			return 0, 0, err
		}
		return 0, 0, fmt.Errorf("ledger %s: %w", where, err)
	}
	return ledgerID, shardID, nil
}

// lost refuses a shard the database does not have while a trace of an
// earlier run of it is there: taking it for a new one would send
// everything again.
func lost(o ledger.Options, where string) error {
	for _, tr := range o.Traces {
		if tr == "" {
			continue
		}
		if _, err := os.Stat(tr); err == nil {
			return fmt.Errorf("%w: the ledger %s is not in the database, but %s of an earlier run is there: was the ledger lost "+
				"(another database, a restore without it, a typo in ledger=)? Restore it, correct state:, or run with --new-ledger to start over (everything is sent again)",
				ledger.ErrNotLedger, where, tr)
		}
	}
	return nil
}

// setAside renames what the shard recorded out of the way, never deleting
// it: it may still be needed. A ledger with this shard alone is renamed
// whole (no row is rewritten); a shard among others moves its items to a
// ledger of its own (the other shards' runs go on with theirs).
func setAside(ctx context.Context, tx pgx.Tx, q func(string) string, t *target, s ledger.Shard, ledgerID, shardID int64, log *slog.Logger) error {
	var shards int
	// FOR UPDATE: another shard registering now waits, then sees the new ledger.
	if _, err := tx.Exec(ctx, q(`SELECT 1 FROM {s}.ledgers WHERE id = $1 FOR UPDATE`), ledgerID); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, q(`SELECT count(*) FROM {s}.shards WHERE ledger = $1`), ledgerID).Scan(&shards); err != nil {
		return err
	}
	aside := t.name + " set aside " + time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	if shards == 1 {
		if _, err := tx.Exec(ctx, q(`UPDATE {s}.ledgers SET name = $2 WHERE id = $1`), ledgerID, aside); err != nil {
			return err
		}
		log.Warn("--new-ledger: the earlier ledger is set aside", "ledger", t.name, "to", aside, "where", t.where)
		return nil
	}
	aside += " shard " + s.String()
	var asideID int64
	if err := tx.QueryRow(ctx, q(`INSERT INTO {s}.ledgers(name) VALUES($1) RETURNING id`), aside).Scan(&asideID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, q(`UPDATE {s}.shards SET ledger = $2 WHERE id = $1`), shardID, asideID); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, q(`UPDATE {s}.items SET ledger = $3 WHERE ledger = $1 AND shard = $2`), ledgerID, shardID, asideID)
	if err != nil {
		return err
	}
	log.Warn("--new-ledger: the shard's earlier ledger is set aside", "ledger", t.name, "shard", s.String(), "to", aside, "items", tag.RowsAffected(), "where", t.where)
	return nil
}

// OpenReaders opens a Reader per shard the job's ledger has, in shard
// order; they share one pool of connections.
func OpenReaders(state string) ([]*Reader, error) {
	t, err := parseState(state, "status")
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	pcfg := t.pool.Copy()
	pcfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, t.wrap(fmt.Errorf("ledger %s: %w", t.where, err))
	}
	sh := newShared(pool)
	rs, err := readers(ctx, t, sh)
	sh.release()
	if err != nil {
		return nil, t.wrap(err)
	}
	return rs, nil
}

func readers(ctx context.Context, t *target, sh *shared) ([]*Reader, error) {
	conn, err := sh.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", t.where, err)
	}
	defer conn.Release()
	present, err := inspect(ctx, conn.Conn(), t)
	if err != nil {
		return nil, err
	}
	if !present {
		return nil, fmt.Errorf("no ledger %q at %s: the job has not run yet", t.name, t.where)
	}
	q := sqlFor(t.ident())
	rows, err := conn.Query(ctx, q(`SELECT l.id, s.id, s.idx, s.count FROM {s}.ledgers l JOIN {s}.shards s ON s.ledger = l.id
		WHERE l.name = $1 ORDER BY s.count, s.idx`), t.name)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", t.where, err)
	}
	defer rows.Close()
	var rs []*Reader
	for rows.Next() {
		r := &Reader{t: t, q: q}
		var s ledger.Shard
		if err := rows.Scan(&r.ledgerID, &r.shardID, &s.Index, &s.Count); err != nil {
			break // rows.Err says
		}
		r.where = t.shardWhere(s)
		r.pool = sh.acquire()
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		for _, r := range rs {
			r.Close()
		}
		return nil, fmt.Errorf("ledger %s: %w", t.where, err)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("no ledger %q at %s: the job has not run yet", t.name, t.where)
	}
	return rs, nil
}

// shared is a pool the readers of one job share: closed with the last.
type shared struct {
	mu   sync.Mutex
	n    int
	pool *pgxpool.Pool
}

func newShared(p *pgxpool.Pool) *shared { return &shared{n: 1, pool: p} }

func (s *shared) acquire() *shared {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	return s
}

func (s *shared) release() {
	s.mu.Lock()
	s.n--
	last := s.n == 0
	s.mu.Unlock()
	if last {
		s.pool.Close()
	}
}
