-- Identities that may not sign in. A row exists only for identities an
-- admin disabled (and maybe enabled again).
CREATE TABLE identities (
	name        TEXT PRIMARY KEY,
	disabled_at INTEGER,
	disabled_by TEXT NOT NULL DEFAULT '',
	reason      TEXT NOT NULL DEFAULT ''
) STRICT;

-- Authentication events: logins, failures, exchanges, issues, revocations.
CREATE TABLE audit_events (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	time     INTEGER NOT NULL,
	type     TEXT NOT NULL,
	ok       INTEGER NOT NULL,
	identity TEXT NOT NULL DEFAULT '',
	actor    TEXT NOT NULL DEFAULT '',
	source   TEXT NOT NULL DEFAULT '',
	token_id TEXT NOT NULL DEFAULT '',
	reason   TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX audit_events_identity ON audit_events (identity, id);
CREATE INDEX audit_events_type ON audit_events (type, id);

CREATE INDEX tokens_identity ON tokens (identity);
