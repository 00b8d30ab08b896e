package pgtest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
)

func TestStart(t *testing.T) {
	tests := []struct {
		name string
		opts pgtest.Options
	}{
		{name: "plain", opts: pgtest.Options{Config: map[string]string{"application_name": "pgtest"}}},
		{name: "tls", opts: pgtest.Options{TLS: true}},
		{name: "hba", opts: pgtest.Options{HBA: "host all trusty 127.0.0.1/32 trust"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := pgtest.Start(t, tt.opts)
			ctx := context.Background()
			db := srv.CreateDatabase(t)
			srv.Exec(t, db, "CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2)")

			conn, err := pgx.Connect(ctx, srv.DSN(db))
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer conn.Close(ctx)
			var n int
			if err := conn.QueryRow(ctx, "SELECT sum(v) FROM t").Scan(&n); err != nil {
				t.Fatalf("query: %v", err)
			}
			if n != 3 {
				t.Errorf("sum: got %d, want 3", n)
			}

			if tt.opts.TLS {
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(srv.CACertPEM) {
					t.Fatal("CACertPEM holds no certificate")
				}
				cfg, err := pgconn.ParseConfig(srv.DSN(db))
				if err != nil {
					t.Fatal(err)
				}
				cfg.TLSConfig = &tls.Config{RootCAs: pool, ServerName: "localhost"}
				pc, err := pgconn.ConnectConfig(ctx, cfg)
				if err != nil {
					t.Fatalf("connect with verify-full: %v", err)
				}
				defer pc.Close(ctx)
				res, err := pc.Exec(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				if got := string(res[0].Rows[0][0]); got != "t" {
					t.Errorf("ssl: got %q, want t", got)
				}
			}
			if tt.opts.HBA != "" {
				srv.Exec(t, "postgres", "CREATE ROLE trusty LOGIN")
				pc, err := pgconn.Connect(ctx, "postgres://trusty@"+srv.Addr()+"/"+db+"?sslmode=disable")
				if err != nil {
					t.Fatalf("connect as trusty without password: %v", err)
				}
				pc.Close(ctx)
			}
		})
	}
}

func TestStopRemovesDir(t *testing.T) {
	if !pgtest.Available() {
		pgtest.Missing(t, "no PostgreSQL binaries")
	}
	srv, stop, err := pgtest.StartMain(pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	stop()
	if _, err := os.Stat(srv.Dir); !os.IsNotExist(err) {
		t.Errorf("dir %s after stop: got err %v, want not-exist", srv.Dir, err)
	}
	if _, err := pgconn.Connect(context.Background(), srv.DSN("postgres")); err == nil {
		t.Errorf("server at %s still accepts connections after stop", addr)
	}
}

func TestWrongPasswordRejected(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	_, err := pgconn.Connect(context.Background(), "postgres://postgres:wrong@"+srv.Addr()+"/postgres?sslmode=disable")
	if err == nil {
		t.Fatal("connect with a wrong password: got nil error")
	}
}
