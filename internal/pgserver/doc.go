// Package pgserver starts throwaway PostgreSQL servers: for `gatehouse
// demo`, and (through package pgtest) for tests and benchmarks.
//
// A server runs from the installed PostgreSQL server binaries (see BinDir)
// in its own temporary directory, listens on a random free loopback port
// with scram-sha-256 password authentication for the superuser "postgres",
// and runs with fsync off so that it starts in about a second. PostgreSQL
// refuses to run as root, so when gatehouse runs as root the server runs as
// the "postgres" operating system user and the directory is chowned to it.
package pgserver
