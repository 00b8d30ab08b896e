// Package sqlite is gatehouse's embedded store: it implements store.Store on
// a single SQLite file through the pure-Go driver modernc.org/sqlite.
//
// The file is opened twice. One connection, and only one, performs every
// write: transactions begin IMMEDIATE on it, so writers queue in Go instead
// of racing for SQLite's lock and failing with SQLITE_BUSY. A small pool of
// read-only connections serves queries; in WAL mode they never wait for the
// writer. busy_timeout still covers other processes (a CLI, a backup) that
// open the same file.
//
// Schema changes are numbered files under migrations/, embedded in the
// binary and applied at Open, each in its own transaction that also bumps
// PRAGMA user_version, so a file is applied exactly once per database.
//
// Times are stored as INTEGER unix nanoseconds in UTC, NULL for the zero
// time; they round-trip exactly (compare with time.Equal) for years 1678 to
// 2262, and times outside that range are rejected. Groups are JSON arrays.
// Event payloads are stored as the exact bytes given.
//
// Events are stored in chunks (event_chunks): one row per session and
// AppendEvents call, up to 256 events or 1 MiB, in an encoding of this
// package (chunk.go). A row costs SQLite about as much as an event row did,
// so storing a batch costs a few rows instead of hundreds. A session's
// chunks cover disjoint seq ranges; events arriving below the highest
// stored seq (a resend, or late) are checked against the chunks covering
// them and, when missing, merged in by rewriting those chunks.
//
// A session's counters (Statements, LastSeq, LastHash) live in their own
// table, keyed by session ID and advanced by AppendEvents, so events that
// arrive before their session row (split gateway and connector) are counted
// as soon as the session is created.
package sqlite
