package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

func newDemoCmd() *cobra.Command {
	var data, pgAddr, apiAddr string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start a throwaway PostgreSQL with sample data and gatehouse in front of it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "starting a throwaway PostgreSQL with sample data...")
			pg, err := demo.StartPostgres()
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			defer pg.Stop()
			if err := pg.Seed(ctx); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			cfg := pg.Config(data)
			cfg.Gateway.Postgres, cfg.Gateway.API = pgAddr, apiAddr
			if err := cfg.Validate(); err != nil {
				return err
			}
			g := &gateway.Gateway{Config: cfg, Embedded: true, Logger: newLogger(cfg, cmd.ErrOrStderr())}
			if err := g.Start(ctx); err != nil {
				return err
			}
			defer func() {
				cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				g.Close(cctx)
			}()
			tok, _, err := g.Issuer().Issue(ctx, auth.IssueRequest{
				Identity: "demo@example.com", Groups: []string{"demo"}, Kind: auth.KindPerson, TTL: 8 * time.Hour, IssuedBy: "demo",
			})
			if err != nil {
				return err
			}
			a := g.Addrs()
			host, port := splitHostPort(a.Postgres)
			fmt.Fprintf(out, `
gatehouse demo is running (Ctrl-C stops it and removes the database).

Connect through the gateway as demo@example.com (token valid 8h):

  PGPASSWORD=%s psql "host=%s port=%s user=demo dbname=app sslmode=require"

  app=> SELECT name, email, card_number, phone FROM customers;

Card numbers, emails and phone numbers come back masked (policy
demo-access attaches masking profile pii).

Then look at what was recorded, as the admin:

  export GATEHOUSE_URL=http://%[5]s GATEHOUSE_TOKEN=$(cat %[4]s)
  %[6]s sessions list
  %[6]s sessions replay <session-id>
  %[6]s audit verify <session-id>
  %[6]s audit events

API: http://%[5]s
`, tok, host, port, absPath(gateway.AdminTokenPath(cfg.DataDir)), a.API, selfCommand())
			<-ctx.Done()
			fmt.Fprintln(out, "stopping...")
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "./gatehouse-data", "data directory")
	cmd.Flags().StringVar(&pgAddr, "postgres", "127.0.0.1:15432", "PostgreSQL listener address")
	cmd.Flags().StringVar(&apiAddr, "api", "127.0.0.1:8080", "API listener address")
	return cmd
}

// selfCommand is how to run this binary again: the path it was started
// with when that is a file of its own (bin/gatehouse), else "gatehouse".
func selfCommand() string {
	p := os.Args[0]
	if !strings.Contains(p, "/") || strings.Contains(p, "go-build") {
		return "gatehouse"
	}
	return p
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
