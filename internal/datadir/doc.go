// Package datadir guards a data directory against a second gatehouse
// process: two processes sharing a spool or a SQLite file would lose
// recordings.
package datadir
