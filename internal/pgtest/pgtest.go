package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/pgserver"
)

// Options configures a server; see pgserver.Options.
type Options = pgserver.Options

// Server is a running throwaway PostgreSQL server for tests.
type Server struct {
	*pgserver.Server
	dbSeq atomic.Int64
}

// Available reports whether the PostgreSQL server binaries exist.
func Available() bool { return pgserver.Available() }

// RequireEnv names the environment variable that turns a missing test
// dependency (a server binary, a client, a driver) into a failure. .ci/run
// sets it, so that CI never passes by skipping what it should have
// installed.
const RequireEnv = "GATEHOUSE_TEST_REQUIRE_ALL"

// Missing skips tb because something it needs is not installed, or fails
// it when RequireEnv is set.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv(RequireEnv) != "" {
		tb.Fatalf("%s (%s is set: CI must install it)", fmt.Sprintf(format, args...), RequireEnv)
	}
	tb.Skipf(format, args...)
}

// Start starts a server for one test; tb.Cleanup stops it. The test is
// skipped when the binaries are absent and fails, with the server log, when
// the server cannot start.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if !Available() {
		tb.Skip("pgtest: PostgreSQL server binaries not found")
	}
	ps, err := pgserver.Start(opts)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := ps.Stop(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return &Server{Server: ps}
}

// StartMain starts a server to share across a test package, for TestMain.
// The returned func stops the server and removes its directory; call it
// after m.Run.
func StartMain(opts Options) (*Server, func(), error) {
	if !Available() {
		return nil, nil, errors.New("pgtest: PostgreSQL server binaries not found")
	}
	ps, err := pgserver.Start(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("pgtest: %w", err)
	}
	return &Server{Server: ps}, func() {
		if err := ps.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
	}, nil
}

// CreateDatabase creates a new, uniquely named database and returns its name.
func (s *Server) CreateDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%d", s.dbSeq.Add(1), os.Getpid())
	s.Exec(tb, "postgres", "CREATE DATABASE "+name)
	return name
}

// Exec runs sql (several statements are allowed) as the superuser in
// database db and fails the test on error.
func (s *Server) Exec(tb testing.TB, db, sql string) {
	tb.Helper()
	if err := s.Server.Exec(context.Background(), db, sql); err != nil {
		tb.Fatalf("pgtest: exec in %s: %v", db, err)
	}
}

// SelfSignedCert returns a fresh self-signed certificate (its own CA) for
// localhost, 127.0.0.1 and ::1 and its PKCS#8 key, both PEM-encoded, for tests that
// serve TLS themselves.
func SelfSignedCert(tb testing.TB) (certPEM, keyPEM []byte) {
	tb.Helper()
	c, k, err := pgserver.SelfSigned()
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return c, k
}
