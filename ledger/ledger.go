// Package ledger is the run's memory: per item its key, route, origin,
// payload hash, status, target id, attempts and last error, in an embedded
// SQLite file. An item is written as loaded only after the target
// acknowledged it, so a rerun after any crash sends at most what was in
// flight, and never an item twice.
//
// Outcomes are appended to a log table (sequential writes: hundreds of
// thousands a second) and merged into the key-ordered items table by Compact,
// in key order. Updating a key-ordered B-tree in place for every outcome
// would write about one page per item once the ledger is large, a tenth of
// the speed.
package ledger

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

// Status of an item in the ledger.
const (
	Loaded = "loaded"
	Failed = "failed"
)

// Entry is one item's row.
type Entry struct {
	Key      string
	Route    []string
	Origin   string
	Hash     []byte
	Status   string
	TargetID string
	Attempts int
	Code     string
	Error    string
	Payload  []byte // kept for failed items only, for `retry`
	Kept     []byte // source fields the mapping keeps for a write-back (JSON)
	RunID    int64
	LoadedAt time.Time
}

// RecordFailure is a record that failed before it had a key (read or map).
type RecordFailure struct {
	Origin string
	Stage  string
	Error  string
}

// Run is one execution of a job.
type Run struct {
	ID         int64
	Job        string
	Command    string
	StartedAt  time.Time
	FinishedAt time.Time // zero while running, or if the process died
	State      string    // running, completed, interrupted, failed
	LastOrigin string
	Counts     string // the report's counts, as JSON
}

const schemaSQL = `
CREATE TABLE IF NOT EXISTS items (
	key        TEXT PRIMARY KEY,
	route      TEXT NOT NULL,
	origin     TEXT NOT NULL,
	hash       BLOB NOT NULL,
	status     TEXT NOT NULL,
	target_id  TEXT NOT NULL DEFAULT '',
	attempts   INTEGER NOT NULL DEFAULT 0,
	code       TEXT NOT NULL DEFAULT '',
	error      TEXT NOT NULL DEFAULT '',
	payload    BLOB,
	kept       TEXT,
	run_id     INTEGER NOT NULL,
	updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_status ON items(status);
CREATE TABLE IF NOT EXISTS log (
	id         INTEGER PRIMARY KEY,
	key        TEXT NOT NULL,
	route      TEXT NOT NULL,
	origin     TEXT NOT NULL,
	hash       BLOB NOT NULL,
	status     TEXT NOT NULL,
	target_id  TEXT NOT NULL DEFAULT '',
	attempts   INTEGER NOT NULL DEFAULT 0,
	code       TEXT NOT NULL DEFAULT '',
	error      TEXT NOT NULL DEFAULT '',
	payload    BLOB,
	kept       TEXT,
	run_id     INTEGER NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS record_failures (
	run_id INTEGER NOT NULL,
	origin TEXT NOT NULL,
	stage  TEXT NOT NULL,
	error  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
	id          INTEGER PRIMARY KEY,
	job         TEXT NOT NULL,
	command     TEXT NOT NULL,
	started_at  TEXT NOT NULL,
	finished_at TEXT NOT NULL DEFAULT '',
	state       TEXT NOT NULL,
	last_origin TEXT NOT NULL DEFAULT '',
	counts      TEXT NOT NULL DEFAULT '{}'
);
`

// Ledger is an open ledger file.
type Ledger struct {
	db     *sql.DB
	lookup *sql.Stmt
	path   string
	unlock func()
}

// Open opens or creates the ledger at path for a run: it takes the ledger's
// lock, so two runs can never share it, and merges what a run that died left
// in the log.
func Open(path string) (*Ledger, error) {
	return open(path, true)
}

// OpenReadOnly opens the ledger to look, even while a run holds it.
func OpenReadOnly(path string) (*Ledger, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	return open(path, false)
}

func open(path string, forRun bool) (*Ledger, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("ledger %s: %w", path, err)
		}
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	if _, err := db.Exec(schemaSQL); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	l := &Ledger{db: db, path: path}
	if forRun {
		if l.unlock, err = lock(path); err != nil {
			db.Close()
			return nil, err
		}
		// A run that died left its outcomes in the log: merge them first.
		if err := l.Compact(nil); err != nil {
			l.Close()
			return nil, fmt.Errorf("ledger %s: %w", path, err)
		}
	}
	if l.lookup, err = db.Prepare(`SELECT origin, hash, status, run_id FROM items WHERE key = ?`); err != nil {
		l.Close()
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	return l, nil
}

// migrate brings a ledger written by an earlier version up to date.
func migrate(db *sql.DB) error {
	for _, table := range []string{"items", "log"} {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = 'kept'`, table).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if _, err := db.Exec(`ALTER TABLE ` + table + ` ADD COLUMN kept TEXT`); err != nil {
				return err
			}
		}
	}
	return nil
}

// Loaded calls fn with every loaded item, kept fields included.
func (l *Ledger) Loaded(fn func(Entry) error) error {
	// The log of a run not merged yet counts too (a read-only look merges
	// nothing).
	rows, err := l.db.Query(`
		WITH latest AS (SELECT * FROM log WHERE id IN (SELECT max(id) FROM log WHERE status = 'loaded' GROUP BY key))
		SELECT key, route, origin, target_id, COALESCE(kept, ''), updated_at FROM (
			SELECT key, route, origin, target_id, kept, updated_at FROM items
			WHERE status = 'loaded' AND key NOT IN (SELECT key FROM latest)
			UNION ALL
			SELECT key, route, origin, target_id, kept, updated_at FROM latest
		) ORDER BY updated_at, key`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		e := Entry{Status: Loaded}
		var route, kept, updated string
		if err := rows.Scan(&e.Key, &route, &e.Origin, &e.TargetID, &kept, &updated); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(route), &e.Route); err != nil {
			return fmt.Errorf("ledger: item %s: bad route %q: %w", e.Key, route, err)
		}
		if kept != "" {
			e.Kept = []byte(kept)
		}
		e.LoadedAt, _ = time.Parse(time.RFC3339Nano, updated)
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Path is the ledger's file.
func (l *Ledger) Path() string { return l.path }

// Close closes the file.
func (l *Ledger) Close() error {
	if l.lookup != nil {
		l.lookup.Close()
	}
	err := l.db.Close()
	if l.unlock != nil {
		l.unlock()
	}
	return err
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// StartRun records a new run and returns its id. Runs left "running" by a
// process that died are marked as such.
func (l *Ledger) StartRun(job, command string) (int64, error) {
	if _, err := l.db.Exec(`UPDATE runs SET state = 'died' WHERE state = 'running'`); err != nil {
		return 0, err
	}
	res, err := l.db.Exec(`INSERT INTO runs(job, command, started_at, state) VALUES(?, ?, ?, 'running')`, job, command, now())
	if err != nil {
		return 0, fmt.Errorf("ledger: %w", err)
	}
	return res.LastInsertId()
}

// FinishRun records how a run ended.
func (l *Ledger) FinishRun(id int64, state, lastOrigin string, counts any) error {
	cj, _ := json.Marshal(counts)
	_, err := l.db.Exec(`UPDATE runs SET finished_at = ?, state = ?, last_origin = ?, counts = ? WHERE id = ?`,
		now(), state, lastOrigin, string(cj), id)
	return err
}

// Progress records how far a run has read, so status can say where a run
// that died stopped.
func (l *Ledger) Progress(id int64, lastOrigin string) error {
	_, err := l.db.Exec(`UPDATE runs SET last_origin = ? WHERE id = ?`, lastOrigin, id)
	return err
}

// Meta returns a stored value ("" when absent): the source's watermark.
func (l *Ledger) Meta(key string) (string, error) {
	var v string
	err := l.db.QueryRow(`SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetMeta stores a value.
func (l *Ledger) SetMeta(key, value string) error {
	_, err := l.db.Exec(`INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// Empty reports whether the ledger holds no items yet.
func (l *Ledger) Empty() (bool, error) {
	var n int
	err := l.db.QueryRow(`SELECT EXISTS(SELECT 1 FROM items)`).Scan(&n)
	return n == 0, err
}

// Seen is what the ledger knows of a key.
type Seen struct {
	Origin string
	Hash   []byte
	Status string
	RunID  int64
}

// Lookup returns what the ledger knows of key; ok is false for a new key.
func (l *Ledger) Lookup(key string) (s Seen, ok bool, err error) {
	err = l.lookup.QueryRow(key).Scan(&s.Origin, &s.Hash, &s.Status, &s.RunID)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	return s, err == nil, err
}

// Keys calls fn with every key in the ledger.
func (l *Ledger) Keys(fn func(key string)) error {
	rows, err := l.db.Query(`SELECT key FROM items`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return err
		}
		fn(k)
	}
	return rows.Err()
}

// Write appends outcomes to the log and stores record failures, in one
// transaction, and returns each outcome's log row id (for LogEntry).
func (l *Ledger) Write(runID int64, items []Entry, failures []RecordFailure) ([]int64, error) {
	tx, err := l.db.Begin()
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer tx.Rollback()
	ts := now()
	ids := make([]int64, len(items))
	if len(items) > 0 {
		st, err := tx.Prepare(`INSERT INTO log(key, route, origin, hash, status, target_id, attempts, code, error, payload, kept, run_id, updated_at)
			VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		defer st.Close()
		routes := map[string]string{} // routes repeat: encode each once
		for i, e := range items {
			rk := strings.Join(e.Route, "\x00")
			rj, ok := routes[rk]
			if !ok {
				b, _ := json.Marshal(e.Route)
				rj = string(b)
				routes[rk] = rj
			}
			var payload any
			if e.Status == Failed {
				payload = e.Payload
			}
			var kept any
			if len(e.Kept) > 0 {
				kept = string(e.Kept)
			}
			res, err := st.Exec(e.Key, rj, e.Origin, e.Hash, e.Status, e.TargetID, e.Attempts, e.Code, e.Error, payload, kept, runID, ts)
			if err != nil {
				return nil, fmt.Errorf("ledger: %w", err)
			}
			if ids[i], err = res.LastInsertId(); err != nil {
				return nil, fmt.Errorf("ledger: %w", err)
			}
		}
	}
	if len(failures) > 0 {
		st, err := tx.Prepare(`INSERT INTO record_failures(run_id, origin, stage, error) VALUES(?, ?, ?, ?)`)
		if err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		defer st.Close()
		for _, f := range failures {
			if _, err := st.Exec(runID, f.Origin, f.Stage, f.Error); err != nil {
				return nil, fmt.Errorf("ledger: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return ids, nil
}

// LogEntry reads one log row: what Lookup would say of its key once the log
// is compacted.
func (l *Ledger) LogEntry(id int64) (key string, s Seen, err error) {
	err = l.db.QueryRow(`SELECT key, origin, hash, status, run_id FROM log WHERE id = ?`, id).Scan(&key, &s.Origin, &s.Hash, &s.Status, &s.RunID)
	return key, s, err
}

// Compact merges the log into the items table, in key order, and empties
// the log. Outcomes are applied in the order they were logged; a loaded item
// is never downgraded by a later failure of the same key. newKey, when not
// nil, is called with every merged key.
func (l *Ledger) Compact(newKey func(string)) error {
	tx, err := l.db.Begin()
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	defer tx.Rollback()
	if newKey != nil {
		rows, err := tx.Query(`SELECT key FROM log`)
		if err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return fmt.Errorf("ledger: %w", err)
			}
			newKey(k)
		}
		rows.Close()
	}
	// "ORDER BY key, id": the B-tree is filled in order, and of two outcomes
	// of one key the later one is applied last.
	if _, err := tx.Exec(`INSERT INTO items(key, route, origin, hash, status, target_id, attempts, code, error, payload, kept, run_id, updated_at)
		SELECT key, route, origin, hash, status, target_id, attempts, code, error, payload, kept, run_id, updated_at FROM log WHERE true ORDER BY key, id
		ON CONFLICT(key) DO UPDATE SET route = excluded.route, origin = excluded.origin, hash = excluded.hash,
			status = excluded.status, target_id = excluded.target_id, attempts = items.attempts + excluded.attempts,
			code = excluded.code, error = excluded.error, payload = excluded.payload, kept = excluded.kept,
			run_id = excluded.run_id, updated_at = excluded.updated_at
		WHERE items.status != 'loaded' OR excluded.status = 'loaded'`); err != nil {
		return fmt.Errorf("ledger: compacting: %w", err)
	}
	if _, err := tx.Exec(`DELETE FROM log`); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return tx.Commit()
}

// Failed calls fn with every failed item, payload included.
func (l *Ledger) Failed(fn func(Entry) error) error {
	rows, err := l.db.Query(`SELECT key, route, origin, hash, target_id, attempts, code, error, payload, run_id FROM items WHERE status = 'failed' AND payload IS NOT NULL ORDER BY origin`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		e := Entry{Status: Failed}
		var route string
		if err := rows.Scan(&e.Key, &route, &e.Origin, &e.Hash, &e.TargetID, &e.Attempts, &e.Code, &e.Error, &e.Payload, &e.RunID); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(route), &e.Route); err != nil {
			return fmt.Errorf("ledger: item %s: bad route %q: %w", e.Key, route, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Counts returns the number of items per status, the log of a run in
// progress included.
func (l *Ledger) Counts() (map[string]int, error) {
	return l.countBy(`
		WITH latest AS (SELECT key, status FROM log WHERE id IN (SELECT max(id) FROM log GROUP BY key))
		SELECT status, COUNT(*) FROM (
			SELECT key, status FROM items WHERE key NOT IN (SELECT key FROM latest)
			UNION ALL
			SELECT latest.key, CASE WHEN items.status = 'loaded' THEN 'loaded' ELSE latest.status END
			FROM latest LEFT JOIN items ON items.key = latest.key
		) GROUP BY status`)
}

// RecordFailures counts the last run's read and map failures by stage.
func (l *Ledger) RecordFailures(runID int64) (map[string]int, error) {
	return l.countBy(`SELECT stage, COUNT(*) FROM record_failures WHERE run_id = ? GROUP BY stage`, runID)
}

// countBy runs a "SELECT name, COUNT(*) … GROUP BY name" query.
func (l *Ledger) countBy(query string, args ...any) (map[string]int, error) {
	rows, err := l.db.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// Runs returns the last n runs, newest first.
func (l *Ledger) Runs(n int) ([]Run, error) {
	rows, err := l.db.Query(`SELECT id, job, command, started_at, finished_at, state, last_origin, counts FROM runs ORDER BY id DESC LIMIT ?`, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var started, finished string
		if err := rows.Scan(&r.ID, &r.Job, &r.Command, &started, &finished, &r.State, &r.LastOrigin, &r.Counts); err != nil {
			return nil, err
		}
		r.StartedAt, _ = time.Parse(time.RFC3339Nano, started)
		r.FinishedAt, _ = time.Parse(time.RFC3339Nano, finished)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Entry returns one item's row, for status and tests.
func (l *Ledger) Entry(key string) (Entry, bool, error) {
	e := Entry{Key: key}
	var route, updated string
	err := l.db.QueryRow(`SELECT route, origin, hash, status, target_id, attempts, code, error, run_id, updated_at FROM items WHERE key = ?`, key).
		Scan(&route, &e.Origin, &e.Hash, &e.Status, &e.TargetID, &e.Attempts, &e.Code, &e.Error, &e.RunID, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, err
	}
	_ = json.Unmarshal([]byte(route), &e.Route)
	e.LoadedAt, _ = time.Parse(time.RFC3339Nano, updated)
	return e, true, nil
}
