package postgres_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
)

const authHBA = `host all md5user 127.0.0.1/32 md5
host all pwuser 127.0.0.1/32 password
host all trustuser 127.0.0.1/32 trust`

func TestTargetAuthAndTLS(t *testing.T) {
	target := pgtest.Start(t, pgtest.Options{TLS: true, HBA: authHBA})
	target.Exec(t, "postgres", `
		SET password_encryption = 'md5';
		CREATE ROLE md5user LOGIN PASSWORD 'md5-secret-pw';
		RESET password_encryption;
		CREATE ROLE pwuser LOGIN PASSWORD 'cleartext-secret-pw';
		CREATE ROLE trustuser LOGIN;
		CREATE ROLE scramuser LOGIN PASSWORD 'scram-secret-pw';`)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(target.CACertPEM)

	tests := []struct {
		name, user, password, tlsMode string
		wantSSL                       bool
	}{
		{name: "scram", user: "scramuser", password: "scram-secret-pw", tlsMode: postgres.TLSDisable},
		{name: "md5", user: "md5user", password: "md5-secret-pw", tlsMode: postgres.TLSDisable},
		{name: "cleartext", user: "pwuser", password: "cleartext-secret-pw", tlsMode: postgres.TLSDisable},
		{name: "trust", user: "trustuser", tlsMode: postgres.TLSDisable},
		{name: "scram over TLS require", user: "scramuser", password: "scram-secret-pw", tlsMode: postgres.TLSRequire, wantSSL: true},
		{name: "md5 over TLS verify-full", user: "md5user", password: "md5-secret-pw", tlsMode: postgres.TLSVerifyFull, wantSSL: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, proxyOptions{
				target: target,
				targetFor: func(db string) postgres.Target {
					return postgres.Target{Address: target.Addr(), Database: db, User: tt.user, Password: tt.password, TLSMode: tt.tlsMode, RootCAs: pool}
				},
			})
			ctx := context.Background()
			conn := connect(t, p.DSN("disable"))
			var user string
			var ssl bool
			if err := conn.QueryRow(ctx, "SELECT current_user::text, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&user, &ssl); err != nil {
				t.Fatal(err)
			}
			if user != tt.user || ssl != tt.wantSSL {
				t.Errorf("session: got user %s ssl %v, want %s %v", user, ssl, tt.user, tt.wantSSL)
			}
			// Cancel honours the session's TLS mode.
			checkCancel(t, target, conn)
		})
	}

	t.Run("verify-full with an unknown CA", func(t *testing.T) {
		_, err := postgres.Dial(context.Background(), postgres.Target{Address: target.Addr(), Database: "postgres", User: "scramuser", Password: "scram-secret-pw", TLSMode: postgres.TLSVerifyFull, RootCAs: x509.NewCertPool()}, nil)
		var pe *postgres.Error
		if !errors.As(err, &pe) || pe.Code != "08006" {
			t.Fatalf("Dial: got %v, want 08006", err)
		}
		if strings.Contains(err.Error(), "scram-secret-pw") {
			t.Errorf("password in error: %v", err)
		}
	})
	t.Run("verify-full with the wrong name", func(t *testing.T) {
		_, err := postgres.Dial(context.Background(), postgres.Target{Address: target.Addr(), Database: "postgres", User: "scramuser", Password: "scram-secret-pw", TLSMode: postgres.TLSVerifyFull, RootCAs: pool, ServerName: "db.example.com"}, nil)
		var pe *postgres.Error
		if !errors.As(err, &pe) || pe.Code != "08006" {
			t.Fatalf("Dial: got %v, want 08006", err)
		}
	})
}

// checkCancel cancels a running pg_sleep through the proxy, watching
// the target directly to know when the sleep runs.
func checkCancel(t *testing.T, target *pgtest.Server, conn *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	direct, err := pgx.Connect(ctx, target.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	const q = "SELECT pg_sleep(600) -- checkCancel"
	go func() {
		for {
			var n int
			err := direct.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE query = $1 AND state = 'active'", q).Scan(&n)
			if err != nil || n > 0 {
				conn.PgConn().CancelRequest(ctx)
				return
			}
		}
	}()
	_, err = conn.Exec(ctx, q)
	if code, _ := asPgError(err); code != "57014" {
		t.Fatalf("pg_sleep after cancel: got %v, want 57014", err)
	}
}

func TestWrongTargetPassword(t *testing.T) {
	const secret = "not-the-password-9c1d"
	p := startProxy(t, proxyOptions{
		targetFor: func(db string) postgres.Target {
			return postgres.Target{Address: srv.Addr(), Database: db, User: "postgres", Password: secret}
		},
	})
	_, err := postgres.Dial(context.Background(), postgres.Target{Address: srv.Addr(), Database: p.DB, User: "postgres", Password: secret}, nil)
	var pe *postgres.Error
	if !errors.As(err, &pe) || pe.Code != "28000" || pe.Severity != "FATAL" {
		t.Fatalf("Dial with a wrong password: got %v, want FATAL 28000", err)
	}
	for _, s := range []string{err.Error(), pe.Error(), pe.Message} {
		if strings.Contains(s, secret) {
			t.Errorf("password in error text %q", s)
		}
	}
	if strings.Contains(pe.Message, srv.Addr()) {
		t.Errorf("target address in the client-visible message %q", pe.Message)
	}

	_, err = pgx.Connect(context.Background(), p.DSN("disable"))
	var cpe *pgconn.PgError
	if !errors.As(err, &cpe) || cpe.Code != "28000" {
		t.Fatalf("client through the proxy: got %v, want 28000", err)
	}
	if strings.Contains(cpe.Message, secret) || strings.Contains(cpe.Message, srv.Addr()) || strings.Contains(cpe.Message, "password authentication failed") {
		t.Errorf("client saw internal detail: %q", cpe.Message)
	}
	if log := p.logText(); strings.Contains(log, secret) {
		t.Errorf("password in the log:\n%s", log)
	} else if !strings.Contains(log, "password authentication failed") {
		t.Errorf("log lacks the target's own message:\n%s", log)
	}
}

func TestDialUnreachable(t *testing.T) {
	_, err := postgres.Dial(context.Background(), postgres.Target{Address: "127.0.0.1:1", Database: "x", User: "u", Password: "pw-unreachable"}, nil)
	var pe *postgres.Error
	if !errors.As(err, &pe) || pe.Code != "08006" || pe.Message != "gatehouse: cannot connect to the target database" {
		t.Fatalf("Dial to a closed port: got %v, want 08006", err)
	}
	if strings.Contains(err.Error(), "pw-unreachable") {
		t.Errorf("password in error: %v", err)
	}
}
