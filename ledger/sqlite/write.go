package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/ledger/keyindex"
	"github.com/msgmigrate/msgmigrate/msg"
)

type stmts struct {
	origin *sql.Stmt
	// insert[n] inserts n items; prepared once, on first use, for the
	// chunk sizes Write uses (a statement parsed per Write cost a tenth of
	// a run's CPU).
	insert map[int]*sql.Stmt
}

func (d *DB) prepareStmts() error {
	var err error
	d.stmts.origin, err = d.db.Prepare(`SELECT s.name, i.line, i.ident FROM items i JOIN sources s ON s.id = i.source WHERE i.row = ?`)
	return err
}

func (s *stmts) close() {
	if s.origin != nil {
		s.origin.Close()
	}
	for _, st := range s.insert {
		st.Close()
	}
}

// insertStmt is the statement that inserts n items (n one of chunkSizes).
func (d *DB) insertStmt(n int) (*sql.Stmt, error) {
	if st := d.stmts.insert[n]; st != nil {
		return st, nil
	}
	st, err := d.db.Prepare(insertSQL(n))
	if err != nil {
		return nil, err
	}
	if d.stmts.insert == nil {
		d.stmts.insert = map[int]*sql.Stmt{}
	}
	d.stmts.insert[n] = st
	return st, nil
}

// idCache maps a route or source to its id, bounded: a sink whose route
// names the record (one per item) must not fill memory.
type idCache struct {
	m   map[string]int64
	max int
}

func newIDCache(max int) *idCache { return &idCache{m: make(map[string]int64), max: max} }

func (c *idCache) put(k string, id int64) {
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = id
}

// intern returns the id of name in table (routes or sources), adding it;
// c caches it by name.
func intern(tx *sql.Tx, c *idCache, table, col, name string) (int64, error) {
	if id, ok := c.m[name]; ok {
		return id, nil
	}
	id, err := idOf(tx, table, col, name)
	if err == nil {
		c.put(name, id)
	}
	return id, err
}

// idOf reads, or adds, the id of name in table.
func idOf(tx *sql.Tx, table, col, name string) (int64, error) {
	var id int64
	err := tx.QueryRow(`SELECT id FROM `+table+` WHERE `+col+` = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRow(`INSERT INTO `+table+`(`+col+`) VALUES(?) RETURNING id`, name).Scan(&id)
	}
	return id, err
}

// routeID interns a route, its text written only when it is not cached: a
// JSON encoding per item was a tenth of Write.
func (d *DB) routeID(tx *sql.Tx, route []string) (int64, error) {
	var kb []byte
	for _, p := range route { // length-prefixed: parts may hold any byte
		kb = append(binary.AppendUvarint(kb, uint64(len(p))), p...)
	}
	k := string(kb)
	if id, ok := d.routes.m[k]; ok {
		return id, nil
	}
	id, err := idOf(tx, "routes", "route", routeText(route))
	if err == nil {
		d.routes.put(k, id)
	}
	return id, err
}

// routeText is a route as stored: a JSON array.
func routeText(r []string) string {
	var b bytes.Buffer
	json.NewEncoder(&b).Encode(r)
	return strings.TrimSuffix(b.String(), "\n")
}

// insertChunk rows go into one INSERT: fewer statements, the same rows. A
// shorter rest goes in chunks of the smaller sizes, so that four prepared
// statements serve every write.
const insertChunk = 64

var chunkSizes = []int{insertChunk, 16, 4, 1}

const itemCols = 14

// insertSQL is the INSERT of n items.
func insertSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO items(key, route, source, line, ident, hash, status, target, code, error, payload, kept, run, at) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`(?,?,?,?,?,?,?,?,?,?,?,?,?,?)`)
	}
	return b.String()
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Write records outcomes, record failures and cleared record failures in
// one transaction, then adds the outcomes to the key index.
func (d *DB) Write(runID int64, items []ledger.Entry, failures []ledger.RecordFailure, cleared []msg.Origin) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	now := time.Now().UnixMilli()
	tx, err := d.db.Begin()
	if err != nil {
		return fmt.Errorf("ledger %s: %w", d.path, err)
	}
	defer tx.Rollback()

	// Keys recorded before: their row is replaced, unless a loaded item
	// would be downgraded by a later failure.
	keep := make([]bool, len(items))
	var drop []any
	last := make(map[string]int, len(items)) // a key twice in one write: the later wins
	for i := range items {
		last[items[i].Key] = i
	}
	for i := range items {
		e := &items[i]
		if last[e.Key] != i {
			continue
		}
		prior, ok, err := d.index.Lookup(keyindex.Of(e.Key))
		if err != nil {
			return fmt.Errorf("ledger %s: key index: %w", d.path, err)
		}
		if ok && prior.Status == keyindex.Loaded && e.Status == ledger.Failed {
			continue
		}
		keep[i] = true
		if ok && prior.Row > 0 {
			drop = append(drop, prior.Row)
		}
	}
	for len(drop) > 0 {
		n := min(len(drop), 500)
		q := `DELETE FROM items WHERE row IN (?` + strings.Repeat(",?", n-1) + `)`
		if _, err := tx.Exec(q, drop[:n]...); err != nil {
			return fmt.Errorf("ledger %s: %w", d.path, err)
		}
		drop = drop[n:]
	}

	added := make([]keyindex.Entry, 0, len(items))
	var maxRow int64
	args := make([]any, 0, insertChunk*itemCols)
	var chunk []*ledger.Entry
	// insert writes chunk[off:off+n] (n one of chunkSizes) in one statement.
	insert := func(off, n int) error {
		st, err := d.insertStmt(n)
		if err != nil {
			return err
		}
		res, err := tx.Stmt(st).Exec(args[off*itemCols : (off+n)*itemCols]...)
		if err != nil {
			return err
		}
		last, err := res.LastInsertId()
		if err != nil {
			return err
		}
		// One INSERT of n rows under the write lock takes n consecutive
		// rows (AUTOINCREMENT: always above every row there ever was).
		first := last - int64(n) + 1
		for j, e := range chunk[off : off+n] {
			st := keyindex.Loaded
			if e.Status == ledger.Failed {
				st = keyindex.Failed
			}
			added = append(added, keyindex.Entry{FP: keyindex.Of(e.Key), Status: st, Hash: ledger.Hash64(e.Hash), Row: first + int64(j), Run: uint32(runID)})
		}
		maxRow = last
		return nil
	}
	flush := func() error {
		off := 0
		for _, n := range chunkSizes {
			for len(chunk)-off >= n {
				if err := insert(off, n); err != nil {
					return err
				}
				off += n
			}
		}
		chunk, args = chunk[:0], args[:0]
		return nil
	}
	for i := range items {
		if !keep[i] {
			continue
		}
		e := &items[i]
		route, err := d.routeID(tx, e.Route)
		if err != nil {
			return fmt.Errorf("ledger %s: %w", d.path, err)
		}
		src, err := intern(tx, d.sources, "sources", "name", e.Origin.Source)
		if err != nil {
			return fmt.Errorf("ledger %s: %w", d.path, err)
		}
		status := stLoaded
		var payload any
		if e.Status == ledger.Failed {
			status, payload = stFailed, e.Payload
		}
		var kept any
		if len(e.Kept) > 0 {
			kept = string(e.Kept)
		}
		line, ident := originCols(e.Origin)
		args = append(args, e.Key, route, src, line, ident, e.Hash[:], status, nullable(e.TargetID), nullable(e.Code), nullable(e.Error), payload, kept, runID, now)
		chunk = append(chunk, e)
		if len(chunk) == insertChunk {
			if err := flush(); err != nil {
				return fmt.Errorf("ledger %s: %w", d.path, err)
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("ledger %s: %w", d.path, err)
	}

	for _, f := range failures {
		src, err := intern(tx, d.sources, "sources", "name", f.Origin.Source)
		if err != nil {
			return fmt.Errorf("ledger %s: %w", d.path, err)
		}
		line, ident := originCols(f.Origin)
		// One failure per record: a record that fails again replaces it.
		if _, err := tx.Exec(`DELETE FROM record_failures WHERE source = ? AND line IS ? AND ident IS ?`, src, line, ident); err != nil {
			return fmt.Errorf("ledger %s: %w", d.path, err)
		}
		if _, err := tx.Exec(`INSERT INTO record_failures(run, source, line, ident, stage, error, raw) VALUES(?, ?, ?, ?, ?, ?, ?)`,
			runID, src, line, ident, f.Stage, f.Error, nullable(f.Raw)); err != nil {
			return fmt.Errorf("ledger %s: %w", d.path, err)
		}
	}
	if d.openFailures > 0 || len(failures) > 0 {
		for _, o := range cleared {
			src, ok := d.sources.m[o.Source]
			if !ok {
				continue // no failure was ever recorded from there
			}
			line, ident := originCols(o)
			if _, err := tx.Exec(`DELETE FROM record_failures WHERE source = ? AND line IS ? AND ident IS ?`, src, line, ident); err != nil {
				return fmt.Errorf("ledger %s: %w", d.path, err)
			}
		}
	}
	if len(failures) > 0 || (d.openFailures > 0 && len(cleared) > 0) {
		if err := tx.QueryRow(`SELECT count(*) FROM record_failures`).Scan(&d.openFailures); err != nil {
			return fmt.Errorf("ledger %s: %w", d.path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ledger %s: %w", d.path, err)
	}
	return d.index.Add(added, maxRow)
}

func originCols(o msg.Origin) (line, ident any) {
	if o.Line > 0 {
		line = o.Line
	}
	if o.ID != "" {
		ident = o.ID
	}
	return line, ident
}

func originString(src string, line sql.NullInt64, ident sql.NullString) string {
	return msg.Origin{Source: src, Line: int(line.Int64), ID: ident.String}.String()
}

// Lookup answers from the key index.
func (d *DB) Lookup(keys []string, out []ledger.Seen) error {
	for i, k := range keys {
		e, ok, err := d.index.Lookup(keyindex.Of(k))
		if err != nil {
			return fmt.Errorf("ledger %s: key index: %w", d.path, err)
		}
		if !ok {
			out[i] = ledger.Seen{}
			continue
		}
		st := ledger.Loaded
		if e.Status == keyindex.Failed {
			st = ledger.Failed
		}
		out[i] = ledger.Seen{Known: true, Status: st, Hash: e.Hash, RunID: int64(e.Run)}
	}
	return nil
}

// Origin reads where a known key's record was.
func (d *DB) Origin(key string) (string, error) {
	e, ok, err := d.index.Lookup(keyindex.Of(key))
	if err != nil || !ok {
		return "", err
	}
	var src string
	var line sql.NullInt64
	var ident sql.NullString
	if err := d.stmts.origin.QueryRow(e.Row).Scan(&src, &line, &ident); err != nil {
		return "", fmt.Errorf("ledger %s: %w", d.path, err)
	}
	return originString(src, line, ident), nil
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// StartRun records a new run; runs left "running" by a process that died
// are marked so.
func (d *DB) StartRun(job, command string) (int64, error) {
	if _, err := d.db.Exec(`UPDATE runs SET state = 'died' WHERE state = 'running'`); err != nil {
		return 0, fmt.Errorf("ledger %s: %w", d.path, err)
	}
	res, err := d.db.Exec(`INSERT INTO runs(job, command, started_at, state) VALUES(?, ?, ?, 'running')`, job, command, now())
	if err != nil {
		return 0, fmt.Errorf("ledger %s: %w", d.path, err)
	}
	return res.LastInsertId()
}

// Progress records how far a run has read.
func (d *DB) Progress(id int64, lastOrigin string) error {
	_, err := d.db.Exec(`UPDATE runs SET last_origin = ? WHERE id = ?`, lastOrigin, id)
	return err
}

// FinishRun records how a run ended.
func (d *DB) FinishRun(id int64, state, lastOrigin string, counts any) error {
	cj, _ := json.Marshal(counts)
	_, err := d.db.Exec(`UPDATE runs SET finished_at = ?, state = ?, last_origin = ?, counts = ? WHERE id = ?`, now(), state, lastOrigin, string(cj), id)
	if err != nil {
		return fmt.Errorf("ledger %s: %w", d.path, err)
	}
	return nil
}

// SetMeta stores a value (the watermark).
func (d *DB) SetMeta(key, value string) error {
	_, err := d.db.Exec(`INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// Vacuum rewrites the file without its free pages, empties the WAL and
// merges the key index's runs.
func (d *DB) Vacuum() error {
	if _, err := d.db.Exec(`VACUUM`); err != nil {
		return fmt.Errorf("ledger %s: %w", d.path, err)
	}
	if _, err := d.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("ledger %s: %w", d.path, err)
	}
	if err := d.index.Flush(); err != nil {
		return err
	}
	return d.index.Compact(context.Background())
}
