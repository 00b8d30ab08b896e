package postgres_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
)

func TestHold(t *testing.T) {
	for _, m := range execModes[:2] {
		t.Run(m.name, func(t *testing.T) {
			tp := newTestPolicy()
			p, direct := startDenyProxy(t, tp)
			ctx := context.Background()
			notices := make(chan string, 10)
			notifications := make(chan string, 10)
			conn := connectMode(t, p.DSN("disable"), m.mode, func(cfg *pgx.ConnConfig) {
				cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices <- n.Severity + " " + n.Message }
				cfg.OnNotification = func(_ *pgconn.PgConn, n *pgconn.Notification) { notifications <- n.Channel + " " + n.Payload }
			})
			mustExec(t, conn, "LISTEN events")

			done := make(chan error, 1)
			go func() {
				_, err := conn.Exec(ctx, "INSERT INTO held_table VALUES (1)")
				done <- err
			}()
			h := <-tp.holds
			// Check is blocked until h.release: the notice, and a
			// notification sent now, reach the client meanwhile.
			if got, want := <-notices, "NOTICE "+noticeMsg; got != want {
				t.Errorf("notice while held: got %q, want %q", got, want)
			}
			mustExec(t, direct, "NOTIFY events, 'during the hold'")
			if got, want := <-notifications, "events during the hold"; got != want {
				t.Errorf("notification while held: got %q, want %q", got, want)
			}
			if n := count(t, direct, "held_table"); n != 0 {
				t.Errorf("held_table rows while held: got %d, want 0", n)
			}
			h.release <- nil
			if err := <-done; err != nil {
				t.Fatalf("held INSERT after approval: %v", err)
			}
			if n := count(t, direct, "held_table"); n != 1 {
				t.Errorf("held_table rows after approval: got %d, want 1", n)
			}

			// A hold that ends in a timeout.
			go func() {
				_, err := conn.Exec(ctx, "DELETE FROM held_table")
				done <- err
			}()
			h = <-tp.holds
			<-notices
			h.release <- &postgres.Denial{Code: "57014", Message: "gatehouse: review r_8f2c timed out"}
			var pe *pgconn.PgError
			if err := <-done; !errors.As(err, &pe) || pe.Severity != "ERROR" || pe.Code != "57014" || pe.Message != "gatehouse: review r_8f2c timed out" {
				t.Fatalf("held DELETE after timeout: got %v, want ERROR 57014", err)
			}
			if n := count(t, direct, "held_table"); n != 1 {
				t.Errorf("held_table rows after the timed-out DELETE: got %d, want 1", n)
			}

			var got []string
			for _, r := range p.Rec.statements() {
				if !strings.Contains(r.Stmt.Text, "held_table") {
					continue
				}
				s := r.Stmt.Decision + " " + r.Stmt.Policy + " " + r.Stmt.Rule + ":"
				for _, res := range r.Results {
					s += " " + res.Tag
					if res.Error != nil {
						s += res.Error.Code + " " + res.Error.Message
					}
				}
				got = append(got, s)
			}
			want := []string{"review test-policy rule-2: INSERT 0 1", "review test-policy rule-2: 57014 gatehouse: review r_8f2c timed out"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("recorded holds (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHoldPipeline checks that results of statements sent before a held
// one reach the client during the hold.
func TestHoldPipeline(t *testing.T) {
	tp := newTestPolicy()
	p, _ := startDenyProxy(t, tp)
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	pl := conn.PgConn().StartPipeline(ctx)
	pl.SendQueryParams("SELECT 'before'", nil, nil, nil, nil)
	pl.SendQueryParams("INSERT INTO held_table VALUES (1)", nil, nil, nil, nil)
	if err := pl.Sync(); err != nil {
		t.Fatal(err)
	}
	h := <-tp.holds
	res, err := pl.GetResults()
	if err != nil {
		t.Fatalf("result of the statement before the held one: %v", err)
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		t.Fatalf("result of the statement before the held one: got %T", res)
	}
	if r := rr.Read(); r.Err != nil || len(r.Rows) != 1 || string(r.Rows[0][0]) != "before" {
		t.Fatalf("result of the statement before the held one: got %+v", r)
	}
	h.release <- nil
	got := pipelineResults(t, pl, 1)
	if err := pl.Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ok INSERT 0 1", "sync"}, got); diff != "" {
		t.Errorf("pipeline after release (-want +got):\n%s", diff)
	}
}

func TestHoldEndsWithSession(t *testing.T) {
	tp := newTestPolicy()
	cancels := make(chan context.CancelFunc, 1)
	p := startProxy(t, proxyOptions{check: tp.check, relayCtx: func(ctx context.Context) context.Context {
		ctx, cancel := context.WithCancel(ctx)
		cancels <- cancel
		return ctx
	}})
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	cancel := <-cancels
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "SELECT * FROM held_table")
		done <- err
	}()
	<-tp.holds
	cancel()
	var pe *pgconn.PgError
	if err := <-done; !errors.As(err, &pe) || pe.Severity != "FATAL" || pe.Code != "57P01" {
		t.Fatalf("held statement when the session is cancelled: got %v, want FATAL 57P01", err)
	}
	if err := p.nextRelayErr(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Relay: got %v, want context.Canceled", err)
	}
	for _, r := range p.Rec.statements() {
		if strings.Contains(r.Stmt.Text, "held_table") {
			t.Errorf("statement held when the session ended was recorded: %+v", r.Stmt)
		}
	}
}

func runPsql(t *testing.T, p *proxy, script string, args ...string) (string, int) {
	t.Helper()
	args = append([]string{"-X", "-q", "-At", "-h", "127.0.0.1", "-p", strings.Split(p.Addr, ":")[1], "-U", "app", "-d", p.DB, "-f", "-"}, args...)
	cmd := exec.Command("/usr/bin/psql", args...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+testToken, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=60")
	cmd.Stdin = strings.NewReader(script)
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(b), ee.ExitCode()
	case err != nil:
		t.Fatalf("psql: %v\n%s", err, b)
	}
	return string(b), 0
}

func TestPsqlDeny(t *testing.T) {
	tp := newTestPolicy()
	p, direct := startDenyProxy(t, tp)
	in := filepath.Join(t.TempDir(), "in.tsv")
	if err := os.WriteFile(in, []byte("21\n22\n23\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "INSERT INTO allowed_table VALUES (1);\n" +
		"INSERT INTO forbidden_table VALUES (1);\n" +
		`\copy forbidden_table FROM '` + in + "'\n" +
		"BEGIN;\n" +
		"INSERT INTO allowed_table VALUES (2);\n" +
		"SELECT * FROM forbidden_table;\n" +
		"SELECT 1;\n" +
		"ROLLBACK;\n" +
		`\copy allowed_table FROM '` + in + "'\n" +
		"SELECT count(*) FROM allowed_table;\n"
	out, code := runPsql(t, p, script)
	denied := "ERROR:  " + denyMsg + "\n"
	want := "psql:<stdin>:2: " + denied +
		"psql:<stdin>:3: " + denied +
		"psql:<stdin>:6: " + denied +
		"psql:<stdin>:7: ERROR:  current transaction is aborted, commands ignored until end of transaction block\n" +
		"4\n"
	if code != 0 || out != want {
		t.Errorf("psql without ON_ERROR_STOP: got exit %d and\n%s\nwant exit 0 and\n%s", code, out, want)
	}

	script = "INSERT INTO allowed_table VALUES (10);\n" +
		"SELECT * FROM forbidden_table;\n" +
		"SELECT 'not reached';\n"
	out, code = runPsql(t, p, script, "-v", "ON_ERROR_STOP=1")
	if want := "psql:<stdin>:2: " + denied; code != 3 || out != want {
		t.Errorf("psql with ON_ERROR_STOP: got exit %d and %q, want exit 3 and %q", code, out, want)
	}
	if n := count(t, direct, "allowed_table"); n != 5 {
		t.Errorf("allowed_table rows on the server: got %d, want 5", n)
	}
	if n := count(t, direct, "forbidden_table"); n != 0 {
		t.Errorf("forbidden_table rows on the server: got %d, want 0", n)
	}
}

func TestJDBCDenyBatch(t *testing.T) {
	const jar = "/usr/share/java/postgresql.jar"
	javac, err := exec.LookPath("javac")
	if err != nil {
		pgtest.Missing(t, "javac is not installed")
	}
	if _, err := os.Stat(jar); err != nil {
		t.Fatalf("the PostgreSQL JDBC driver: %v", err)
	}
	dir := t.TempDir()
	if out, err := exec.Command(javac, "-d", dir, "testdata/clients/DenyBatch.java").CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	tp := newTestPolicy()
	p, direct := startDenyProxy(t, tp)
	url := "jdbc:postgresql://" + p.Addr + "/" + p.DB + "?sslmode=disable"
	out, err := exec.Command("java", "-cp", dir+":"+jar, "DenyBatch", url, "app", testToken).CombinedOutput()
	if err != nil {
		t.Fatalf("JDBC client: %v\n%s", err, out)
	}
	want := "batch 42501 ERROR: " + denyMsg + "\n" +
		"rows 0\n" +
		"select 42501\n" +
		"insert 25P02\n" +
		"rows 0\n"
	if got := string(out); got != want {
		t.Errorf("JDBC output: got\n%s\nwant\n%s", got, want)
	}
	if n := count(t, direct, "allowed_table"); n != 0 {
		t.Errorf("allowed_table rows on the server: got %d, want 0", n)
	}
}

// A held statement that its client cancels, or whose client goes away,
// never runs, whatever the hold decides later.
func TestHoldCanceledOrAbandoned(t *testing.T) {
	tp := newTestPolicy()
	p, direct := startDenyProxy(t, tp)
	conn := connectMode(t, p.DSN("disable"), pgx.QueryExecModeSimpleProtocol, func(cfg *pgx.ConnConfig) {
		// Through a CancelRequest, never the deadline fallback.
		cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: time.Minute}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "INSERT INTO held_table VALUES (1)")
		done <- err
	}()
	<-tp.holds
	cancel()
	var pe *pgconn.PgError
	if err := <-done; !errors.As(err, &pe) || pe.Code != "57014" {
		t.Fatalf("canceled held statement: got %v, want 57014", err)
	}
	mustExec(t, conn, "SELECT 1") // the session goes on
	if n := count(t, direct, "held_table"); n != 0 {
		t.Errorf("held_table rows after the cancel: got %d, want 0", n)
	}

	// The client disconnects while held; the hold is then approved.
	go func() {
		_, err := conn.Exec(context.Background(), "INSERT INTO held_table VALUES (2)")
		done <- err
	}()
	h := <-tp.holds
	conn.PgConn().Conn().Close()
	if err := p.nextRelayErr(t); err == nil || !strings.Contains(err.Error(), "went away") {
		t.Errorf("relay after the client left: got %v", err)
	}
	h.release <- nil // an approval that comes too late
	<-done
	time.Sleep(100 * time.Millisecond)
	if n := count(t, direct, "held_table"); n != 0 {
		t.Errorf("held_table rows after the client left: got %d, want 0", n)
	}
}
