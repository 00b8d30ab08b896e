package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// issue issues a token and returns its secret and ID.
func (h *gw) issue(t testing.TB, identity string, ttl time.Duration, groups ...string) (string, string) {
	t.Helper()
	tok, st, err := h.g.Issuer().Issue(context.Background(), auth.IssueRequest{Identity: identity, Groups: groups, Kind: auth.KindService, TTL: ttl})
	if err != nil {
		t.Fatalf("issue token: %v", err)
	}
	return tok, st.ID
}

// sleeper runs a long pg_sleep on c and reports how its session ended.
func sleeper(c *pgx.Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), "SELECT pg_sleep(60)")
		done <- err
	}()
	return done
}

// wantEnded waits for a sleeper's session to end with FATAL 57P01 and the
// message, and returns how long it took.
func wantEnded(t *testing.T, done <-chan error, msg string, since time.Time) time.Duration {
	t.Helper()
	select {
	case err := <-done:
		took := time.Since(since)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57P01" || pe.Severity != "FATAL" || pe.Message != msg {
			t.Fatalf("session ended with %v, want FATAL 57P01 %q", err, msg)
		}
		return took
	case <-time.After(20 * time.Second):
		t.Fatalf("session still running 20 s later, want it ended with %q", msg)
	}
	return 0
}

// TestRevocationEndsSessions revokes a token and disables an identity while
// their sessions run a statement, in up and split mode: the sessions end
// with 57P01, new sign-ins are refused, and the audit log shows each step.
func TestRevocationEndsSessions(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"up", "split"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			db := pg.CreateDatabase(t)
			var h *gw
			if mode == "up" {
				h = startGateway(t, upConfig(t, db), true, db)
			} else {
				h = startSplit(t, db, []config.Connection{targetConn(connName, db)}, nil).gw
			}
			admin := h.adminToken(t)

			tok, id := h.issue(t, "deployer", time.Hour, "ci")
			c := connect(t, h.pgxConfig(t, connName, tok, "revoke-token"))
			done := sleeper(c)
			time.Sleep(200 * time.Millisecond) // the statement is running
			start := time.Now()
			if res := h.runCLI(t, admin, "tokens", "revoke", id); res.Code != 0 {
				t.Fatalf("tokens revoke: %s%s", res.Stdout, res.Stderr)
			}
			t.Logf("%s: session ended %v after the revocation", mode, wantEnded(t, done, "gatehouse: access revoked", start))
			if pe := connectErr(t, h.pgxConfig(t, connName, tok, "revoked-again")); pe.Code != "28P01" {
				t.Errorf("revoked token: got %s %q, want 28P01", pe.Code, pe.Message)
			}

			tok2, _ := h.issue(t, "robot", time.Hour, "ci")
			tok3, _ := h.issue(t, "robot", time.Hour, "ci")
			c2 := connect(t, h.pgxConfig(t, connName, tok2, "disable-1"))
			c3 := connect(t, h.pgxConfig(t, connName, tok3, "disable-2"))
			d2, d3 := sleeper(c2), sleeper(c3)
			time.Sleep(200 * time.Millisecond)
			start = time.Now()
			if res := h.runCLI(t, admin, "identities", "disable", "robot", "--reason", "compromised"); res.Code != 0 {
				t.Fatalf("identities disable: %s%s", res.Stdout, res.Stderr)
			}
			t.Logf("%s: sessions ended %v and %v after disabling the identity", mode,
				wantEnded(t, d2, "gatehouse: access revoked", start), wantEnded(t, d3, "gatehouse: access revoked", start))
			// Their statements stop on the target too, not only the
			// client's connection.
			direct, err := pgx.Connect(ctxT(t), pg.DSN(db))
			if err != nil {
				t.Fatal(err)
			}
			defer direct.Close(context.Background())
			// Well before the 60 s sleeps would end by themselves.
			for stop := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				var n int
				err := direct.QueryRow(ctxT(t), "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query = 'SELECT pg_sleep(60)'").Scan(&n)
				if err == nil && n == 0 {
					break
				}
				if time.Now().After(stop) {
					t.Fatalf("the revoked sessions' statements still run on the target: %d, %v", n, err)
				}
			}
			if pe := connectErr(t, h.pgxConfig(t, connName, tok2, "disabled-again")); pe.Code != "28P01" {
				t.Errorf("token of a disabled identity: got %s %q, want 28P01", pe.Code, pe.Message)
			}
			if res := h.runCLI(t, admin, "tokens", "issue", "--identity", "robot"); res.Code == 0 || !strings.Contains(res.Stderr, "disabled") {
				t.Errorf("issuing for a disabled identity: exit %d, %s%s", res.Code, res.Stdout, res.Stderr)
			}
			if res := h.runCLI(t, admin, "identities", "list"); !strings.Contains(res.Stdout, "compromised") {
				t.Errorf("identities list: %s%s", res.Stdout, res.Stderr)
			}

			evs, err := h.g.Store().ListAudit(context.Background(), store.AuditFilter{Identity: "robot"})
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for i := len(evs) - 1; i >= 0; i-- {
				types = append(types, evs[i].Type)
			}
			got := strings.Join(types, " ")
			// The last is the refused sign-in with tok2 after the disabling.
			for _, want := range []string{"login login identity.disabled token.revoked token.revoked session.revoked session.revoked login.failed"} {
				if got != want {
					t.Errorf("audit log of robot: got %q, want %q", got, want)
				}
			}
			res := h.runCLI(t, admin, "audit", "events", "--identity", "deployer")
			if !strings.Contains(res.Stdout, "token.revoked") || !strings.Contains(res.Stdout, "session.revoked") {
				t.Errorf("audit events: %s%s", res.Stdout, res.Stderr)
			}
			if res := h.runCLI(t, admin, "identities", "enable", "robot"); res.Code != 0 {
				t.Errorf("identities enable: %s%s", res.Stdout, res.Stderr)
			}
			tok4, _ := h.issue(t, "robot", time.Hour, "ci")
			connect(t, h.pgxConfig(t, connName, tok4, "enabled")).Close(context.Background())
		})
	}
}

// TestTokenExpiryEndsSession: a session ends when its token expires,
// unless the policy lets it outlive the token.
func TestTokenExpiryEndsSession(t *testing.T) {
	t.Parallel()
	h := startUp(t, func(cfg *config.Config) {
		cfg.Policies = append([]config.Policy{{Name: "long", Subjects: []string{"group:long"}, Connections: []string{"*"},
			Access: config.AccessAllow, OutliveToken: true}}, cfg.Policies...)
	})
	tok, _ := h.issue(t, "short-lived", 3*time.Second, "ci")
	c := connect(t, h.pgxConfig(t, connName, tok, "expiring"))
	done := sleeper(c)
	wantEnded(t, done, "gatehouse: token expired", time.Now())

	tok2, _ := h.issue(t, "long-lived", 2*time.Second, "long")
	c2 := connect(t, h.pgxConfig(t, connName, tok2, "outliving"))
	time.Sleep(3 * time.Second)
	var one int
	if err := c2.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
		t.Errorf("a session under outlive_token after its token expired: %v", err)
	}
}

// TestFailedSignInsRateLimited: past the failures allowed from one address,
// even a good token is refused for a while, and the audit log says why.
func TestFailedSignInsRateLimited(t *testing.T) {
	t.Parallel()
	h := startUp(t, nil)
	good := h.ciToken(t)
	bad := "ght_" + strings.Repeat("A", 43)
	for i := range 10 {
		if pe := connectErr(t, h.pgxConfig(t, connName, bad, "bad")); pe.Code != "28P01" {
			t.Fatalf("bad token %d: got %s %q", i, pe.Code, pe.Message)
		}
	}
	pe := connectErr(t, h.pgxConfig(t, connName, bad, "after"))
	if pe.Code != "28000" || !strings.Contains(pe.Message, "too many failed sign-ins") {
		t.Errorf("bad token after 10 failures: got %s %q", pe.Code, pe.Message)
	}
	// A valid token still works from the same address.
	connect(t, h.pgxConfig(t, connName, good, "good-after")).Close(context.Background())
	evs, err := h.g.Store().ListAudit(context.Background(), store.AuditFilter{Type: store.AuditLoginFailed})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 11 || !strings.Contains(evs[0].Reason, "too many failed sign-ins") || evs[0].Source != "127.0.0.1" {
		t.Errorf("audit log: got %d failures, newest %+v", len(evs), evs[0])
	}
	// The API refuses the address's bad tokens too, but not an admin's.
	if res := h.runCLI(t, bad, "tokens", "list"); res.Code == 0 || !strings.Contains(res.Stderr, "too many failed sign-ins") {
		t.Errorf("API, a bad token from a blocked address: exit %d, %s%s", res.Code, res.Stdout, res.Stderr)
	}
	if res := h.runCLI(t, h.adminToken(t), "tokens", "list"); res.Code != 0 {
		t.Errorf("API, the admin token from a blocked address: exit %d, %s%s", res.Code, res.Stdout, res.Stderr)
	}
}
