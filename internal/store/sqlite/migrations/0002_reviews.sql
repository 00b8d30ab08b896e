-- Reviews: requests for just-in-time approval, and the votes cast on them.
CREATE TABLE reviews (
	id               TEXT PRIMARY KEY,
	kind             TEXT NOT NULL,
	status           TEXT NOT NULL,
	requester        TEXT NOT NULL,
	requester_groups TEXT NOT NULL DEFAULT '[]',
	connection       TEXT NOT NULL DEFAULT '',
	session          TEXT NOT NULL DEFAULT '',
	policy           TEXT NOT NULL DEFAULT '',
	rule             TEXT NOT NULL DEFAULT '',
	statement        TEXT NOT NULL DEFAULT '',
	statement_hash   TEXT NOT NULL DEFAULT '',
	access_for       INTEGER NOT NULL DEFAULT 0,
	reason           TEXT NOT NULL DEFAULT '',
	approvers        TEXT NOT NULL DEFAULT '[]',
	min_approvals    INTEGER NOT NULL,
	created_at       INTEGER,
	expires_at       INTEGER,
	decided_at       INTEGER
) STRICT;

CREATE INDEX reviews_created ON reviews (created_at DESC, id DESC);
CREATE INDEX reviews_status ON reviews (status, created_at DESC);
CREATE INDEX reviews_requester ON reviews (requester, created_at DESC);
CREATE INDEX reviews_connection ON reviews (connection, created_at DESC);

-- One vote per identity and review: the primary key is what makes a
-- second vote by the same person fail.
CREATE TABLE review_votes (
	review   TEXT NOT NULL REFERENCES reviews (id),
	identity TEXT NOT NULL,
	approve  INTEGER NOT NULL,
	reason   TEXT NOT NULL DEFAULT '',
	at       INTEGER,
	PRIMARY KEY (review, identity)
) STRICT, WITHOUT ROWID;
