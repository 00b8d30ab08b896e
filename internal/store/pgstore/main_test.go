package pgstore_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
)

// srv is the package's PostgreSQL server; each test opens a store on a
// database of its own.
var srv *pgtest.Server

func TestMain(m *testing.M) {
	if !pgtest.Available() {
		// Tests skip through pgtest.Missing, which fails them instead
		// when pgtest.RequireEnv is set.
		os.Exit(m.Run())
	}
	s, stop, err := pgtest.StartMain(pgtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv = s
	code := m.Run()
	stop()
	os.Exit(code)
}

// server returns the package's server, or skips tb (fails it in CI) when
// the PostgreSQL binaries are missing.
func server(tb testing.TB) *pgtest.Server {
	tb.Helper()
	if srv == nil {
		pgtest.Missing(tb, "no PostgreSQL server binaries (pgtest.Available() is false)")
	}
	return srv
}
