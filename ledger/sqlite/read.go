package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/msgmigrate/msgmigrate/ledger"
)

// Counts are the totals: items by outcome, record failures by stage.
func (d *DB) Counts() (ledger.Counts, error) {
	c := ledger.Counts{RecordFailures: map[string]int64{}}
	rows, err := d.db.Query(`SELECT status, count(*) FROM items GROUP BY status`)
	if err != nil {
		return c, fmt.Errorf("ledger %s: %w", d.path, err)
	}
	for rows.Next() {
		var st int
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return c, err
		}
		if st == stLoaded {
			c.Loaded = n
		} else {
			c.Failed = n
		}
	}
	rows.Close()
	rows, err = d.db.Query(`SELECT stage, count(*) FROM record_failures GROUP BY stage`)
	if err != nil {
		return c, fmt.Errorf("ledger %s: %w", d.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var stage string
		var n int64
		if err := rows.Scan(&stage, &n); err != nil {
			return c, err
		}
		c.RecordFailures[stage] = n
	}
	return c, rows.Err()
}

// Breakdown groups items by code (failed ones) or route.
func (d *DB) Breakdown(by string) ([]ledger.Group, error) {
	var q string
	switch by {
	case "code":
		q = `SELECT coalesce(code, ''), 0, count(*) FROM items WHERE status = 2 GROUP BY code ORDER BY count(*) DESC, code`
	case "route":
		q = `SELECT r.route, sum(i.status = 1), sum(i.status = 2) FROM items i JOIN routes r ON r.id = i.route
			GROUP BY i.route ORDER BY sum(i.status = 2) DESC, count(*) DESC, r.route`
	default:
		return nil, fmt.Errorf("breakdown by %q: want code or route", by)
	}
	rows, err := d.db.Query(q)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", d.path, err)
	}
	defer rows.Close()
	var out []ledger.Group
	for rows.Next() {
		var g ledger.Group
		if err := rows.Scan(&g.Name, &g.Loaded, &g.Failed); err != nil {
			return nil, err
		}
		if by == "route" {
			var r []string
			if json.Unmarshal([]byte(g.Name), &r) == nil {
				g.Name = strings.Join(r, "/")
			}
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Runs returns the last n runs, newest first.
func (d *DB) Runs(n int) ([]ledger.Run, error) {
	rows, err := d.db.Query(`SELECT id, job, command, started_at, finished_at, state, last_origin, counts FROM runs ORDER BY id DESC LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", d.path, err)
	}
	defer rows.Close()
	var out []ledger.Run
	for rows.Next() {
		var r ledger.Run
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

const entryCols = `i.key, r.route, s.name, i.line, i.ident, i.hash, i.status, coalesce(i.target, ''), coalesce(i.code, ''),
	coalesce(i.error, ''), i.payload, coalesce(i.kept, ''), i.run, i.at`

const entryFrom = ` FROM items i JOIN routes r ON r.id = i.route JOIN sources s ON s.id = i.source `

func scanEntry(rows *sql.Rows) (ledger.Entry, error) {
	var e ledger.Entry
	var route, src, kept string
	var line sql.NullInt64
	var ident sql.NullString
	var hash []byte
	var status int
	var at int64
	if err := rows.Scan(&e.Key, &route, &src, &line, &ident, &hash, &status, &e.TargetID, &e.Code, &e.Error, &e.Payload, &kept, &e.RunID, &at); err != nil {
		return e, err
	}
	if err := json.Unmarshal([]byte(route), &e.Route); err != nil {
		return e, fmt.Errorf("item %s: bad route %q: %w", e.Key, route, err)
	}
	e.Origin.Source, e.Origin.Line, e.Origin.ID = src, int(line.Int64), ident.String
	copy(e.Hash[:], hash)
	e.Status = ledger.Loaded
	if status == stFailed {
		e.Status = ledger.Failed
	}
	if kept != "" {
		e.Kept = []byte(kept)
	}
	e.At = time.UnixMilli(at).UTC()
	return e, nil
}

func (d *DB) each(q string, args []any, fn func(ledger.Entry) error) error {
	rows, err := d.db.Query(q, args...)
	if err != nil {
		return fmt.Errorf("ledger %s: %w", d.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return fmt.Errorf("ledger %s: %w", d.path, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Failed calls fn with every failed item with one of codes (all when none).
func (d *DB) Failed(codes []string, fn func(ledger.Entry) error) error {
	q := `SELECT ` + entryCols + entryFrom + `WHERE i.status = 2`
	var args []any
	if len(codes) > 0 {
		q += ` AND i.code IN (?` + strings.Repeat(",?", len(codes)-1) + `)`
		for _, c := range codes {
			args = append(args, c)
		}
	}
	return d.each(q+` ORDER BY i.row`, args, fn)
}

// Loaded calls fn with every loaded item.
func (d *DB) Loaded(fn func(ledger.Entry) error) error {
	return d.each(`SELECT `+entryCols+entryFrom+`WHERE i.status = 1 ORDER BY i.row`, nil, fn)
}

// RecordFailures calls fn with every record that failed before it had a
// key and was not read correctly since.
func (d *DB) RecordFailures(fn func(ledger.RecordFailure) error) error {
	rows, err := d.db.Query(`SELECT f.run, s.name, f.line, f.ident, f.stage, f.error, coalesce(f.raw, '')
		FROM record_failures f JOIN sources s ON s.id = f.source ORDER BY f.id`)
	if err != nil {
		return fmt.Errorf("ledger %s: %w", d.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var f ledger.RecordFailure
		var line sql.NullInt64
		var ident sql.NullString
		if err := rows.Scan(&f.RunID, &f.Origin.Source, &line, &ident, &f.Stage, &f.Error, &f.Raw); err != nil {
			return err
		}
		f.Origin.Line, f.Origin.ID = int(line.Int64), ident.String
		if err := fn(f); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Meta returns a stored value ("" when absent).
func (d *DB) Meta(key string) (string, error) {
	var v string
	err := d.db.QueryRow(`SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// Size is the room the ledger takes on disk: the file, its write-ahead log
// and its key index.
func (d *DB) Size() (int64, error) {
	var n int64
	for _, p := range []string{d.path, d.path + "-wal", d.path + "-shm"} {
		if st, err := os.Stat(p); err == nil {
			n += st.Size()
		}
	}
	err := filepath.WalkDir(d.path+".keys", func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := e.Info(); err == nil && !e.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n, err
}
