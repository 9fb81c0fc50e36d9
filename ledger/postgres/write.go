package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/msgmigrate/msgmigrate/ledger"
	"github.com/msgmigrate/msgmigrate/msg"
)

// statuses as stored.
const (
	stLoaded = 1
	stFailed = 2
)

var incomingCols = []string{"ord", "line", "status", "key", "route", "source", "ident", "hash", "target", "code", "error", "payload", "kept"}

// upsertSQL moves a Write's items from the staging table into items. In
// key order, so two shards that record the same keys at once wait for each
// other rather than deadlock (the price: seq's index, filled out of order
// within a write, keeps its newest pages half empty — a few bytes an item);
// seq keeps the order recorded. A loaded item is never downgraded by a
// later failure.
const upsertSQL = `WITH w AS MATERIALIZED (SELECT nextval('{s}.write_seq') * 4294967296 AS base)
INSERT INTO {s}.items AS i (seq, run, at, line, ledger, shard, route, source, status, key, hash, ident, target, code, error, payload, kept)
SELECT w.base + n.ord, $3, now(), n.line, $1, $2, r.id, s.id, n.status, n.key, n.hash, n.ident, n.target, n.code, n.error, n.payload, n.kept
FROM pg_temp.incoming n CROSS JOIN w JOIN {s}.routes r ON r.route = n.route JOIN {s}.sources s ON s.name = n.source
ORDER BY n.key
ON CONFLICT (ledger, key) DO UPDATE SET seq = excluded.seq, run = excluded.run, at = excluded.at, line = excluded.line,
	shard = excluded.shard, route = excluded.route, source = excluded.source, status = excluded.status, hash = excluded.hash,
	ident = excluded.ident, target = excluded.target, code = excluded.code, error = excluded.error, payload = excluded.payload, kept = excluded.kept
WHERE NOT (i.status = 1 AND excluded.status = 2)`

// Interning only what is missing: ON CONFLICT alone would take a sequence
// value for every row it skips. In order, as items are: two shards adding
// the same new routes wait for each other, never deadlock.
const (
	internRoutesSQL = `INSERT INTO {s}.routes(route) SELECT DISTINCT n.route FROM pg_temp.incoming n
		WHERE NOT EXISTS (SELECT 1 FROM {s}.routes r WHERE r.route = n.route) ORDER BY 1 ON CONFLICT DO NOTHING`
	internSourcesSQL = `INSERT INTO {s}.sources(name) SELECT DISTINCT n.source FROM pg_temp.incoming n
		WHERE NOT EXISTS (SELECT 1 FROM {s}.sources s WHERE s.name = n.source) ORDER BY 1 ON CONFLICT DO NOTHING`
	internNamesSQL = `INSERT INTO {s}.sources(name) SELECT DISTINCT n FROM unnest($1::text[]) n
		WHERE NOT EXISTS (SELECT 1 FROM {s}.sources s WHERE s.name = n) ORDER BY 1 ON CONFLICT DO NOTHING`
	deleteFailuresSQL = `DELETE FROM {s}.record_failures f USING {s}.sources s, unnest($2::text[], $3::bigint[], $4::text[]) AS o(source, line, ident)
		WHERE f.shard = $1 AND s.name = o.source AND f.source = s.id AND f.line = o.line AND f.ident = o.ident`
	insertFailuresSQL = `INSERT INTO {s}.record_failures(shard, run, source, line, ident, stage, error, raw)
		SELECT $1, $2, s.id, o.line, o.ident, o.stage, o.error, o.raw
		FROM unnest($3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[]) WITH ORDINALITY AS o(source, line, ident, stage, error, raw, ord)
		JOIN {s}.sources s ON s.name = o.source ORDER BY o.ord`
)

// routeText is a route as stored: a JSON array.
func routeText(r []string) string {
	b, _ := json.Marshal(r)
	return string(b)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return clean(s)
}

// clean makes a text storable: PostgreSQL's text holds valid UTF-8 without
// NUL, and a vendor's message or a record capped mid-character may be
// neither. A byte it cannot hold must not cost the run.
func clean(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

// escaped marks a key stored as base64: one that text cannot hold as it is
// (not UTF-8, or with NUL), or that starts as an escaped one would. Every
// key maps to one stored value and back, so a key is never confused with
// another.
const escaped = "\x01base64:"

func storedKey(k string) string {
	if utf8.ValidString(k) && strings.IndexByte(k, 0) < 0 && !strings.HasPrefix(k, "\x01") {
		return k
	}
	return escaped + base64.RawStdEncoding.EncodeToString([]byte(k))
}

func keyOf(stored string) string {
	if rest, ok := strings.CutPrefix(stored, escaped); ok {
		if b, err := base64.RawStdEncoding.DecodeString(rest); err == nil {
			return string(b)
		}
	}
	return stored
}

// originCols are a record's origin as stored in items: absent parts NULL.
func originCols(o msg.Origin) (line, ident any) {
	if o.Line > 0 {
		line = int64(o.Line)
	}
	if o.ID != "" {
		ident = clean(o.ID)
	}
	return line, ident
}

// origins are record origins as three arrays, for unnest.
type origins struct {
	source []string
	line   []int64
	ident  []string
}

func (o *origins) add(x msg.Origin) {
	o.source = append(o.source, clean(x.Source))
	o.line = append(o.line, int64(max(x.Line, 0)))
	o.ident = append(o.ident, clean(x.ID))
}

// deadlockDetected is PostgreSQL's SQLSTATE for a transaction it aborted
// to break a deadlock (Appendix A, "PostgreSQL Error Codes").
const deadlockDetected = "40P01"

// deadlockRetries is how often a write is tried when deadlocks abort it.
var deadlockRetries = 5

// testHookBeforeCommit lets a test kill a process inside a Write.
var testHookBeforeCommit func()

// Write records outcomes, record failures and the clearing of record
// failures in one transaction, on the connection that holds the run lock.
func (d *DB) Write(runID int64, items []ledger.Entry, failures []ledger.RecordFailure, cleared []msg.Origin) error {
	if len(items) == 0 && len(failures) == 0 && len(cleared) == 0 {
		return nil
	}
	d.cmu.Lock()
	defer d.cmu.Unlock()
	ctx := context.Background()
	q := d.q

	// A key twice in one write: the later wins (ON CONFLICT may touch a row
	// once per statement).
	last := make(map[string]int, len(items))
	for i := range items {
		last[items[i].Key] = i
	}
	keep := make([]int, 0, len(last))
	for i := range items {
		if last[items[i].Key] == i {
			keep = append(keep, i)
		}
	}

	write := func(tx pgx.Tx) error {
		if len(keep) > 0 {
			src := pgx.CopyFromSlice(len(keep), func(j int) ([]any, error) {
				e := &items[keep[j]]
				status := int16(stLoaded)
				var payload any
				if e.Status == ledger.Failed {
					status, payload = stFailed, e.Payload
				}
				var kept any
				if len(e.Kept) > 0 {
					kept = clean(string(e.Kept))
				}
				line, ident := originCols(e.Origin)
				return []any{int32(j), line, status, storedKey(e.Key), routeText(e.Route), clean(e.Origin.Source), ident, e.Hash[:],
					nullable(e.TargetID), nullable(e.Code), nullable(e.Error), payload, kept}, nil
			})
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", "incoming"}, incomingCols, src); err != nil {
				return err
			}
		}
		b := &pgx.Batch{}
		if len(keep) > 0 {
			b.Queue(q(internRoutesSQL))
			b.Queue(q(internSourcesSQL))
			b.Queue(q(upsertSQL), d.ledgerID, d.shardID, runID)
		}
		if len(failures) > 0 {
			// One failure per record: a record that fails again replaces
			// it, the later of two in one write too.
			lastF := make(map[msg.Origin]int, len(failures))
			for i, f := range failures {
				lastF[f.Origin] = i
			}
			var o origins
			var stage, errText, raw []string
			names := map[string]bool{}
			var srcs []string
			for i, f := range failures {
				if lastF[f.Origin] != i {
					continue
				}
				o.add(f.Origin)
				stage, errText, raw = append(stage, clean(f.Stage)), append(errText, clean(f.Error)), append(raw, clean(f.Raw))
				if src := clean(f.Origin.Source); !names[src] {
					names[src] = true
					srcs = append(srcs, src)
				}
			}
			b.Queue(q(internNamesSQL), srcs)
			b.Queue(q(deleteFailuresSQL), d.shardID, o.source, o.line, o.ident)
			b.Queue(q(insertFailuresSQL), d.shardID, runID, o.source, o.line, o.ident, stage, errText, nullRaw(raw))
		}
		if len(cleared) > 0 {
			var o origins
			for _, c := range cleared {
				o.add(c)
			}
			b.Queue(q(deleteFailuresSQL), d.shardID, o.source, o.line, o.ident)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if testHookBeforeCommit != nil {
			testHookBeforeCommit()
		}
		return nil
	}
	var err error
	for try := 1; ; try++ {
		err = pgx.BeginFunc(ctx, d.conn, write)
		// Writers take their locks in key order, but another application's
		// transaction, or a future statement, might not: a transaction the
		// server aborted to break a deadlock left nothing, and is written
		// again, after a pause that sets the two apart.
		var pe *pgconn.PgError
		if try < deadlockRetries && errors.As(err, &pe) && pe.Code == deadlockDetected {
			select {
			case <-time.After(time.Duration(rand.Int64N(int64(50*time.Millisecond) << try))):
				continue
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		break
	}
	if err != nil {
		return d.t.wrap(fmt.Errorf("ledger %s: %w", d.where, err))
	}
	return nil
}

// nullRaw stores an empty raw record as NULL.
func nullRaw(raw []string) []*string {
	out := make([]*string, len(raw))
	for i := range raw {
		if raw[i] != "" {
			out[i] = &raw[i]
		}
	}
	return out
}

// Lookup asks for a batch of keys in one query, on the primary key.
func (d *DB) Lookup(keys []string, out []ledger.Seen) error {
	ctx := context.Background()
	stored, cloned := keys, false
	for i, k := range keys {
		if sk := storedKey(k); sk != k {
			if !cloned {
				stored, cloned = slices.Clone(keys), true
			}
			stored[i] = sk
		}
	}
	rows, err := d.pool.pool.Query(ctx, d.q(`SELECT key, status, hash, run FROM {s}.items WHERE ledger = $1 AND key = ANY($2::text[])`), d.ledgerID, stored)
	if err != nil {
		return d.err(err)
	}
	defer rows.Close()
	found := make(map[string]ledger.Seen, len(keys))
	var key string
	var status int16
	var hash []byte
	var run int64
	for rows.Next() {
		if err := rows.Scan(&key, &status, &hash, &run); err != nil {
			return d.err(err)
		}
		var h [16]byte
		copy(h[:], hash)
		st := ledger.Loaded
		if status == stFailed {
			st = ledger.Failed
		}
		found[key] = ledger.Seen{Known: true, Status: st, Hash: ledger.Hash64(h), RunID: run}
	}
	if err := rows.Err(); err != nil {
		return d.err(err)
	}
	for i, k := range stored {
		out[i] = found[k]
	}
	return nil
}

// Origin reads where a known key's record was ("" for an unknown key).
func (d *DB) Origin(key string) (string, error) {
	var src string
	var line *int64
	var ident *string
	err := d.pool.pool.QueryRow(context.Background(), d.q(`SELECT s.name, i.line, i.ident FROM {s}.items i JOIN {s}.sources s ON s.id = i.source
		WHERE i.ledger = $1 AND i.key = $2`), d.ledgerID, storedKey(key)).Scan(&src, &line, &ident)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", d.err(err)
	}
	return originOf(src, line, ident).String(), nil
}

func originOf(src string, line *int64, ident *string) msg.Origin {
	o := msg.Origin{Source: src}
	if line != nil {
		o.Line = int(*line)
	}
	if ident != nil {
		o.ID = *ident
	}
	return o
}

// StartRun records a new run of the shard; runs of it left "running" by a
// process that died are marked so (the run lock says none is running).
func (d *DB) StartRun(job, command string) (int64, error) {
	d.cmu.Lock()
	defer d.cmu.Unlock()
	ctx := context.Background()
	var id int64
	err := pgx.BeginFunc(ctx, d.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, d.q(`UPDATE {s}.runs SET state = 'died' WHERE shard = $1 AND state = 'running'`), d.shardID); err != nil {
			return err
		}
		return tx.QueryRow(ctx, d.q(`INSERT INTO {s}.runs(shard, job, command, started_at, state) VALUES($1, $2, $3, now(), 'running') RETURNING id`),
			d.shardID, clean(job), clean(command)).Scan(&id)
	})
	if err != nil {
		return 0, d.err(err)
	}
	return id, nil
}

// Progress records how far a run has read.
func (d *DB) Progress(runID int64, lastOrigin string) error {
	return d.exec(`UPDATE {s}.runs SET last_origin = $2 WHERE id = $1`, runID, clean(lastOrigin))
}

// FinishRun records how a run ended.
func (d *DB) FinishRun(runID int64, state, lastOrigin string, counts any) error {
	cj, _ := json.Marshal(counts)
	return d.exec(`UPDATE {s}.runs SET finished_at = now(), state = $2, last_origin = $3, counts = $4 WHERE id = $1`, runID, clean(state), clean(lastOrigin), string(cj))
}

// SetMeta stores a value of the shard's (the watermark).
func (d *DB) SetMeta(key, value string) error {
	return d.exec(`INSERT INTO {s}.meta(shard, key, value) VALUES($1, $2, $3) ON CONFLICT (shard, key) DO UPDATE SET value = excluded.value`, d.shardID, clean(key), clean(value))
}

func (d *DB) exec(sql string, args ...any) error {
	d.cmu.Lock()
	defer d.cmu.Unlock()
	if _, err := d.conn.Exec(context.Background(), d.q(sql), args...); err != nil {
		return d.err(err)
	}
	return nil
}

// Vacuum has the server reclaim dead rows and refresh the planner's
// statistics of the tables (every ledger of the schema shares them).
// VACUUM FULL would lock the tables against every shard's runs: not here.
func (d *DB) Vacuum() error {
	names := make([]string, 0, 4)
	for _, t := range []string{"items", "record_failures", "runs", "routes"} {
		names = append(names, d.t.ident()+"."+t)
	}
	_, err := d.Reader.pool.pool.Exec(context.Background(), `VACUUM (ANALYZE) `+strings.Join(names, ", "))
	if err != nil {
		return d.err(err)
	}
	return nil
}
