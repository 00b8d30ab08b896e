// Package e2e runs gatehouse end to end: a real gateway (in `up` mode or
// with a separate connector over the tunnel) in front of a real PostgreSQL
// server from pgtest, driven by real clients (pgx, psql, pgbench, psycopg2,
// JDBC) and the gatehouse CLI. Every test builds its own gateway on port-0
// listeners with its own data directory and its own database on the one
// PostgreSQL server the package shares (TestMain).
//
// The CLI runs as a child process: the test binary re-executes itself with
// GATEHOUSE_E2E_CLI=1, and TestMain then runs cli.Main instead of the tests.
package e2e
