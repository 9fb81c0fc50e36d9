package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/msgmigrate/msgmigrate/ledger"
)

// layout marks a schema as holding msgmigrate ledgers of this layout.
const layout = "msgmigrate postgres ledger 1"

// tables are the ones the schema holds; a schema that has any of them
// without the layout row is someone else's.
var tables = []string{"msgmigrate_ledger", "ledgers", "shards", "runs", "meta", "routes", "sources", "items", "record_failures", "write_seq", "ledger_items"}

// schemaSQL creates the tables. Every ledger of the schema shares them: a
// ledger is a row of ledgers, a shard a row of shards. Routes and record
// sources repeat: they are stored once. Columns are ordered widest first,
// so a row wastes no padding. Names and keys compare bytewise (COLLATE
// "C"): an index on them is faster to search and keep than one in the
// database's language, and no upgrade of the system's collation rules can
// corrupt it. The view ledger_items reads like the data:
// SELECT * FROM msgmigrate.ledger_items WHERE ledger = 'dealer'.
const schemaSQL = `
CREATE TABLE {s}.msgmigrate_ledger (
	layout     text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {s}.ledgers (
	id         serial PRIMARY KEY,
	name       text COLLATE "C" NOT NULL UNIQUE, -- the state's ledger=
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {s}.shards (
	id     serial PRIMARY KEY,
	ledger int NOT NULL REFERENCES {s}.ledgers(id),
	idx    int NOT NULL, -- shard idx of count; 0 of 0 when the job is not sharded
	count  int NOT NULL,
	UNIQUE (ledger, idx, count)
);
CREATE TABLE {s}.runs (
	id          bigserial PRIMARY KEY,
	started_at  timestamptz NOT NULL,
	finished_at timestamptz,
	shard       int NOT NULL REFERENCES {s}.shards(id),
	job         text NOT NULL,
	command     text NOT NULL,
	state       text NOT NULL,
	last_origin text NOT NULL DEFAULT '',
	counts      text NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_shard ON {s}.runs(shard, id);
CREATE TABLE {s}.meta (
	shard int NOT NULL REFERENCES {s}.shards(id),
	key   text NOT NULL,
	value text NOT NULL,
	PRIMARY KEY (shard, key)
);
CREATE TABLE {s}.routes (
	id    serial PRIMARY KEY,
	route text COLLATE "C" NOT NULL UNIQUE -- JSON array
);
CREATE TABLE {s}.sources (
	id   serial PRIMARY KEY,
	name text COLLATE "C" NOT NULL UNIQUE -- a file, or a vendor
);
-- seq orders items as recorded: a Write takes one value w, its i-th item
-- w<<32 + i; an item recorded again takes a new one.
CREATE SEQUENCE {s}.write_seq;
CREATE TABLE {s}.items (
	seq     bigint NOT NULL,
	run     bigint NOT NULL,
	at      timestamptz NOT NULL,
	line    bigint,            -- the record's line or row in a file
	ledger  int NOT NULL,      -- ledgers.id
	shard   int NOT NULL,      -- shards.id: the shard that recorded it last
	route   int NOT NULL,      -- routes.id
	source  int NOT NULL,      -- sources.id
	status  smallint NOT NULL, -- 1 loaded, 2 failed
	key     text COLLATE "C" NOT NULL,
	hash    bytea NOT NULL,    -- the payload's (16 bytes)
	ident   text,              -- the record's id at an API
	target  text,              -- the id the target gave it
	code    text,
	error   text,
	payload bytea,             -- failed items only, for retry
	kept    text,              -- source fields kept for a write-back (JSON)
	PRIMARY KEY (ledger, key)
);
-- Counts, and Loaded and Failed in the order recorded.
CREATE INDEX items_shard_status_seq ON {s}.items(shard, status, seq);
-- Failed by code, and the breakdown by code.
CREATE INDEX items_failed_code ON {s}.items(shard, code, seq) WHERE status = 2;
CREATE TABLE {s}.record_failures (
	id     bigserial PRIMARY KEY,
	run    bigint NOT NULL,
	line   bigint NOT NULL DEFAULT 0,
	shard  int NOT NULL REFERENCES {s}.shards(id),
	source int NOT NULL,
	ident  text NOT NULL DEFAULT '',
	stage  text NOT NULL,
	error  text NOT NULL,
	raw    text
);
CREATE INDEX record_failures_origin ON {s}.record_failures(shard, source, line, ident);
CREATE VIEW {s}.ledger_items AS
	SELECT l.name AS ledger, CASE WHEN sh.count = 0 THEN '' ELSE sh.idx || '/' || sh.count END AS shard,
		i.key, r.route,
		s.name || CASE WHEN i.line IS NOT NULL THEN ':' || i.line WHEN i.ident IS NOT NULL THEN ' message ' || i.ident ELSE '' END AS origin,
		CASE i.status WHEN 1 THEN 'loaded' ELSE 'failed' END AS status,
		i.target AS target_id, i.code, i.error, i.kept, encode(i.hash, 'hex') AS hash, i.run AS run_id, i.at AS recorded_at
	FROM {s}.items i JOIN {s}.ledgers l ON l.id = i.ledger JOIN {s}.shards sh ON sh.id = i.shard
		JOIN {s}.routes r ON r.id = i.route JOIN {s}.sources s ON s.id = i.source;
`

// incomingSQL is the session's staging table for one Write: COPY is the
// fastest way in, and the rows go on to items in one statement.
const incomingSQL = `CREATE TEMPORARY TABLE incoming (
	ord     int NOT NULL,
	line    bigint,
	status  smallint NOT NULL,
	key     text COLLATE "C" NOT NULL,
	route   text COLLATE "C" NOT NULL,
	source  text COLLATE "C" NOT NULL,
	ident   text,
	hash    bytea NOT NULL,
	target  text,
	code    text,
	error   text,
	payload bytea,
	kept    text
) ON COMMIT DELETE ROWS`

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// inspect says whether the schema holds msgmigrate ledgers of this layout
// (present), nothing of ours (not present), or tables that are not a
// ledger, or a ledger of another layout (ledger.ErrNotLedger).
func inspect(ctx context.Context, db querier, t *target) (present bool, err error) {
	rows, err := db.Query(ctx, `SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname::text = ANY($2::text[])`, t.schema, tables)
	if err != nil {
		return false, fmt.Errorf("ledger %s: %w", t.where, err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return false, fmt.Errorf("ledger %s: %w", t.where, err)
	}
	if len(found) == 0 {
		return false, nil
	}
	if !slices.Contains(found, "msgmigrate_ledger") {
		slices.Sort(found)
		return false, fmt.Errorf("%w: the schema %q of %s holds tables (%s) that are not a msgmigrate ledger; give the state another schema= (the tables are left as they are)",
			ledger.ErrNotLedger, t.schema, t.where, strings.Join(found, ", "))
	}
	var v string
	err = db.QueryRow(ctx, `SELECT layout FROM `+t.ident()+`.msgmigrate_ledger LIMIT 1`).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, fmt.Errorf("%w: the schema %q of %s has a msgmigrate_ledger table without its layout row: not a ledger this msgmigrate can trust; give the state another schema=",
			ledger.ErrNotLedger, t.schema, t.where)
	case err != nil:
		return false, fmt.Errorf("%w: the schema %q of %s cannot be read as a ledger: %v", ledger.ErrNotLedger, t.schema, t.where, err)
	case v != layout:
		return false, fmt.Errorf("%w: the schema %q of %s holds ledgers of another layout (%q); this msgmigrate reads %q",
			ledger.ErrNotLedger, t.schema, t.where, v, layout)
	}
	return true, nil
}

// setup creates the schema and its tables when the schema holds none of
// them. Shards starting at once on a new database take turns: the first
// creates, the others find.
func setup(ctx context.Context, conn *pgx.Conn, t *target) (created bool, err error) {
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, setupKey(t.schema)); err != nil {
			return fmt.Errorf("ledger %s: %w", t.where, err)
		}
		present, err := inspect(ctx, tx, t)
		if err != nil || present {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`, t.schema).Scan(&exists); err != nil {
			return fmt.Errorf("ledger %s: %w", t.where, err)
		}
		if !exists {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA `+t.ident()); err != nil {
				return fmt.Errorf("ledger %s: creating the schema %q: %w", t.where, t.schema, err)
			}
		}
		if _, err := tx.Exec(ctx, sqlFor(t.ident())(schemaSQL)); err != nil {
			return fmt.Errorf("ledger %s: creating the tables: %w", t.where, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+t.ident()+`.msgmigrate_ledger(layout) VALUES($1)`, layout); err != nil {
			return fmt.Errorf("ledger %s: %w", t.where, err)
		}
		created = true
		return nil
	})
	return created, err
}

func setupKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("msgmigrate ledger setup\x00" + schema))
	return int64(h.Sum64())
}
