package e2e

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/cli"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
)

// cliEnv makes the test binary act as the gatehouse command instead of
// running tests; see runCLI.
const cliEnv = "GATEHOUSE_E2E_CLI"

// pg is the PostgreSQL server shared by every test of the package. Tests
// never change it: each creates its own database.
var pg *pgtest.Server

func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Main(ctx, os.Args[1:])
		stop()
		os.Exit(code)
	}
	srv, stop, err := pgtest.StartMain(pgtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pg = srv
	code := m.Run()
	stop()
	os.Exit(code)
}
