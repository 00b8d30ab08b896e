-- gatehouse's schema on PostgreSQL. Every time is a timestamptz (NULL for
-- the zero time) and a *_ns column with the nanoseconds past its
-- microsecond, 0 to 999 (see doc.go); compare and order them as a pair.
-- Names and IDs that lists are ordered by compare byte by byte (COLLATE
-- "C"), whatever the database's locale, as they do in the SQLite store.

-- Sessions: one row per client session. Counters are in session_stats.
CREATE TABLE sessions (
	id            text COLLATE "C" PRIMARY KEY,
	identity      text NOT NULL,
	groups        text[] NOT NULL DEFAULT '{}',
	connection    text NOT NULL,
	connector     text NOT NULL,
	protocol      text NOT NULL,
	database      text NOT NULL DEFAULT '',
	client_addr   text NOT NULL DEFAULT '',
	policy        text NOT NULL DEFAULT '',
	policy_digest text NOT NULL DEFAULT '',
	token_id      text NOT NULL DEFAULT '',
	started_at    timestamptz,
	started_at_ns smallint NOT NULL DEFAULT 0 CHECK (started_at_ns BETWEEN 0 AND 999),
	ended_at      timestamptz,
	ended_at_ns   smallint NOT NULL DEFAULT 0 CHECK (ended_at_ns BETWEEN 0 AND 999),
	status        text NOT NULL,
	error         text NOT NULL DEFAULT '',
	signed_seq    bigint NOT NULL DEFAULT 0,
	signature     text NOT NULL DEFAULT ''
);

CREATE INDEX sessions_started ON sessions (started_at DESC NULLS LAST, started_at_ns DESC, id DESC);
CREATE INDEX sessions_identity ON sessions (identity, started_at DESC NULLS LAST, started_at_ns DESC);
CREATE INDEX sessions_connection ON sessions (connection, started_at DESC NULLS LAST, started_at_ns DESC);
CREATE INDEX sessions_status ON sessions (status, started_at DESC NULLS LAST, started_at_ns DESC);

-- Per-session counters advanced by AppendEvents. No foreign key to
-- sessions: events may be shipped before the session row exists.
CREATE TABLE session_stats (
	session    text PRIMARY KEY,
	statements bigint NOT NULL DEFAULT 0,
	last_seq   bigint NOT NULL DEFAULT 0,
	last_hash  text NOT NULL DEFAULT ''
);

-- Recorded events, one per row. data is the payload exactly as the
-- connector hashed it: bytea, never parsed.
CREATE TABLE events (
	session text NOT NULL,
	seq     bigint NOT NULL CHECK (seq > 0),
	time    timestamptz,
	time_ns smallint NOT NULL DEFAULT 0 CHECK (time_ns BETWEEN 0 AND 999),
	type    text NOT NULL,
	data    bytea NOT NULL,
	prev    text NOT NULL DEFAULT '',
	hash    text NOT NULL DEFAULT '',
	PRIMARY KEY (session, seq)
);

CREATE TABLE tokens (
	id            text COLLATE "C" PRIMARY KEY,
	hash          bytea NOT NULL UNIQUE,
	identity      text NOT NULL,
	groups        text[] NOT NULL DEFAULT '{}',
	kind          text NOT NULL,
	issued_by     text NOT NULL DEFAULT '',
	issued_at     timestamptz,
	issued_at_ns  smallint NOT NULL DEFAULT 0 CHECK (issued_at_ns BETWEEN 0 AND 999),
	expires_at    timestamptz,
	expires_at_ns smallint NOT NULL DEFAULT 0 CHECK (expires_at_ns BETWEEN 0 AND 999),
	revoked_at    timestamptz,
	revoked_at_ns smallint NOT NULL DEFAULT 0 CHECK (revoked_at_ns BETWEEN 0 AND 999)
);

CREATE INDEX tokens_issued ON tokens (issued_at NULLS FIRST, issued_at_ns, id);
CREATE INDEX tokens_identity ON tokens (identity);

CREATE TABLE join_tokens (
	hash          bytea PRIMARY KEY,
	connector     text NOT NULL,
	created_at    timestamptz,
	created_at_ns smallint NOT NULL DEFAULT 0 CHECK (created_at_ns BETWEEN 0 AND 999),
	expires_at    timestamptz,
	expires_at_ns smallint NOT NULL DEFAULT 0 CHECK (expires_at_ns BETWEEN 0 AND 999),
	used_at       timestamptz,
	used_at_ns    smallint NOT NULL DEFAULT 0 CHECK (used_at_ns BETWEEN 0 AND 999)
);

CREATE TABLE connectors (
	name         text COLLATE "C" PRIMARY KEY,
	cert_serial  text NOT NULL DEFAULT '',
	joined_at    timestamptz,
	joined_at_ns smallint NOT NULL DEFAULT 0 CHECK (joined_at_ns BETWEEN 0 AND 999),
	last_seen    timestamptz,
	last_seen_ns smallint NOT NULL DEFAULT 0 CHECK (last_seen_ns BETWEEN 0 AND 999)
);

-- Reviews: requests for just-in-time approval, and the votes cast on them.
CREATE TABLE reviews (
	id               text COLLATE "C" PRIMARY KEY,
	kind             text NOT NULL,
	status           text NOT NULL,
	requester        text NOT NULL,
	requester_groups text[] NOT NULL DEFAULT '{}',
	connection       text NOT NULL DEFAULT '',
	session          text NOT NULL DEFAULT '',
	policy           text NOT NULL DEFAULT '',
	rule             text NOT NULL DEFAULT '',
	statement        text NOT NULL DEFAULT '',
	statement_hash   text NOT NULL DEFAULT '',
	access_for       bigint NOT NULL DEFAULT 0, -- nanoseconds
	reason           text NOT NULL DEFAULT '',
	approvers        text[] NOT NULL DEFAULT '{}',
	min_approvals    integer NOT NULL,
	created_at       timestamptz,
	created_at_ns    smallint NOT NULL DEFAULT 0 CHECK (created_at_ns BETWEEN 0 AND 999),
	expires_at       timestamptz,
	expires_at_ns    smallint NOT NULL DEFAULT 0 CHECK (expires_at_ns BETWEEN 0 AND 999),
	decided_at       timestamptz,
	decided_at_ns    smallint NOT NULL DEFAULT 0 CHECK (decided_at_ns BETWEEN 0 AND 999)
);

CREATE INDEX reviews_created ON reviews (created_at DESC NULLS LAST, created_at_ns DESC, id DESC);
CREATE INDEX reviews_status ON reviews (status, created_at DESC NULLS LAST, created_at_ns DESC);
CREATE INDEX reviews_requester ON reviews (requester, created_at DESC NULLS LAST, created_at_ns DESC);
CREATE INDEX reviews_connection ON reviews (connection, created_at DESC NULLS LAST, created_at_ns DESC);

-- One vote per identity and review: the primary key is what makes a
-- second vote by the same person fail.
CREATE TABLE review_votes (
	review   text NOT NULL REFERENCES reviews (id),
	identity text COLLATE "C" NOT NULL,
	approve  boolean NOT NULL,
	reason   text NOT NULL DEFAULT '',
	at       timestamptz,
	at_ns    smallint NOT NULL DEFAULT 0 CHECK (at_ns BETWEEN 0 AND 999),
	PRIMARY KEY (review, identity)
);

-- Identities that may not sign in. A row exists only for identities an
-- admin disabled (and maybe enabled again).
CREATE TABLE identities (
	name           text COLLATE "C" PRIMARY KEY,
	disabled_at    timestamptz,
	disabled_at_ns smallint NOT NULL DEFAULT 0 CHECK (disabled_at_ns BETWEEN 0 AND 999),
	disabled_by    text NOT NULL DEFAULT '',
	reason         text NOT NULL DEFAULT ''
);

-- Authentication events: logins, failures, exchanges, issues, revocations.
CREATE TABLE audit_events (
	id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time     timestamptz NOT NULL,
	time_ns  smallint NOT NULL DEFAULT 0 CHECK (time_ns BETWEEN 0 AND 999),
	type     text NOT NULL,
	ok       boolean NOT NULL,
	identity text NOT NULL DEFAULT '',
	actor    text NOT NULL DEFAULT '',
	source   text NOT NULL DEFAULT '',
	token_id text NOT NULL DEFAULT '',
	reason   text NOT NULL DEFAULT ''
);

CREATE INDEX audit_events_identity ON audit_events (identity, id);
CREATE INDEX audit_events_type ON audit_events (type, id);
