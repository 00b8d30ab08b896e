package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const badTokenMessage = "gatehouse: invalid or expired token"

// TestUpTokens checks that every kind of bad token gets the same answer,
// and that a forbidden connection and an unknown one cannot be told apart.
func TestUpTokens(t *testing.T) {
	t.Parallel()
	h := startUp(t, nil)
	ctx := ctxT(t)

	past := &auth.Issuer{Store: h.g.Store(), Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }}
	expired, _, err := past.Issue(ctx, auth.IssueRequest{Identity: "ci-bot", Groups: []string{"ci"}, Kind: auth.KindService, TTL: time.Hour})
	if err != nil {
		t.Fatalf("issue expired token: %v", err)
	}
	revoked, rt, err := h.g.Issuer().Issue(ctx, auth.IssueRequest{Identity: "ci-bot", Groups: []string{"ci"}, Kind: auth.KindService, TTL: time.Hour})
	if err != nil {
		t.Fatalf("issue token: %v", err)
	}
	// The token works before it is revoked.
	connect(t, h.pgxConfig(t, connName, revoked, "before-revoke")).Close(ctx)
	if err := h.g.Issuer().Revoke(ctx, rt.ID); err != nil {
		t.Fatalf("revoke: %v", err)
	}

	tests := []struct {
		name, token string
	}{
		{"expired", expired},
		{"revoked", revoked},
		{"malformed", "not-a-token"},
		{"well-formed but unknown", "ght_" + strings.Repeat("A", 43)},
		{"truncated", revoked[:len(revoked)-1]},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe := connectErr(t, h.pgxConfig(t, connName, tt.token, "bad-token"))
			if pe.Code != "28P01" || pe.Message != badTokenMessage {
				t.Errorf("got %s %q, want 28P01 %q", pe.Code, pe.Message, badTokenMessage)
			}
		})
	}

	t.Run("forbidden and unknown connections look the same", func(t *testing.T) {
		forbidden := connectErr(t, h.pgxConfig(t, connName, h.token(t, "mallory", "not-ci"), "forbidden"))
		unknown := connectErr(t, h.pgxConfig(t, "no-such-conn", h.ciToken(t), "unknown"))
		// The message may echo the name the client asked for; apart from
		// that the two answers must be identical.
		fm := strings.ReplaceAll(forbidden.Message, connName, "NAME")
		um := strings.ReplaceAll(unknown.Message, "no-such-conn", "NAME")
		if forbidden.Code != unknown.Code || forbidden.Severity != unknown.Severity || fm != um ||
			forbidden.Detail != unknown.Detail || forbidden.Hint != unknown.Hint {
			t.Errorf("forbidden: %s %s %q %q; unknown: %s %s %q %q", forbidden.Severity, forbidden.Code, forbidden.Message, forbidden.Detail,
				unknown.Severity, unknown.Code, unknown.Message, unknown.Detail)
		}
		if forbidden.Code == "28P01" || forbidden.Message == badTokenMessage {
			t.Errorf("a valid token for a forbidden connection got the bad-token answer %s %q", forbidden.Code, forbidden.Message)
		}
	})

	t.Run("refused logins open no session", func(t *testing.T) {
		list, err := h.g.Store().ListSessions(ctx, store.SessionFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			if s.Identity != "ci-bot" || s.Connection != connName {
				t.Errorf("a refused login left session %+v", s)
			}
		}
		if len(list) != 1 {
			t.Errorf("got %d sessions, want only the one made before the token was revoked", len(list))
		}
	})
}

// TestRefusedTokenAudit: a revoked or expired token, refused at the
// PostgreSQL listener and at the API, is audited as login.failed with the
// identity and ID it was issued for and why it was refused; a malformed or
// unknown token with no identity. No token appears in the audit log, the
// logs, what the CLI printed, or any file of the data dir.
func TestRefusedTokenAudit(t *testing.T) {
	t.Parallel()
	h := startUp(t, nil)
	ctx := ctxT(t)
	admin := h.adminToken(t)

	revoked, revokedID := h.issue(t, "deployer", time.Hour, "ci")
	if res := h.runCLI(t, admin, "tokens", "revoke", revokedID); res.Code != 0 {
		t.Fatalf("tokens revoke: %s%s", res.Stdout, res.Stderr)
	}
	past := &auth.Issuer{Store: h.g.Store(), Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }}
	expired, et, err := past.Issue(ctx, auth.IssueRequest{Identity: "nightly", Groups: []string{"ci"}, Kind: auth.KindService, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	unknown := "ght_" + strings.Repeat("A", 43)
	malformed := "not-a-token-" + randHex(t, 8)

	var printed strings.Builder
	for _, tok := range []string{revoked, expired, unknown, malformed} {
		if pe := connectErr(t, h.pgxConfig(t, connName, tok, "refused")); pe.Code != "28P01" || pe.Message != badTokenMessage {
			t.Errorf("postgres: got %s %q, want 28P01 %q", pe.Code, pe.Message, badTokenMessage)
		}
		res := h.runCLI(t, tok, "sessions", "list")
		if res.Code != 1 || !strings.Contains(res.Stderr, "not authenticated") {
			t.Errorf("API: exit %d, %s%s; want exit 1, not authenticated", res.Code, res.Stdout, res.Stderr)
		}
		printed.WriteString(res.Stdout + res.Stderr)
	}

	type key struct{ identity, tokenID, reason string }
	got := map[key]int{}
	evs, err := h.g.Store().ListAudit(ctx, store.AuditFilter{Type: store.AuditLoginFailed})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Source != "127.0.0.1" || e.OK {
			t.Errorf("event %+v: want a failure from 127.0.0.1", e)
		}
		got[key{e.Identity, e.TokenID, e.Reason}]++
	}
	want := map[key]int{
		{"deployer", revokedID, "token revoked (postgres)"}: 1,
		{"deployer", revokedID, "token revoked (API)"}:      1,
		{"nightly", et.ID, "token expired (postgres)"}:      1,
		{"nightly", et.ID, "token expired (API)"}:           1,
		{"", "", "invalid or expired token (postgres)"}:     2, // unknown, malformed
		{"", "", "invalid or expired token (API)"}:          2,
	}
	if !maps.Equal(got, want) {
		t.Errorf("login.failed events:\ngot  %v\nwant %v", got, want)
	}
	// What an admin reads: the identity is searchable.
	res := h.runCLI(t, admin, "audit", "events", "--identity", "deployer", "--type", store.AuditLoginFailed, "--json")
	if res.Code != 0 || strings.Count(res.Stdout, "token revoked") != 2 {
		t.Errorf("audit events --identity deployer: exit %d, %s%s", res.Code, res.Stdout, res.Stderr)
	}
	printed.WriteString(res.Stdout + res.Stderr)

	evsJSON, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"revoked": revoked, "expired": expired, "unknown": unknown, "malformed": malformed} {
		for where, data := range map[string]string{"the audit log": string(evsJSON), "the gateway's log": h.logs.String(), "the CLI's output": printed.String()} {
			if strings.Contains(data, tok) {
				t.Errorf("the %s token appears in %s", name, where)
			}
		}
		for path, data := range readTree(t, h.cfg.DataDir) {
			if strings.Contains(string(data), tok) {
				t.Errorf("the %s token appears in %s", name, path)
			}
		}
	}
}

// TestTokensIssueMaxTTL: auth.max_token_ttl caps `gatehouse tokens issue
// --ttl`; a longer ttl exits 1 with one line that says the maximum, and
// issues nothing.
func TestTokensIssueMaxTTL(t *testing.T) {
	t.Parallel()
	h := startUp(t, func(c *config.Config) { c.Auth.MaxTokenTTL = 2 * time.Hour })
	admin := h.adminToken(t)

	res := h.runCLI(t, admin, "tokens", "issue", "--identity", "ci-bot", "--ttl", "3h")
	if res.Code != 1 || res.Stdout != "" || strings.Count(res.Stderr, "\n") != 1 ||
		!strings.Contains(res.Stderr, "ttl 3h is longer than the maximum of 2h (auth.max_token_ttl)") {
		t.Errorf("--ttl 3h: exit %d, stdout %q, stderr %q; want exit 1 and one line naming the maximum 2h", res.Code, res.Stdout, res.Stderr)
	}
	res = h.runCLI(t, admin, "tokens", "issue", "--identity", "ci-bot", "--ttl", "2h")
	if res.Code != 0 || !auth.WellFormed(strings.TrimSpace(res.Stdout)) {
		t.Fatalf("--ttl 2h: exit %d, %s%s", res.Code, res.Stdout, res.Stderr)
	}
	list, err := h.g.Store().ListTokens(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var issued int
	for _, tok := range list {
		if tok.Identity == "ci-bot" {
			issued++
			if d := tok.ExpiresAt.Sub(tok.IssuedAt); d != 2*time.Hour {
				t.Errorf("token %s lives %s, want 2h", tok.ID, d)
			}
		}
	}
	if issued != 1 {
		t.Errorf("got %d tokens for ci-bot, want only the 2h one", issued)
	}
}

// TestUpTLS checks that a client must use TLS unless allow_plaintext is
// set, and that the generated certificate verifies against the gateway's
// CA.
func TestUpTLS(t *testing.T) {
	t.Parallel()
	h := startUp(t, nil)
	tok := h.ciToken(t)
	host, port := h.pgHostPort(t)
	ca := filepath.Join(h.cfg.DataDir, "pki", "ca.crt")

	t.Run("plaintext refused", func(t *testing.T) {
		cc := h.pgxConfig(t, connName, tok, "plain")
		cc.TLSConfig = nil
		cc.Fallbacks = nil
		pe := connectErr(t, cc)
		if pe.Code != "28000" || !strings.Contains(pe.Message, "TLS") {
			t.Errorf("plaintext client: got %s %q, want 28000 saying TLS is required", pe.Code, pe.Message)
		}
	})
	tests := []struct {
		name, dsn string
		ok        bool
	}{
		{"require", "sslmode=require", true},
		{"verify-full 127.0.0.1", fmt.Sprintf("host=127.0.0.1 sslmode=verify-full sslrootcert=%s", ca), true},
		{"verify-full localhost", fmt.Sprintf("host=localhost sslmode=verify-full sslrootcert=%s", ca), true},
		{"verify-full wrong CA", fmt.Sprintf("host=127.0.0.1 sslmode=verify-full sslrootcert=%s", otherCA(t)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := fmt.Sprintf("host=%s port=%s user=%s dbname=%s connect_timeout=30 %s", host, port, connName, h.db, tt.dsn)
			ctx := ctxT(t)
			cc, err := pgx.ParseConfig(dsn)
			if err != nil {
				t.Fatalf("parse %q: %v", dsn, err)
			}
			cc.Password = tok
			c, err := pgx.ConnectConfig(ctx, cc)
			if !tt.ok {
				if err == nil {
					c.Close(ctx)
					t.Fatalf("connected with the wrong CA")
				}
				return
			}
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer c.Close(ctx)
			var one int
			if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Errorf("select 1: %d, %v", one, err)
			}
		})
	}
	t.Run("psql verify-full", func(t *testing.T) {
		bin := requireBinary(t, "psql")
		dsn := fmt.Sprintf("host=localhost port=%s user=%s dbname=%s sslmode=verify-full sslrootcert=%s", port, connName, h.db, ca)
		out, err := runCmd(t, bin, []string{"-X", "-At", "-v", "ON_ERROR_STOP=1", dsn, "-c", "SELECT 'tls-ok', ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"},
			cleanEnv("PGPASSWORD="+tok), t.TempDir())
		if err != nil {
			t.Fatalf("psql: %v\n%s", err, out)
		}
		// The target session is plaintext (tls: disable); what matters is
		// that psql verified the gateway and ran the statement.
		if !strings.HasPrefix(out, "tls-ok|") {
			t.Errorf("psql: got %q", out)
		}
	})

	t.Run("allow_plaintext", func(t *testing.T) {
		hp := startUp(t, func(c *config.Config) { c.Gateway.AllowPlaintext = true })
		cc := hp.pgxConfig(t, connName, hp.ciToken(t), "plain-allowed")
		cc.TLSConfig = nil
		cc.Fallbacks = nil
		c := connect(t, cc)
		var one int
		if err := c.QueryRow(ctxT(t), "SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Errorf("select 1 over plaintext: %d, %v", one, err)
		}
	})
}

// otherCA returns the CA certificate of another gateway's data dir.
func otherCA(t testing.TB) string {
	t.Helper()
	h := startGateway(t, upConfig(t, "postgres"), true, "postgres")
	if err := h.g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(h.cfg.DataDir, "pki", "ca.crt")
}
