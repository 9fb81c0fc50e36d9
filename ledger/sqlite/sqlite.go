// Package sqlite is the ledger's embedded backend: one SQLite file per
// shard (pure Go: no cgo on the data engineer's machine), with a derived key
// index beside it (FILE.keys/) that the gate asks instead of the file.
package sqlite

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/ledger/keyindex"
)

func init() { ledger.Register(backend{}) }

type backend struct{}

// Serves any path: a state that is not a URL.
func (backend) Serves(state string) bool { return !strings.Contains(state, "://") }

func (backend) Open(state string, o ledger.Options) (ledger.Ledger, error) {
	return Open(ShardPath(state, o.Shard), o)
}

func (backend) Readers(state string) ([]ledger.Reader, error) {
	paths, err := ShardPaths(state)
	if err != nil {
		return nil, err
	}
	var rs []ledger.Reader
	for _, p := range paths {
		r, err := OpenReader(p)
		if err != nil {
			for _, r := range rs {
				r.Close()
			}
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// ShardPath is the file of one shard: job.db for an unsharded job,
// job.shard-3-of-8.db for shard 3 of 8.
func ShardPath(state string, s ledger.Shard) string {
	if s.Count == 0 {
		return state
	}
	return fmt.Sprintf("%s.shard-%d-of-%d.db", strings.TrimSuffix(state, ".db"), s.Index, s.Count)
}

// ShardPaths are the ledger files a job has: the unsharded one and every
// shard's, whichever exist.
func ShardPaths(state string) ([]string, error) {
	var paths []string
	if _, err := os.Stat(state); err == nil {
		paths = append(paths, state)
	}
	more, err := filepath.Glob(globEscape(strings.TrimSuffix(state, ".db")) + ".shard-*-of-*.db")
	if err != nil {
		return nil, err
	}
	paths = append(paths, more...)
	if len(paths) == 0 {
		return nil, fmt.Errorf("no ledger at %s: the job has not run yet", state)
	}
	return paths, nil
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

// DB is an SQLite ledger file.
type DB struct {
	db    *sql.DB
	path  string
	log   *slog.Logger
	index *keyindex.Index // nil when read-only
	lock  func()

	wmu     sync.Mutex // one Write at a time
	routes  *idCache   // by the route's parts, length-prefixed (not its text: encoded only on a miss)
	sources *idCache
	// openFailures: record failures are few; deletes for records read
	// correctly are only tried while some exist.
	openFailures int64
	stmts        stmts
}

const sqliteMagic = "SQLite format 3\x00"

func dsn(path string, readOnly bool) string {
	v := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=cache_size(-8000)&_txlock=immediate"
	if readOnly {
		v += "&mode=ro"
	}
	return v
}

// Open opens (or, when neither it nor any trace of it exists, creates) the
// ledger at path for a run, takes its lock, and brings its key index up to
// date. A file that is not a ledger, or a ledger that vanished while a trace
// of an earlier run remains, is refused unless o.NewLedger.
func Open(path string, o ledger.Options) (*DB, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("ledger %s: %w", path, err)
		}
	}
	// SQLite says only "unable to open database file (14)": say which
	// directory, and why.
	if err := unix.Access(filepath.Dir(path), unix.W_OK); err != nil {
		return nil, fmt.Errorf("ledger %s: its directory %s is not writable (%w): a run records into it; give this job a writable state:", path, filepath.Dir(path), err)
	}
	unlock, err := lock(path)
	if err != nil {
		return nil, err
	}
	d, err := openLocked(path, o, log)
	if err != nil {
		unlock()
		return nil, err
	}
	d.lock = unlock
	return d, nil
}

func openLocked(path string, o ledger.Options, log *slog.Logger) (*DB, error) {
	exists, err := selfCheck(path, o)
	if err != nil && o.NewLedger {
		if err := setAside(path, log); err != nil {
			return nil, err
		}
		exists, err = false, nil
	}
	if err != nil {
		return nil, err
	}
	if exists && o.NewLedger {
		if err := setAside(path, log); err != nil {
			return nil, err
		}
		exists = false
	}
	if !exists {
		// A stale key index would describe another ledger.
		if err := keyindex.Remove(path + ".keys"); err != nil {
			return nil, fmt.Errorf("ledger %s: %w", path, err)
		}
	}
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	db.SetMaxOpenConns(2)
	d := &DB{db: db, path: path, log: log, routes: newIDCache(4096), sources: newIDCache(64)}
	if err := d.prepare(exists); err != nil {
		db.Close()
		if errors.Is(err, ledger.ErrNotLedger) {
			return nil, err
		}
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	if err := d.openIndex(); err != nil {
		d.closeAll()
		return nil, err
	}
	return d, nil
}

// selfCheck says whether path holds a ledger, and refuses what cannot be
// one: an empty file, another kind of file, a ledger that vanished while the
// traces of an earlier run remain.
func selfCheck(path string, o ledger.Options) (exists bool, err error) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		traces := append([]string{path + "-wal", path + ".keys"}, o.Traces...)
		for _, t := range traces {
			if t == "" {
				continue
			}
			if _, err := os.Stat(t); err == nil {
				return false, fmt.Errorf("%w: the ledger %s is missing, but %s of an earlier run is there: was the ledger lost? "+
					"Restore it from a backup (with its -wal file), or run with --new-ledger to start over (everything is sent again)", ledger.ErrNotLedger, path, t)
			}
		}
		return false, nil
	case err != nil:
		return false, fmt.Errorf("ledger %s: %w", path, err)
	case st.IsDir():
		return false, fmt.Errorf("%w: %s is a directory", ledger.ErrNotLedger, path)
	case st.Size() == 0:
		return false, fmt.Errorf("%w: the ledger %s is empty (0 bytes) — a failed copy, a full disk, a bad restore? "+
			"Restore it from a backup (with its -wal file), or run with --new-ledger to start over (everything is sent again)", ledger.ErrNotLedger, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("ledger %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, []byte(sqliteMagic)) {
		return false, fmt.Errorf("%w: %s is not a ledger (not an SQLite database); restore the ledger, give this job another state:, or run with --new-ledger", ledger.ErrNotLedger, path)
	}
	return true, nil
}

// parts are the suffixes of a ledger's files: the database, its
// write-ahead log and shared memory, and the key index's directory.
var parts = []string{"", "-wal", "-shm", ".keys"}

// Remove deletes the ledger at path and its companions. Only for a ledger
// that is a measurement's own (msgmigrate bench): a run never deletes one.
func Remove(path string) error {
	for _, suffix := range parts {
		if err := os.RemoveAll(path + suffix); err != nil {
			return fmt.Errorf("ledger %s: %w", path, err)
		}
	}
	return nil
}

// setAside moves a ledger (and its companions) out of the way, never
// deleting it: it may still be needed.
func setAside(path string, log *slog.Logger) error {
	stamp := time.Now().UTC().Format("20060102T150405Z")
	for _, suffix := range parts {
		p := path + suffix
		if _, err := os.Stat(p); err != nil {
			continue
		}
		to := path + ".set-aside-" + stamp + suffix
		if err := os.Rename(p, to); err != nil {
			return fmt.Errorf("ledger %s: setting it aside: %w", path, err)
		}
		log.Warn("--new-ledger: the earlier ledger is set aside", "from", p, "to", to)
	}
	return nil
}

// prepare creates or checks the schema, and reads the caches.
func (d *DB) prepare(existed bool) error {
	if existed {
		v, err := identityOf(d.db)
		switch {
		case err != nil:
			return fmt.Errorf("%w: %s cannot be read as a ledger: %v", ledger.ErrNotLedger, d.path, err)
		case v == identity:
		case v != "":
			return fmt.Errorf("%w: %s is a ledger of another layout (%q); this msgmigrate reads %q", ledger.ErrNotLedger, d.path, v, identity)
		default:
			migrated, merr := migrateV1(d.db)
			if merr != nil {
				return merr
			}
			if !migrated {
				return fmt.Errorf("%w: %s is an SQLite database but not a msgmigrate ledger; give this job another state:, or run with --new-ledger to set it aside and start over", ledger.ErrNotLedger, d.path)
			}
			d.log.Info("ledger upgraded to the current layout", "ledger", d.path)
		}
	}
	if _, err := d.db.Exec(schemaSQL); err != nil {
		return err
	}
	if !existed {
		if _, err := d.db.Exec(`INSERT INTO meta(key, value) VALUES(?, ?), ('created_at', ?)`, identityKey, identity, time.Now().UTC().Format(time.RFC3339)); err != nil {
			return err
		}
	}
	if err := d.db.QueryRow(`SELECT count(*) FROM record_failures`).Scan(&d.openFailures); err != nil {
		return err
	}
	return d.prepareStmts()
}

// identityOf reads the file's identity: "" when it has none (not a
// ledger, or a ledger of the first layout).
func identityOf(db *sql.DB) (string, error) {
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).Scan(&n); err != nil {
		return "", err
	}
	if n == 0 {
		return "", nil
	}
	var v string
	err := db.QueryRow(`SELECT value FROM meta WHERE key = ?`, identityKey).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// openIndex opens the key index and adds what the file recorded after the
// index's last seal; a damaged or missing index is rebuilt from the file.
func (d *DB) openIndex() error {
	dir := d.path + ".keys"
	x, covered, err := keyindex.Open(dir, 0)
	if errors.Is(err, keyindex.ErrCorrupt) {
		d.log.Warn("the ledger's key index is damaged: rebuilding it from the ledger", "ledger", d.path, "reason", err)
		if err := keyindex.Remove(dir); err != nil {
			return fmt.Errorf("ledger %s: %w", d.path, err)
		}
		x, covered, err = keyindex.Open(dir, 0)
	}
	if err != nil {
		return fmt.Errorf("ledger %s: key index: %w", d.path, err)
	}
	d.index = x
	var maxRow int64
	if err := d.db.QueryRow(`SELECT coalesce(max(row), 0) FROM items`).Scan(&maxRow); err != nil {
		return fmt.Errorf("ledger %s: %w", d.path, err)
	}
	if covered > maxRow {
		// The index holds rows the file does not: it belongs to another
		// ledger (a restore without it). Rebuild.
		d.log.Warn("the ledger's key index does not match the ledger: rebuilding it", "ledger", d.path)
		x.Close()
		if err := keyindex.Remove(dir); err != nil {
			return err
		}
		if x, covered, err = keyindex.Open(dir, 0); err != nil {
			return fmt.Errorf("ledger %s: key index: %w", d.path, err)
		}
		d.index = x
	}
	if covered == maxRow {
		return nil
	}
	started := time.Now()
	rows, err := d.db.Query(`SELECT row, key, hash, status, run FROM items WHERE row > ? ORDER BY row`, covered)
	if err != nil {
		return fmt.Errorf("ledger %s: %w", d.path, err)
	}
	defer rows.Close()
	batch := make([]keyindex.Entry, 0, 4096)
	n := 0
	for rows.Next() {
		var row, run int64
		var key string
		var hash []byte
		var status int
		if err := rows.Scan(&row, &key, &hash, &status, &run); err != nil {
			return fmt.Errorf("ledger %s: %w", d.path, err)
		}
		batch = append(batch, indexEntry(key, hash, status, row, run))
		if len(batch) == cap(batch) {
			if err := d.index.Add(batch, row); err != nil {
				return err
			}
			n += len(batch)
			batch = batch[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ledger %s: %w", d.path, err)
	}
	if err := d.index.Add(batch, maxRow); err != nil {
		return err
	}
	n += len(batch)
	if n > 100_000 {
		d.log.Info("the ledger's key index caught up", "ledger", d.path, "items", n, "took", time.Since(started).Round(time.Millisecond))
	}
	return nil
}

func indexEntry(key string, hash []byte, status int, row, run int64) keyindex.Entry {
	var h [16]byte
	copy(h[:], hash)
	st := keyindex.Loaded
	if status == stFailed {
		st = keyindex.Failed
	}
	return keyindex.Entry{FP: keyindex.Of(key), Status: st, Hash: ledger.Hash64(h), Row: row, Run: uint32(run)}
}

// Where is the file.
func (d *DB) Where() string { return d.path }

// Close seals the key index (so the next run has nothing to catch up) and
// closes the file.
func (d *DB) Close() error {
	var err error
	if d.index != nil {
		err = d.index.Flush()
	}
	return errors.Join(err, d.closeAll())
}

func (d *DB) closeAll() error {
	var errs []error
	if d.index != nil {
		errs = append(errs, d.index.Close())
	}
	d.stmts.close()
	errs = append(errs, d.db.Close())
	if d.lock != nil {
		d.lock()
	}
	return errors.Join(errs...)
}

// OpenReader opens a ledger file to read, even while a run holds it.
func OpenReader(path string) (*DB, error) {
	if _, err := selfCheck(path, ledger.Options{}); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no ledger at %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	db.SetMaxOpenConns(2)
	d := &DB{db: db, path: path, log: slog.New(slog.DiscardHandler)}
	v, err := identityOf(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	if v != identity {
		db.Close()
		return nil, fmt.Errorf("%w: %s is not a ledger of this msgmigrate (run the job once to upgrade an older one)", ledger.ErrNotLedger, path)
	}
	return d, nil
}
