package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// syncBuffer is a bytes.Buffer safe for a process writing while a test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startConnect runs `gatehouse connect args...` with token and returns the
// local address it listens on and its output so far, once it is ready.
func (h *gw) startConnect(t *testing.T, token string, args ...string) (string, *syncBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"connect", "--listen", addr}, args...)...)
	cmd.Env = cleanEnv(cliEnv+"=1", "GATEHOUSE_URL="+h.apiURL(), "GATEHOUSE_TOKEN="+token, "HOME="+t.TempDir())
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "Forwarding") {
		select {
		case <-done:
			t.Fatalf("gatehouse connect exited: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse connect is not ready: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr, out
}

// TestConnect runs `gatehouse connect` and uses its local port, which
// takes no password, with psql, pgbench and pgx (cancel included); the
// sessions are recorded under the token's identity, and a disabled identity
// is refused there too.
func TestConnect(t *testing.T) {
	t.Parallel()
	h := startUp(t, nil)
	tok := h.ciToken(t)
	psqlBin := requireBinary(t, "psql")
	pgbenchBin := requireBinary(t, "pgbench")

	// Only what the caller may reach is listed, or forwarded.
	if res := h.runCLI(t, tok, "connections"); res.Code != 0 || !strings.Contains(res.Stdout, connName+"  ") {
		t.Errorf("connections: exit %d: %s%s", res.Code, res.Stdout, res.Stderr)
	}
	outsider := h.token(t, "mallory", "others")
	if res := h.runCLI(t, outsider, "connections", "--json"); res.Code != 0 || strings.TrimSpace(res.Stdout) != "[]" {
		t.Errorf("connections for an outsider: exit %d: %s%s", res.Code, res.Stdout, res.Stderr)
	}
	if res := h.runCLI(t, outsider, "connect", connName); res.Code != 1 || !strings.Contains(res.Stderr, "no connection") {
		t.Errorf("connect without access: exit %d: %s", res.Code, res.Stderr)
	}
	if res := h.runCLI(t, tok, "connect", connName, "--listen", "0.0.0.0:0"); res.Code != 1 || !strings.Contains(res.Stderr, "loopback") {
		t.Errorf("connect on a wildcard address: exit %d: %s", res.Code, res.Stderr)
	}

	addr, out := h.startConnect(t, tok, connName)
	host, port, _ := net.SplitHostPort(addr)
	// No user, no password, no TLS: libpq's defaults, as a tool would have
	// them. The database is the client's.
	local := fmt.Sprintf("host=%s port=%s dbname=%s application_name=via-connect", host, port, h.db)
	env := cleanEnv("PGCONNECT_TIMEOUT=30")
	got, err := runCmd(t, psqlBin, []string{"-X", "-w", "-A", "-t", local, "-c", "SELECT current_database()"}, env, t.TempDir())
	if err != nil || strings.TrimSpace(got) != h.db {
		t.Fatalf("psql through gatehouse connect: %v: %s\n%s", err, got, out)
	}

	pgbenchArgs := func(extra ...string) []string {
		return append([]string{"-h", host, "-p", port}, append(extra, h.db)...)
	}
	if got, err := runCmd(t, pgbenchBin, pgbenchArgs("-i", "-s", "1", "-q"), env, t.TempDir()); err != nil {
		t.Fatalf("pgbench -i: %v: %s", err, got)
	}
	for _, mode := range []string{"simple", "prepared"} {
		got, err := runCmd(t, pgbenchBin, pgbenchArgs("-n", "-S", "-c", "4", "-t", "50", "-M", mode), env, t.TempDir())
		if err != nil || !strings.Contains(got, "number of transactions actually processed: 200/200") {
			t.Errorf("pgbench -M %s: %v: %s", mode, err, got)
		}
	}

	// A cancel reaches the query through the forwarder and the gateway.
	ctx := context.Background()
	cc, err := pgx.ParseConfig(local + " application_name=connect-cancel")
	if err != nil {
		t.Fatal(err)
	}
	// Through a CancelRequest only: a cancel that does not arrive lets the
	// sleep finish, and the test fails.
	cc.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: 5 * time.Minute}
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var pid uint32
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	qctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(qctx, "SELECT pg_sleep(10)")
		done <- err
	}()
	waitActive(t, pid, "SELECT pg_sleep(10)")
	cancel()
	if err := <-done; pgCode(err) != "57014" {
		t.Errorf("cancelled query: got %v, want SQLSTATE 57014", err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("after the cancel: %d, %v", one, err)
	}
	conn.Close(ctx)

	rec := waitRecording(t, h.g.Store(), "via-connect")
	if rec.Session.Identity != "ci-bot" || rec.Session.Connection != connName {
		t.Errorf("session through connect: identity %q, connection %q", rec.Session.Identity, rec.Session.Connection)
	}

	// A disabled identity is refused at the local port with the gateway's
	// words.
	if res := h.runCLI(t, h.adminToken(t), "identities", "disable", "ci-bot"); res.Code != 0 {
		t.Fatalf("identities disable: %s", res.Stderr)
	}
	got, err = runCmd(t, psqlBin, []string{"-X", "-w", local, "-c", "SELECT 1"}, env, t.TempDir())
	if err == nil || !strings.Contains(got, "gatehouse: invalid or expired token") {
		t.Errorf("psql after the identity was disabled: %v: %s", err, got)
	}
	if strings.Contains(out.String(), tok) {
		t.Errorf("gatehouse connect printed the token: %s", out)
	}
}
