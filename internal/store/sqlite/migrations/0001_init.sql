-- Sessions: one row per client session. Counters are in session_stats.
CREATE TABLE sessions (
	id            TEXT PRIMARY KEY,
	identity      TEXT NOT NULL,
	groups        TEXT NOT NULL DEFAULT '[]',
	connection    TEXT NOT NULL,
	connector     TEXT NOT NULL,
	protocol      TEXT NOT NULL,
	database      TEXT NOT NULL DEFAULT '',
	client_addr   TEXT NOT NULL DEFAULT '',
	policy        TEXT NOT NULL DEFAULT '',
	policy_digest TEXT NOT NULL DEFAULT '',
	token_id      TEXT NOT NULL DEFAULT '',
	started_at    INTEGER,
	ended_at      INTEGER,
	status        TEXT NOT NULL,
	error         TEXT NOT NULL DEFAULT '',
	signed_seq    INTEGER NOT NULL DEFAULT 0,
	signature     TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX sessions_started ON sessions (started_at DESC, id DESC);
CREATE INDEX sessions_identity ON sessions (identity, started_at DESC);
CREATE INDEX sessions_connection ON sessions (connection, started_at DESC);
CREATE INDEX sessions_status ON sessions (status, started_at DESC);

-- Per-session counters advanced by AppendEvents. No foreign key to
-- sessions: events may be shipped before the session row exists.
CREATE TABLE session_stats (
	session    TEXT PRIMARY KEY,
	statements INTEGER NOT NULL DEFAULT 0,
	last_seq   INTEGER NOT NULL DEFAULT 0,
	last_hash  TEXT NOT NULL DEFAULT ''
) STRICT, WITHOUT ROWID;

CREATE TABLE events (
	session TEXT NOT NULL,
	seq     INTEGER NOT NULL,
	time    INTEGER,
	type    TEXT NOT NULL,
	data    BLOB NOT NULL,
	prev    TEXT NOT NULL DEFAULT '',
	hash    TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (session, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE tokens (
	id         TEXT PRIMARY KEY,
	hash       BLOB NOT NULL UNIQUE,
	identity   TEXT NOT NULL,
	groups     TEXT NOT NULL DEFAULT '[]',
	kind       TEXT NOT NULL,
	issued_by  TEXT NOT NULL DEFAULT '',
	issued_at  INTEGER,
	expires_at INTEGER,
	revoked_at INTEGER
) STRICT;

CREATE INDEX tokens_issued ON tokens (issued_at, id);

CREATE TABLE join_tokens (
	hash       BLOB PRIMARY KEY,
	connector  TEXT NOT NULL,
	created_at INTEGER,
	expires_at INTEGER,
	used_at    INTEGER
) STRICT;

CREATE TABLE connectors (
	name        TEXT PRIMARY KEY,
	cert_serial TEXT NOT NULL DEFAULT '',
	joined_at   INTEGER,
	last_seen   INTEGER
) STRICT;
