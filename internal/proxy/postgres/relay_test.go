package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connect through the proxy: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// stmtSummary is what tests compare about one recorded statement.
type stmtSummary struct {
	Protocol string
	Text     string
	Params   []string
	Results  []resSummary
}

type resSummary struct {
	Tag  string
	Rows int64
	Code string
}

func summarize(recs []recorded) []stmtSummary {
	var out []stmtSummary
	for _, r := range recs {
		s := stmtSummary{Protocol: r.Stmt.Protocol, Text: r.Stmt.Text}
		for _, p := range r.Stmt.Params {
			if p.Null {
				s.Params = append(s.Params, "NULL")
			} else {
				s.Params = append(s.Params, string(p.Data))
			}
		}
		for _, res := range r.Results {
			rs := resSummary{Tag: res.Tag, Rows: res.Rows}
			if res.Error != nil {
				rs.Code = res.Error.Code
			}
			s.Results = append(s.Results, rs)
		}
		out = append(out, s)
	}
	return out
}

func TestSimpleProtocol(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(p.DSN("disable"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	mustExec(t, conn, "CREATE TABLE t (id int PRIMARY KEY, name text)")
	mustExec(t, conn, "INSERT INTO t VALUES (1, 'one'), (2, 'two')")
	rows, err := conn.Query(ctx, "SELECT id, name FROM t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var id int
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"one", "two"}, names); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	// A multi-statement string: one Statement, one Result per statement.
	mustExec(t, conn, "UPDATE t SET name = 'uno' WHERE id = 1; ; DELETE FROM t WHERE id = 2")
	_, err = conn.Exec(ctx, "SELECT 1/0")
	if code, _ := asPgError(err); code != "22012" {
		t.Fatalf("SELECT 1/0: got %v, want SQLSTATE 22012", err)
	}
	conn.Close(ctx)
	if err := p.nextRelayErr(t); err != nil {
		t.Errorf("Relay after Close: got %v, want nil", err)
	}

	want := []stmtSummary{
		{Protocol: "simple", Text: "CREATE TABLE t (id int PRIMARY KEY, name text)", Results: []resSummary{{Tag: "CREATE TABLE"}}},
		{Protocol: "simple", Text: "INSERT INTO t VALUES (1, 'one'), (2, 'two')", Results: []resSummary{{Tag: "INSERT 0 2", Rows: 2}}},
		{Protocol: "simple", Text: "SELECT id, name FROM t ORDER BY id", Results: []resSummary{{Tag: "SELECT 2", Rows: 2}}},
		{Protocol: "simple", Text: "UPDATE t SET name = 'uno' WHERE id = 1; ; DELETE FROM t WHERE id = 2", Results: []resSummary{{Tag: "UPDATE 1", Rows: 1}, {Tag: "DELETE 1", Rows: 1}}},
		{Protocol: "simple", Text: "SELECT 1/0", Results: []resSummary{{Code: "22012"}}},
	}
	got := summarize(p.Rec.statements())
	// pgx may prefix its own queries; compare only ours.
	got = withoutInternal(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
}

func withoutInternal(s []stmtSummary) []stmtSummary {
	var out []stmtSummary
	for _, x := range s {
		if strings.Contains(x.Text, "pg_type") || strings.Contains(x.Text, "pg_catalog") {
			continue
		}
		out = append(out, x)
	}
	return out
}

func mustExec(t testing.TB, conn *pgx.Conn, sql string, args ...any) pgconn.CommandTag {
	t.Helper()
	tag, err := conn.Exec(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return tag
}

func TestExtendedProtocol(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	mustExec(t, conn, "CREATE TABLE t (id int, name text, data bytea)")
	for i, name := range []string{"a", "b"} {
		mustExec(t, conn, "INSERT INTO t VALUES ($1, $2, $3)", i, name, []byte{0, 1, 2})
	}
	mustExec(t, conn, "INSERT INTO t VALUES ($1, $2, NULL)", 9, nil)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM t WHERE name = $1 OR $1 IS NULL", "a").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("count: got %d, want 1", n)
	}
	// The unnamed statement (exec mode "exec").
	if _, err := conn.Exec(ctx, "UPDATE t SET name = $1 WHERE id = $2", pgx.QueryExecModeExec, "z", 9); err != nil {
		t.Fatal(err)
	}
	_, err := conn.Exec(ctx, "INSERT INTO missing VALUES ($1)", 1)
	if code, _ := asPgError(err); code != "42P01" {
		t.Fatalf("insert into missing table: got %v, want 42P01", err)
	}
	// The session is still usable and idle after the error.
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
		t.Fatalf("query after error: %v", err)
	}
	if conn.PgConn().TxStatus() != 'I' {
		t.Errorf("tx status: got %q, want I", conn.PgConn().TxStatus())
	}

	var ins []stmtSummary
	var seqs []uint64
	for _, r := range p.Rec.statements() {
		if strings.HasPrefix(r.Stmt.Text, "INSERT INTO t VALUES ($1, $2, $3)") {
			seqs = append(seqs, r.Stmt.Seq)
			if r.Stmt.Name == "" {
				t.Errorf("cached statement executed as unnamed")
			}
		}
		ins = append(ins, summarize([]recorded{r})...)
	}
	want := []stmtSummary{
		{Protocol: "simple", Text: "CREATE TABLE t (id int, name text, data bytea)", Results: []resSummary{{Tag: "CREATE TABLE"}}},
		{Protocol: "extended", Text: "INSERT INTO t VALUES ($1, $2, $3)", Params: []string{"\x00\x00\x00\x00", "a", "\x00\x01\x02"}, Results: []resSummary{{Tag: "INSERT 0 1", Rows: 1}}},
		{Protocol: "extended", Text: "INSERT INTO t VALUES ($1, $2, $3)", Params: []string{"\x00\x00\x00\x01", "b", "\x00\x01\x02"}, Results: []resSummary{{Tag: "INSERT 0 1", Rows: 1}}},
		{Protocol: "extended", Text: "INSERT INTO t VALUES ($1, $2, NULL)", Params: []string{"\x00\x00\x00\x09", "NULL"}, Results: []resSummary{{Tag: "INSERT 0 1", Rows: 1}}},
		{Protocol: "extended", Text: "SELECT count(*) FROM t WHERE name = $1 OR $1 IS NULL", Params: []string{"a"}, Results: []resSummary{{Tag: "SELECT 1", Rows: 1}}},
		{Protocol: "extended", Text: "UPDATE t SET name = $1 WHERE id = $2", Params: []string{"z", "9"}, Results: []resSummary{{Tag: "UPDATE 1", Rows: 1}}},
		{Protocol: "extended", Text: "SELECT 1", Results: []resSummary{{Tag: "SELECT 1", Rows: 1}}},
	}
	if diff := cmp.Diff(want, ins); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
	if len(seqs) != 2 {
		t.Errorf("executions of the prepared INSERT: got %d, want 2", len(seqs))
	}
}

func TestWrongToken(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	_, err := pgx.Connect(context.Background(), strings.Replace(p.DSN("disable"), testToken, "nope", 1))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "28P01" || pe.Message != "gatehouse: invalid or expired token" {
		t.Fatalf("connect with a wrong token: got %v, want 28P01 invalid or expired token", err)
	}
}
