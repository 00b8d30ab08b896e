package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store/pgstore"
)

// TestUpPostgresStore runs `gatehouse up` with store.postgres: a session
// through the gateway is recorded in the PostgreSQL store (and nothing in
// a SQLite file), the CLI lists, shows and verifies it, a token revocation
// takes, a restarted gateway finds it all again, and the store's password
// shows in no log line and no CLI output.
func TestUpPostgresStore(t *testing.T) {
	t.Parallel()
	const (
		role     = "gh_e2e_store"
		password = "E2e-St0re:pw/7c1d@x"
	)
	storeDB := pg.CreateDatabase(t)
	pg.Exec(t, "postgres", fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'; ALTER DATABASE %s OWNER TO %s", role, password, storeDB, role))
	dsn := (&url.URL{Scheme: "postgres", User: url.UserPassword(role, password), Host: pg.Addr(), Path: "/" + storeDB, RawQuery: "sslmode=disable"}).String()
	leaks := func(text string) bool {
		for _, s := range []string{password, url.QueryEscape(password), url.PathEscape(password), url.UserPassword("", password).String()[1:]} {
			if strings.Contains(text, s) {
				return true
			}
		}
		return false
	}
	var outputs []string // everything the CLI printed
	cli := func(h *gw, token string, args ...string) cliResult {
		t.Helper()
		res := h.runCLI(t, token, args...)
		outputs = append(outputs, res.Stdout, res.Stderr)
		return res
	}

	h := startUp(t, func(cfg *config.Config) {
		cfg.Store = config.Store{Postgres: config.Secret(dsn)}
	})
	if _, ok := h.g.Store().(*pgstore.Store); !ok {
		t.Fatalf("the gateway's store is a %T, want *pgstore.Store", h.g.Store())
	}
	if _, err := os.Stat(filepath.Join(h.cfg.DataDir, "gatehouse.db")); !os.IsNotExist(err) {
		t.Errorf("a SQLite file exists in the data dir (stat: %v)", err)
	}

	// A session through the gateway.
	ctx := ctxT(t)
	c := connect(t, h.pgxConfig(t, connName, h.ciToken(t), "pgstore"))
	for _, sql := range []string{"CREATE TABLE pgs_t (id int, v text)", "INSERT INTO pgs_t VALUES (1, 'a'), (2, 'b')"} {
		if _, err := c.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pgs_t WHERE id >= $1", 1).Scan(&n); err != nil || n != 2 {
		t.Fatalf("select: got %d, %v; want 2", n, err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rec := waitRecording(t, h.g.Store(), "pgstore")
	checkSealed(t, h, rec)
	sess := rec.Session

	// The recording is in the PostgreSQL database, read directly.
	sc, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the store: %v", err)
	}
	defer sc.Close(context.Background())
	var events, statements int
	if err := sc.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE type = 'statement') FROM events WHERE session = $1`, sess.ID).
		Scan(&events, &statements); err != nil {
		t.Fatal(err)
	}
	if events != len(rec.Events) || int64(statements) != sess.Statements || statements < 3 {
		t.Errorf("store database holds %d events (%d statements) of %s; want %d (%d)", events, statements, sess.ID, len(rec.Events), sess.Statements)
	}

	admin := h.adminToken(t)
	checkCLI := func(h *gw) {
		t.Helper()
		res := cli(h, admin, "sessions", "list")
		if line := lineWith(res.Stdout, sess.ID); res.Code != 0 || !strings.Contains(line, "ci-bot") || !strings.Contains(line, "ended") {
			t.Errorf("sessions list: exit %d, no ended session %s of ci-bot:\n%s%s", res.Code, sess.ID, res.Stdout, res.Stderr)
		}
		res = cli(h, admin, "sessions", "show", sess.ID)
		for _, s := range []string{"CREATE TABLE pgs_t (id int, v text)", "INSERT 0 2", "session.end"} {
			if res.Code != 0 || !strings.Contains(res.Stdout, s) {
				t.Errorf("sessions show: exit %d, lacks %q:\n%s%s", res.Code, s, res.Stdout, res.Stderr)
			}
		}
		res = cli(h, admin, "audit", "verify", sess.ID)
		if res.Code != 0 || !strings.Contains(res.Stdout, "OK") || !strings.Contains(res.Stdout, "hash chain intact") || !strings.Contains(res.Stdout, "signature valid") {
			t.Errorf("audit verify: exit %d:\n%s%s", res.Code, res.Stdout, res.Stderr)
		}
	}
	checkCLI(h)

	// A token revocation takes, and is in the store.
	tok, id := h.issue(t, "deployer", time.Hour, "ci")
	connect(t, h.pgxConfig(t, connName, tok, "before-revoke")).Close(ctx)
	if res := cli(h, admin, "tokens", "revoke", id); res.Code != 0 {
		t.Fatalf("tokens revoke: exit %d: %s%s", res.Code, res.Stdout, res.Stderr)
	}
	if pe := connectErr(t, h.pgxConfig(t, connName, tok, "after-revoke")); pe.Code != "28P01" {
		t.Errorf("revoked token: got %s %q, want 28P01", pe.Code, pe.Message)
	}
	var revoked bool
	if err := sc.QueryRow(ctx, `SELECT revoked_at IS NOT NULL FROM tokens WHERE id = $1`, id).Scan(&revoked); err != nil || !revoked {
		t.Errorf("token %s in the store database: revoked %v, %v; want revoked", id, revoked, err)
	}

	// A restarted gateway on the same store finds everything again.
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.g.Close(closeCtx); err != nil {
		t.Fatalf("close gateway: %v", err)
	}
	h2 := startGateway(t, h.cfg, true, h.db)
	checkCLI(h2)
	if pe := connectErr(t, h2.pgxConfig(t, connName, tok, "after-restart")); pe.Code != "28P01" {
		t.Errorf("revoked token after a restart: got %s %q, want 28P01", pe.Code, pe.Message)
	}

	for i, g := range []*gw{h, h2} {
		logs := g.logs.String()
		if !strings.Contains(logs, "store opened") {
			t.Errorf("gateway %d: log lacks the store's opening line", i+1)
		}
		if leaks(logs) {
			t.Errorf("gateway %d: the store password is in the log:\n%s", i+1, logs)
		}
	}
	if leaks(strings.Join(outputs, "\n")) {
		t.Errorf("the store password is in the CLI's output:\n%s", strings.Join(outputs, "\n"))
	}
}
