package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/msgmigrate/msgmigrate/ledger"
)

// Reader reads one shard's rows of a job's ledger; it works while a run
// holds the shard.
type Reader struct {
	t        *target
	pool     *shared
	ledgerID int64
	shardID  int64
	where    string
	q        func(string) string
	once     sync.Once
}

// Where names the database, the ledger and the shard (never a password).
func (r *Reader) Where() string { return r.where }

// Close lets go of the reader's share of the pool.
func (r *Reader) Close() error {
	r.once.Do(r.pool.release)
	return nil
}

func (r *Reader) err(err error) error {
	return r.t.wrap(fmt.Errorf("ledger %s: %w", r.where, err))
}

// Counts are the shard's totals: items by outcome, record failures by
// stage.
func (r *Reader) Counts() (ledger.Counts, error) {
	ctx := context.Background()
	c := ledger.Counts{RecordFailures: map[string]int64{}}
	rows, err := r.pool.pool.Query(ctx, r.q(`SELECT status, count(*) FROM {s}.items WHERE shard = $1 GROUP BY status`), r.shardID)
	if err != nil {
		return c, r.err(err)
	}
	var st int16
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&st, &n}, func() error {
		if st == stLoaded {
			c.Loaded = n
		} else {
			c.Failed = n
		}
		return nil
	})
	if err != nil {
		return c, r.err(err)
	}
	rows, err = r.pool.pool.Query(ctx, r.q(`SELECT stage, count(*) FROM {s}.record_failures WHERE shard = $1 GROUP BY stage`), r.shardID)
	if err != nil {
		return c, r.err(err)
	}
	var stage string
	_, err = pgx.ForEachRow(rows, []any{&stage, &n}, func() error {
		c.RecordFailures[stage] = n
		return nil
	})
	if err != nil {
		return c, r.err(err)
	}
	return c, nil
}

// Breakdown groups the shard's items by code (failed ones) or route.
func (r *Reader) Breakdown(by string) ([]ledger.Group, error) {
	var q string
	switch by {
	case "code":
		q = `SELECT coalesce(code, ''), 0, count(*) FROM {s}.items WHERE shard = $1 AND status = 2 GROUP BY code ORDER BY count(*) DESC, code`
	case "route":
		q = `SELECT r.route, count(*) FILTER (WHERE i.status = 1), count(*) FILTER (WHERE i.status = 2)
			FROM {s}.items i JOIN {s}.routes r ON r.id = i.route WHERE i.shard = $1
			GROUP BY r.route ORDER BY count(*) FILTER (WHERE i.status = 2) DESC, count(*) DESC, r.route`
	default:
		return nil, fmt.Errorf("breakdown by %q: want code or route", by)
	}
	rows, err := r.pool.pool.Query(context.Background(), r.q(q), r.shardID)
	if err != nil {
		return nil, r.err(err)
	}
	var out []ledger.Group
	var g ledger.Group
	_, err = pgx.ForEachRow(rows, []any{&g.Name, &g.Loaded, &g.Failed}, func() error {
		if by == "route" {
			var parts []string
			if json.Unmarshal([]byte(g.Name), &parts) == nil {
				g.Name = strings.Join(parts, "/")
			}
		}
		out = append(out, g)
		return nil
	})
	if err != nil {
		return nil, r.err(err)
	}
	return out, nil
}

// Runs returns the shard's last n runs, newest first.
func (r *Reader) Runs(n int) ([]ledger.Run, error) {
	rows, err := r.pool.pool.Query(context.Background(), r.q(`SELECT id, job, command, started_at, finished_at, state, last_origin, counts
		FROM {s}.runs WHERE shard = $1 ORDER BY id DESC LIMIT $2`), r.shardID, n)
	if err != nil {
		return nil, r.err(err)
	}
	var out []ledger.Run
	var run ledger.Run
	var finished *time.Time
	_, err = pgx.ForEachRow(rows, []any{&run.ID, &run.Job, &run.Command, &run.StartedAt, &finished, &run.State, &run.LastOrigin, &run.Counts}, func() error {
		run.StartedAt = run.StartedAt.UTC()
		run.FinishedAt = time.Time{}
		if finished != nil {
			run.FinishedAt = finished.UTC()
		}
		out = append(out, run)
		return nil
	})
	if err != nil {
		return nil, r.err(err)
	}
	return out, nil
}

const entryCols = `i.key, r.route, s.name, i.line, i.ident, i.hash, i.status, coalesce(i.target, ''), coalesce(i.code, ''),
	coalesce(i.error, ''), i.payload, coalesce(i.kept, ''), i.run, i.at`

const entryFrom = ` FROM {s}.items i JOIN {s}.routes r ON r.id = i.route JOIN {s}.sources s ON s.id = i.source `

// pageRows is how many items one query reads: between pages no query is
// open, so a slow reader (a ledger source feeding a long run) holds neither
// a connection nor a snapshot, which would keep the server's VACUUM from
// every table of the database for as long.
var pageRows = 1000

// each calls fn with the shard's items that match where, in the order
// recorded, a page at a time. An item recorded again while the pages are
// read comes again, at its new place.
func (r *Reader) each(where string, args []any, fn func(ledger.Entry) error) error {
	n := len(args) + 1
	q := r.q(`SELECT ` + entryCols + `, i.seq` + entryFrom + `WHERE ` + where + ` AND i.seq > $` + strconv.Itoa(n) + ` ORDER BY i.seq LIMIT ` + strconv.Itoa(pageRows))
	page := make([]ledger.Entry, 0, pageRows)
	after := int64(math.MinInt64)
	for {
		rows, err := r.pool.pool.Query(context.Background(), q, append(args, after)...)
		if err != nil {
			return r.err(err)
		}
		page = page[:0]
		for rows.Next() {
			var e ledger.Entry
			var route, kept string
			var line *int64
			var ident *string
			var hash []byte
			var status int16
			if err := rows.Scan(&e.Key, &route, &e.Origin.Source, &line, &ident, &hash, &status, &e.TargetID, &e.Code, &e.Error, &e.Payload, &kept, &e.RunID, &e.At, &after); err != nil {
				break // rows.Err says
			}
			e.Key = keyOf(e.Key)
			if err := json.Unmarshal([]byte(route), &e.Route); err != nil {
				rows.Close()
				return r.err(fmt.Errorf("item %s: bad route %q: %w", e.Key, route, err))
			}
			e.Origin = originOf(e.Origin.Source, line, ident)
			copy(e.Hash[:], hash)
			e.Status = ledger.Loaded
			if status == stFailed {
				e.Status = ledger.Failed
			}
			if kept != "" {
				e.Kept = []byte(kept)
			}
			e.At = e.At.UTC()
			page = append(page, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return r.err(err)
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err // the caller's, as it is
			}
		}
		if len(page) < pageRows {
			return nil
		}
	}
}

// Failed calls fn with every failed item of the shard whose code is one of
// codes (all when none), in the order recorded.
func (r *Reader) Failed(codes []string, fn func(ledger.Entry) error) error {
	if len(codes) > 0 {
		return r.each(`i.shard = $1 AND i.status = 2 AND i.code = ANY($2::text[])`, []any{r.shardID, codes}, fn)
	}
	return r.each(`i.shard = $1 AND i.status = 2`, []any{r.shardID}, fn)
}

// Loaded calls fn with every loaded item of the shard, in the order
// recorded.
func (r *Reader) Loaded(fn func(ledger.Entry) error) error {
	return r.each(`i.shard = $1 AND i.status = 1`, []any{r.shardID}, fn)
}

// RecordFailures calls fn with every record of the shard that failed
// before it had a key and was not read correctly since.
func (r *Reader) RecordFailures(fn func(ledger.RecordFailure) error) error {
	rows, err := r.pool.pool.Query(context.Background(), r.q(`SELECT f.run, s.name, f.line, f.ident, f.stage, f.error, coalesce(f.raw, '')
		FROM {s}.record_failures f JOIN {s}.sources s ON s.id = f.source WHERE f.shard = $1 ORDER BY f.id`), r.shardID)
	if err != nil {
		return r.err(err)
	}
	defer rows.Close()
	for rows.Next() {
		var f ledger.RecordFailure
		var line int64
		if err := rows.Scan(&f.RunID, &f.Origin.Source, &line, &f.Origin.ID, &f.Stage, &f.Error, &f.Raw); err != nil {
			return r.err(err)
		}
		f.Origin.Line = int(line)
		if err := fn(f); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return r.err(err)
	}
	return nil
}

// Meta returns a value of the shard's ("" when absent).
func (r *Reader) Meta(key string) (string, error) {
	var v string
	err := r.pool.pool.QueryRow(context.Background(), r.q(`SELECT value FROM {s}.meta WHERE shard = $1 AND key = $2`), r.shardID, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", r.err(err)
	}
	return v, nil
}
