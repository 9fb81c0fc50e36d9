package sqlite

import (
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// migrateV1 upgrades a ledger of the first layout (a key-ordered items
// table and an outcome log) in place: the log's outcomes are applied, and
// every item moves to the current tables, oldest first. It reports false
// when the file is not such a ledger.
func migrateV1(db *sql.DB) (bool, error) {
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('items', 'log', 'runs')`).Scan(&n); err != nil {
		return false, err
	}
	if n != 3 {
		return false, nil
	}
	tx, err := db.Begin()
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	steps := []string{
		// The log's outcomes, as the first layout merged them.
		`INSERT INTO items(key, route, origin, hash, status, target_id, attempts, code, error, payload, kept, run_id, updated_at)
		 SELECT key, route, origin, hash, status, target_id, attempts, code, error, payload, kept, run_id, updated_at FROM log WHERE true ORDER BY key, id
		 ON CONFLICT(key) DO UPDATE SET route = excluded.route, origin = excluded.origin, hash = excluded.hash,
			status = excluded.status, target_id = excluded.target_id, code = excluded.code, error = excluded.error,
			payload = excluded.payload, kept = excluded.kept, run_id = excluded.run_id, updated_at = excluded.updated_at
		 WHERE items.status != 'loaded' OR excluded.status = 'loaded'`,
		`ALTER TABLE items RENAME TO items_v1`,
		`ALTER TABLE record_failures RENAME TO record_failures_v1`,
		`DROP TABLE log`,
		`DROP INDEX IF EXISTS items_status`,
	}
	for _, s := range steps {
		if _, err := tx.Exec(s); err != nil {
			return false, fmt.Errorf("upgrading the ledger: %w", err)
		}
	}
	if _, err := tx.Exec(schemaSQL); err != nil {
		return false, fmt.Errorf("upgrading the ledger: %w", err)
	}
	rows, err := tx.Query(`SELECT key, route, origin, hash, status, target_id, code, error, payload, kept, run_id, updated_at FROM items_v1 ORDER BY updated_at, key`)
	if err != nil {
		return false, err
	}
	type old struct {
		key, route, origin, status, target, code, errText, at string
		hash, payload                                         []byte
		kept                                                  sql.NullString
		run                                                   int64
	}
	var all []old
	for rows.Next() {
		var o old
		if err := rows.Scan(&o.key, &o.route, &o.origin, &o.hash, &o.status, &o.target, &o.code, &o.errText, &o.payload, &o.kept, &o.run, &o.at); err != nil {
			rows.Close()
			return false, err
		}
		all = append(all, o)
	}
	rows.Close()
	routes, sources := newIDCache(1<<30), newIDCache(1<<30)
	for _, o := range all {
		route, err := intern(tx, routes, "routes", "route", o.route)
		if err != nil {
			return false, err
		}
		srcName, line, ident := splitOrigin(o.origin)
		src, err := intern(tx, sources, "sources", "name", srcName)
		if err != nil {
			return false, err
		}
		st := stLoaded
		var payload any
		if o.status != "loaded" {
			st, payload = stFailed, o.payload
		}
		at := parseMillis(o.at)
		if _, err := tx.Exec(`INSERT INTO items(key, route, source, line, ident, hash, status, target, code, error, payload, kept, run, at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			o.key, route, src, line, ident, o.hash, st, nullable(o.target), nullable(o.code), nullable(o.errText), payload, o.kept, o.run, at); err != nil {
			return false, err
		}
	}
	rf, err := tx.Query(`SELECT run_id, origin, stage, error FROM record_failures_v1`)
	if err != nil {
		return false, err
	}
	type oldFail struct {
		run                  int64
		origin, stage, errTx string
	}
	var fails []oldFail
	for rf.Next() {
		var f oldFail
		if err := rf.Scan(&f.run, &f.origin, &f.stage, &f.errTx); err != nil {
			rf.Close()
			return false, err
		}
		fails = append(fails, f)
	}
	rf.Close()
	for _, f := range fails {
		srcName, line, ident := splitOrigin(f.origin)
		src, err := intern(tx, sources, "sources", "name", srcName)
		if err != nil {
			return false, err
		}
		if _, err := tx.Exec(`INSERT INTO record_failures(run, source, line, ident, stage, error) VALUES(?, ?, ?, ?, ?, ?)`, f.run, src, line, ident, f.stage, f.errTx); err != nil {
			return false, err
		}
	}
	for _, s := range []string{`DROP TABLE items_v1`, `DROP TABLE record_failures_v1`,
		`INSERT INTO meta(key, value) VALUES('` + identityKey + `', '` + identity + `') ON CONFLICT(key) DO UPDATE SET value = excluded.value`} {
		if _, err := tx.Exec(s); err != nil {
			return false, err
		}
	}
	return true, tx.Commit()
}

var lineRE = regexp.MustCompile(`^(.*):(\d+)$`)

// splitOrigin reads an origin as msg.Origin.String wrote it.
func splitOrigin(s string) (src string, line, ident any) {
	if m := lineRE.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[2])
		return m[1], n, nil
	}
	if src, id, ok := strings.Cut(s, " message "); ok {
		return src, nil, id
	}
	return s, nil, nil
}

func parseMillis(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0
	}
	return t.UnixMilli()
}
