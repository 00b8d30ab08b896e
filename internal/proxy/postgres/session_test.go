package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
)

func TestBatch(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	mustExec(t, conn, "CREATE TABLE t (id int PRIMARY KEY)")
	p.Rec.reset()

	b := &pgx.Batch{}
	b.Queue("INSERT INTO t VALUES ($1)", 1)
	b.Queue("INSERT INTO t VALUES ($1)", 2)
	b.Queue("SELECT id FROM t WHERE id > $1 ORDER BY id", 0)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		t.Fatalf("batch: %v", err)
	}
	// A batch with a failure in the middle: the rest is skipped.
	b = &pgx.Batch{}
	b.Queue("INSERT INTO t VALUES ($1)", 3)
	b.Queue("INSERT INTO t VALUES ($1)", 1) // duplicate key
	b.Queue("INSERT INTO t VALUES ($1)", 4)
	err := conn.SendBatch(ctx, b).Close()
	if code, _ := asPgError(err); code != "23505" {
		t.Fatalf("failing batch: got %v, want 23505", err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	// The failing batch ran in one implicit transaction: nothing of it stays.
	if n != 2 {
		t.Errorf("rows after batches: got %d, want 2", n)
	}

	want := []stmtSummary{
		{Protocol: "extended", Text: "INSERT INTO t VALUES ($1)", Params: []string{"\x00\x00\x00\x01"}, Results: []resSummary{{Tag: "INSERT 0 1", Rows: 1}}},
		{Protocol: "extended", Text: "INSERT INTO t VALUES ($1)", Params: []string{"\x00\x00\x00\x02"}, Results: []resSummary{{Tag: "INSERT 0 1", Rows: 1}}},
		{Protocol: "extended", Text: "SELECT id FROM t WHERE id > $1 ORDER BY id", Params: []string{"\x00\x00\x00\x00"}, Results: []resSummary{{Tag: "SELECT 2", Rows: 2}}},
		{Protocol: "extended", Text: "INSERT INTO t VALUES ($1)", Params: []string{"\x00\x00\x00\x03"}, Results: []resSummary{{Tag: "INSERT 0 1", Rows: 1}}},
		{Protocol: "extended", Text: "INSERT INTO t VALUES ($1)", Params: []string{"\x00\x00\x00\x01"}, Results: []resSummary{{Code: "23505"}}},
		{Protocol: "extended", Text: "INSERT INTO t VALUES ($1)", Params: []string{"\x00\x00\x00\x04"}}, // skipped by the server
		{Protocol: "extended", Text: "SELECT count(*) FROM t", Results: []resSummary{{Tag: "SELECT 1", Rows: 1}}},
	}
	if diff := cmp.Diff(want, summarize(p.Rec.statements())); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
}

// TestPipeline sends several Sync-terminated batches before reading any
// result, including a Prepare that fails, as pgx's pipeline mode does.
func TestPipeline(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	pc := conn.PgConn()
	p.Rec.reset()

	pl := pc.StartPipeline(ctx)
	pl.SendPrepare("s1", "SELECT $1::int + 1", nil)
	pl.SendPrepare("bad", "SELEC nonsense", nil)
	pl.SendQueryPrepared("s1", [][]byte{[]byte("41")}, nil, nil)
	pl.SendQueryParams("SELECT generate_series(1, $1::int)", [][]byte{[]byte("3")}, nil, nil, nil)
	pl.SendQueryPrepared("s1", [][]byte{[]byte("1")}, nil, nil)
	if err := pl.Sync(); err != nil {
		t.Fatal(err)
	}
	pl.SendQueryParams("SELECT 'after'", nil, nil, nil, nil)
	if err := pl.Sync(); err != nil {
		t.Fatal(err)
	}

	var got []string
	for {
		res, err := pl.GetResults()
		if err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				got = append(got, "error "+pe.Code)
				continue
			}
			t.Fatalf("GetResults: %v", err)
		}
		if res == nil {
			break
		}
		switch r := res.(type) {
		case *pgconn.StatementDescription:
			got = append(got, "prepared")
		case *pgconn.ResultReader:
			rr := r.Read()
			if rr.Err != nil {
				got = append(got, "error "+rr.Err.(*pgconn.PgError).Code)
				continue
			}
			var vals []string
			for _, row := range rr.Rows {
				vals = append(vals, string(row[0]))
			}
			got = append(got, "rows "+strings.Join(vals, ","))
		case *pgconn.PipelineSync:
			got = append(got, "sync")
		}
	}
	if err := pl.Close(); err != nil {
		t.Fatalf("close pipeline: %v", err)
	}
	wantWire := []string{"prepared", "error 42601", "sync", "rows after", "sync"}
	if diff := cmp.Diff(wantWire, got); diff != "" {
		t.Errorf("pipeline results (-want +got):\n%s", diff)
	}
	// The first batch failed at the second Parse, so its executes never ran
	// and got no result (the error belongs to the Parse).
	want := []stmtSummary{
		{Protocol: "extended", Text: "SELECT $1::int + 1", Params: []string{"41"}},
		{Protocol: "extended", Text: "SELECT generate_series(1, $1::int)", Params: []string{"3"}},
		{Protocol: "extended", Text: "SELECT $1::int + 1", Params: []string{"1"}},
		{Protocol: "extended", Text: "SELECT 'after'", Results: []resSummary{{Tag: "SELECT 1", Rows: 1}}},
	}
	if diff := cmp.Diff(want, summarize(p.Rec.statements())); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}

	// And a pipeline that succeeds throughout.
	p.Rec.reset()
	pl = pc.StartPipeline(ctx)
	pl.SendQueryPrepared("s1", [][]byte{[]byte("1")}, nil, nil)
	pl.SendQueryParams("SELECT generate_series(1, $1::int)", [][]byte{[]byte("3")}, nil, nil, nil)
	if err := pl.Sync(); err != nil {
		t.Fatal(err)
	}
	pl.SendQueryPrepared("s1", [][]byte{[]byte("2")}, nil, nil)
	if err := pl.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := pl.Close(); err != nil {
		t.Fatalf("close pipeline: %v", err)
	}
	want = []stmtSummary{
		{Protocol: "extended", Text: "SELECT $1::int + 1", Params: []string{"1"}, Results: []resSummary{{Tag: "SELECT 1", Rows: 1}}},
		{Protocol: "extended", Text: "SELECT generate_series(1, $1::int)", Params: []string{"3"}, Results: []resSummary{{Tag: "SELECT 3", Rows: 3}}},
		{Protocol: "extended", Text: "SELECT $1::int + 1", Params: []string{"2"}, Results: []resSummary{{Tag: "SELECT 1", Rows: 1}}},
	}
	if diff := cmp.Diff(want, summarize(p.Rec.statements())); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
}

func TestErrorFieldsAndTxStatus(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	mustExec(t, conn, "CREATE TABLE t (id int PRIMARY KEY CHECK (id > 0))")
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO t VALUES ($1)", -1); err == nil {
		t.Fatal("insert violating the check: got nil error")
	} else {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			t.Fatalf("got %T %v, want *pgconn.PgError", err, err)
		}
		got := []string{pe.Severity, pe.Code, pe.Message, pe.Detail, pe.SchemaName, pe.TableName, pe.ConstraintName}
		want := []string{"ERROR", "23514", `new row for relation "t" violates check constraint "t_id_check"`, "Failing row contains (-1).", "public", "t", "t_id_check"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("error fields (-want +got):\n%s", diff)
		}
	}
	if s := conn.PgConn().TxStatus(); s != 'E' {
		t.Errorf("tx status after error in transaction: got %q, want E", s)
	}
	_, err = tx.Exec(ctx, "SELECT 1")
	if code, _ := asPgError(err); code != "25P02" {
		t.Errorf("statement in failed transaction: got %v, want 25P02", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if s := conn.PgConn().TxStatus(); s != 'I' {
		t.Errorf("tx status after rollback: got %q, want I", s)
	}
	// A NoticeResponse passes through.
	var notices []string
	cfg, _ := pgx.ParseConfig(p.DSN("disable"))
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices = append(notices, n.Message) }
	c2, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close(ctx)
	if _, err := c2.Exec(ctx, "DO $$BEGIN RAISE NOTICE 'hello %', 42; END$$"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"hello 42"}, notices); diff != "" {
		t.Errorf("notices (-want +got):\n%s", diff)
	}
	// ParameterStatus changes reach the client.
	mustExec(t, c2, "SET application_name = 'changed'")
	if got := c2.PgConn().ParameterStatus("application_name"); got != "changed" {
		t.Errorf("application_name after SET: got %q, want changed", got)
	}
}

func TestCopy(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	mustExec(t, conn, "CREATE TABLE t (id int, name text)")
	pc := conn.PgConn()
	var in bytes.Buffer
	for i := range 1000 {
		in.WriteString(strings.Repeat("x", i%7) + "\n")
	}
	var src bytes.Buffer
	for i := range 1000 {
		src.WriteString(strings.TrimSpace(strings.Repeat("1", 1)) + "\t")
		src.WriteString("name" + string(rune('a'+i%26)) + "\n")
	}
	tag, err := pc.CopyFrom(ctx, &src, "COPY t FROM STDIN")
	if err != nil {
		t.Fatalf("COPY FROM: %v", err)
	}
	if tag.RowsAffected() != 1000 {
		t.Errorf("COPY FROM rows: got %d, want 1000", tag.RowsAffected())
	}
	// A failing COPY FROM leaves the session usable.
	_, err = pc.CopyFrom(ctx, strings.NewReader("not-a-number\tx\n"), "COPY t FROM STDIN")
	if code, _ := asPgError(err); code != "22P02" {
		t.Errorf("bad COPY FROM: got %v, want 22P02", err)
	}
	var out bytes.Buffer
	tag, err = pc.CopyTo(ctx, &out, "COPY (SELECT * FROM t ORDER BY name LIMIT 3) TO STDOUT")
	if err != nil {
		t.Fatalf("COPY TO: %v", err)
	}
	if got, want := out.String(), "1\tnamea\n1\tnamea\n1\tnamea\n"; got != want {
		t.Errorf("COPY TO: got %q, want %q", got, want)
	}
	want := []stmtSummary{
		{Protocol: "simple", Text: "CREATE TABLE t (id int, name text)", Results: []resSummary{{Tag: "CREATE TABLE"}}},
		{Protocol: "simple", Text: "COPY t FROM STDIN", Results: []resSummary{{Tag: "COPY 1000", Rows: 1000}}},
		{Protocol: "simple", Text: "COPY t FROM STDIN", Results: []resSummary{{Code: "22P02"}}},
		{Protocol: "simple", Text: "COPY (SELECT * FROM t ORDER BY name LIMIT 3) TO STDOUT", Results: []resSummary{{Tag: "COPY 3", Rows: 3}}},
	}
	if diff := cmp.Diff(want, summarize(p.Rec.statements())); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
}

func TestCancelRequest(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	// Watch the target directly for the sleep to start, then cancel the
	// client's context: pgx sends a CancelRequest to the proxy.
	direct, err := pgx.Connect(ctx, p.target.DSN(p.DB))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	cancelErr := make(chan error, 1)
	go func() {
		for {
			var n int
			err := direct.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)' AND state = 'active'").Scan(&n)
			if err != nil {
				cancelErr <- err
				return
			}
			if n > 0 {
				cancelErr <- conn.PgConn().CancelRequest(ctx)
				return
			}
		}
	}()
	_, err = conn.Exec(ctx, "SELECT pg_sleep(600)")
	if code, _ := asPgError(err); code != "57014" {
		t.Fatalf("pg_sleep(600) after cancel: got %v, want 57014", err)
	}
	if err := <-cancelErr; err != nil {
		t.Fatalf("CancelRequest: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT 3").Scan(&n); err != nil || n != 3 {
		t.Fatalf("query after cancel: got %d, %v", n, err)
	}
	var found bool
	for _, r := range p.Rec.statements() {
		if r.Stmt.Text == "SELECT pg_sleep(600)" {
			found = true
			if len(r.Results) != 1 || r.Results[0].Error == nil || r.Results[0].Error.Code != "57014" {
				t.Errorf("pg_sleep result: got %+v, want one error 57014 (query_canceled)", r.Results)
			}
		}
	}
	if !found {
		t.Error("pg_sleep statement not recorded")
	}
}

func TestCancelWithWrongKeyIsIgnored(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	pc := conn.PgConn()
	// A cancel for another pid/secret: the query must finish normally.
	victimPID := pc.PID()
	cfg, _ := pgconn.ParseConfig(p.DSN("disable"))
	other, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if other.PID() == victimPID {
		t.Fatal("two sessions got the same pid")
	}
	if err := other.CancelRequest(ctx); err != nil {
		t.Fatalf("cancel idle session: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT 7").Scan(&n); err != nil || n != 7 {
		t.Fatalf("query after a cancel of another session: got %d, %v", n, err)
	}
}

func TestListenNotify(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	mustExec(t, conn, "LISTEN events")
	direct, err := pgx.Connect(ctx, p.target.DSN(p.DB))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	if _, err := direct.Exec(ctx, "NOTIFY events, 'hello'"); err != nil {
		t.Fatal(err)
	}
	n, err := conn.WaitForNotification(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.Channel != "events" || n.Payload != "hello" {
		t.Errorf("notification: got %s/%s, want events/hello", n.Channel, n.Payload)
	}
}

func TestPsql(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	dir := t.TempDir()
	in := filepath.Join(dir, "in.tsv")
	if err := os.WriteFile(in, []byte("1\tone\n2\ttwo\n3\tthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.tsv")
	script := "CREATE TABLE t (id int, name text); INSERT INTO t VALUES (0, 'zero'); SELECT 'x' AS y;\n" +
		`\copy t FROM '` + in + "'\n" +
		`\copy (SELECT * FROM t ORDER BY id) TO '` + out + "'\n" +
		"SELECT count(*) FROM t;\n"
	cmd := exec.Command("/usr/bin/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-h", "127.0.0.1", "-p", strings.Split(p.Addr, ":")[1], "-U", "app", "-d", p.DB, "-f", "-")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+testToken, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=60")
	cmd.Stdin = strings.NewReader(script)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, b)
	}
	if got, want := string(b), "x\n4\n"; got != want {
		t.Errorf("psql output: got %q, want %q", got, want)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "0\tzero\n1\tone\n2\ttwo\n3\tthree\n"; string(got) != want {
		t.Errorf("\\copy to file: got %q, want %q", got, want)
	}
	if err := p.nextRelayErr(t); err != nil {
		t.Errorf("Relay after psql quit: got %v, want nil", err)
	}
	var texts []string
	for _, r := range p.Rec.statements() {
		if r.Stmt.Text == "CREATE TABLE t (id int, name text); INSERT INTO t VALUES (0, 'zero'); SELECT 'x' AS y;" {
			var tags []string
			for _, res := range r.Results {
				tags = append(tags, res.Tag)
			}
			if diff := cmp.Diff([]string{"CREATE TABLE", "INSERT 0 1", "SELECT 1"}, tags); diff != "" {
				t.Errorf("multi-statement results (-want +got):\n%s", diff)
			}
		}
		texts = append(texts, r.Stmt.Text)
	}
	if !strings.Contains(strings.Join(texts, "\n"), "COPY  t FROM STDIN") && !strings.Contains(strings.Join(texts, "\n"), "COPY t FROM STDIN") {
		t.Errorf("\\copy not recorded; statements: %q", texts)
	}
}

func TestJDBC(t *testing.T) {
	const jar = "/usr/share/java/postgresql.jar"
	java, err := exec.LookPath("java")
	if _, statErr := os.Stat(jar); err != nil || statErr != nil {
		pgtest.Missing(t, "java or the PostgreSQL JDBC driver is not installed")
	}
	p := startProxy(t, proxyOptions{})
	url := "jdbc:postgresql://" + p.Addr + "/" + p.DB + "?sslmode=disable&prepareThreshold=5"
	cmd := exec.Command(java, "-cp", jar, "testdata/clients/Client.java", url, "app", testToken)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("JDBC client: %v\n%s", err, out)
	}
	if got, want := string(out), "batch 90\nerror 23505\nfetched 100\n"; got != want {
		t.Errorf("JDBC output: got %q, want %q", got, want)
	}
	var inserts, fetchResults int
	var fetchRows int64
	for _, r := range p.Rec.statements() {
		switch r.Stmt.Text {
		case "INSERT INTO items VALUES ($1, $2)":
			inserts++
		case "SELECT id, name FROM items WHERE id > $1 ORDER BY id":
			for _, res := range r.Results {
				fetchResults++
				fetchRows += res.Rows
			}
		}
	}
	// 10 single, 90 batched, 1 duplicate.
	if inserts != 101 {
		t.Errorf("recorded inserts: got %d, want 101", inserts)
	}
	// setFetchSize(30): each Execute of the portal is a Statement; they are
	// suspended after 30, 60 and 90 rows, then the last 10 complete.
	if fetchResults != 4 || fetchRows != 100 {
		t.Errorf("cursor results: got %d results with %d rows, want 4 with 100", fetchResults, fetchRows)
	}
}

func TestPsycopg2(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import psycopg2").Run(); err != nil {
		pgtest.Missing(t, "python3-psycopg2 is not installed")
	}
	p := startProxy(t, proxyOptions{})
	dsn := "host=127.0.0.1 port=" + strings.Split(p.Addr, ":")[1] + " user=app dbname=" + p.DB + " password=" + testToken + " sslmode=disable"
	out, err := exec.Command(python, "testdata/clients/client.py", dsn).CombinedOutput()
	if err != nil {
		t.Fatalf("psycopg2 client: %v\n%s", err, out)
	}
	if got, want := string(out), "error 23505\ncopy ['1', '2', '3', '4']\nnote it's two\n"; got != want {
		t.Errorf("psycopg2 output: got %q, want %q", got, want)
	}
	var texts []string
	for _, r := range p.Rec.statements() {
		texts = append(texts, r.Stmt.Text)
	}
	joined := strings.Join(texts, "\n")
	for _, want := range []string{"INSERT INTO py VALUES (2, 'it''s two')", "COPY py FROM STDIN", "SELECT note FROM py WHERE id = 2"} {
		if !strings.Contains(joined, want) {
			t.Errorf("statement %q not recorded; got:\n%s", want, joined)
		}
	}
}
