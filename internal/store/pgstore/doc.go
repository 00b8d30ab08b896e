// Package pgstore is gatehouse's PostgreSQL store: it implements
// store.Store on a pgx connection pool, for gateways whose store must live
// outside the gateway's machine.
//
// Schema changes are numbered files under migrations/, embedded in the
// binary and applied at Open, each in its own transaction together with
// its row in schema_migrations. Open holds a session-level advisory lock
// while it migrates, so several gateways starting at once against one
// database apply each file exactly once; the others wait, then find
// nothing to do.
//
// Times are stored as timestamptz, NULL for the zero time. PostgreSQL
// keeps microseconds, and both the conformance suite and recording hashes
// need nanoseconds, so every time column has a companion *_ns column
// holding the nanoseconds past the microsecond (0 to 999): the pair
// round-trips exactly (compare with time.Equal) for years 1 to 9999, and
// orders and compares as a row value (at, at_ns). Times outside that range
// are rejected.
//
// Event payloads are stored byte for byte as bytea: the connector hashed
// those exact bytes, so they are never parsed or normalized (jsonb would
// reorder keys and rewrite numbers). One event is one row keyed by
// (session, seq). AppendEvents stores a whole batch, and advances each
// session's counters, in a single statement: the events go in as arrays
// through unnest, ON CONFLICT DO NOTHING drops the ones already stored,
// and what was inserted is summed into session_stats in the same
// statement, so a batch costs one round trip and is atomic.
//
// Operations that must be atomic use a single conditional statement
// (UPDATE ... WHERE status = 'pending' RETURNING ...) or a transaction that
// locks what it decides on (SELECT ... FOR UPDATE). CreateToken and
// DisableIdentity serialize per identity on a transaction-level advisory
// lock, since the identity row that would be locked may not exist yet.
//
// The DSN carries a password. Errors from Open have it (and the DSN)
// scrubbed, and the store logs only the host, port, database and user.
package pgstore
