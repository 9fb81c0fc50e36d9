package sqlite

// The ledger's tables. Items are appended in the order their outcomes were
// recorded (an item recorded again is deleted and appended anew), so writes
// are sequential however the keys are spread; the gate finds keys through
// the derived key index, not through this file. Routes and record sources
// repeat: they are stored once. The views read like the data: open the file
// with the sqlite3 shell and `SELECT * FROM ledger`.
const schemaSQL = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
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
CREATE TABLE IF NOT EXISTS routes (
	id    INTEGER PRIMARY KEY,
	route TEXT NOT NULL UNIQUE -- JSON array
);
CREATE TABLE IF NOT EXISTS sources (
	id   INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE -- a file, or a vendor
);
CREATE TABLE IF NOT EXISTS items (
	row     INTEGER PRIMARY KEY AUTOINCREMENT,
	key     TEXT NOT NULL,
	route   INTEGER NOT NULL,  -- routes.id
	source  INTEGER NOT NULL,  -- sources.id
	line    INTEGER,           -- the record's line or row in a file
	ident   TEXT,              -- the record's id at an API
	hash    BLOB NOT NULL,     -- the payload's (16 bytes)
	status  INTEGER NOT NULL,  -- 1 loaded, 2 failed
	target  TEXT,              -- the id the target gave it
	code    TEXT,
	error   TEXT,
	payload BLOB,              -- failed items only, for retry
	kept    TEXT,              -- source fields kept for a write-back (JSON)
	run     INTEGER NOT NULL,
	at      INTEGER NOT NULL   -- unix milliseconds
);
CREATE INDEX IF NOT EXISTS items_status_route ON items(status, route);
CREATE INDEX IF NOT EXISTS items_failed_code ON items(code) WHERE status = 2;
CREATE TABLE IF NOT EXISTS record_failures (
	id     INTEGER PRIMARY KEY,
	run    INTEGER NOT NULL,
	source INTEGER NOT NULL,
	line   INTEGER,
	ident  TEXT,
	stage  TEXT NOT NULL,
	error  TEXT NOT NULL,
	raw    TEXT
);
CREATE INDEX IF NOT EXISTS record_failures_origin ON record_failures(source, line, ident);
CREATE VIEW IF NOT EXISTS ledger AS
	SELECT i.row, i.key, r.route,
		s.name || CASE WHEN i.line IS NOT NULL THEN ':' || i.line WHEN i.ident IS NOT NULL THEN ' message ' || i.ident ELSE '' END AS origin,
		CASE i.status WHEN 1 THEN 'loaded' ELSE 'failed' END AS status,
		i.target AS target_id, i.code, i.error, i.kept, lower(hex(i.hash)) AS hash, i.run AS run_id,
		strftime('%Y-%m-%dT%H:%M:%fZ', i.at / 1000.0, 'unixepoch') AS recorded_at
	FROM items i JOIN routes r ON r.id = i.route JOIN sources s ON s.id = i.source;
CREATE VIEW IF NOT EXISTS failures AS
	SELECT f.run AS run_id, s.name || CASE WHEN f.line IS NOT NULL THEN ':' || f.line WHEN f.ident IS NOT NULL THEN ' message ' || f.ident ELSE '' END AS origin,
		f.stage, f.error, f.raw
	FROM record_failures f JOIN sources s ON s.id = f.source;
`

// identity marks a file as a msgmigrate ledger of this layout.
const (
	identityKey = "ledger"
	identity    = "msgmigrate ledger 2"
)

// statuses as stored.
const (
	stLoaded = 1
	stFailed = 2
)
