// Package pgtest starts throwaway PostgreSQL servers for tests, through
// package pgserver.
//
// A server runs from the installed server binaries in its own temporary
// directory, listens on a random free loopback port with scram-sha-256
// password authentication for the superuser "postgres", and runs with
// fsync off so that it starts in about a second. PostgreSQL refuses to run
// as root, so when the test binary runs as root the server runs as the
// "postgres" operating system user and the directory is chowned to it.
//
// Share one server per test package from TestMain with StartMain, and give
// each test its own database with CreateDatabase:
//
//	func TestMain(m *testing.M) {
//		srv, stop, err := pgtest.StartMain(pgtest.Options{})
//		...
//		code := m.Run()
//		stop()
//		os.Exit(code)
//	}
//
// pgtest is for tests only; production code must not import it.
package pgtest
