package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
)

const (
	denyMsg   = "gatehouse: blocked by policy test-policy: forbidden_table is off limits"
	noticeMsg = "gatehouse: held for approval, review r_8f2c; approve with: gatehouse reviews approve r_8f2c"
)

// testPolicy is a fake Check: it denies statements whose text contains
// "forbidden_table" (and FunctionCalls of denyFunc), and holds those
// containing "held_table" until the test answers the hold.
type testPolicy struct {
	denyFunc string // a FunctionCall Statement.Text to deny, e.g. "function 1299"
	holds    chan *hold

	mu    sync.Mutex
	calls map[string]int // Check calls by statement text
}

// hold is a statement held by testPolicy. Send the outcome on release.
type hold struct {
	Text    string
	release chan *postgres.Denial
}

func newTestPolicy() *testPolicy {
	return &testPolicy{holds: make(chan *hold), calls: map[string]int{}}
}

func (tp *testPolicy) check(ctx context.Context, s *postgres.Statement, notice func(string) error) *postgres.Denial {
	tp.mu.Lock()
	tp.calls[s.Text]++
	tp.mu.Unlock()
	switch {
	case strings.Contains(s.Text, "forbidden_table") || (tp.denyFunc != "" && s.Text == tp.denyFunc):
		s.Policy, s.Rule, s.Reason = "test-policy", "rule-1", "forbidden_table is off limits"
		return &postgres.Denial{Code: "42501", Message: denyMsg}
	case strings.Contains(s.Text, "held_table"):
		s.Decision, s.Policy, s.Rule = "review", "test-policy", "rule-2"
		if err := notice(noticeMsg); err != nil {
			return &postgres.Denial{Code: "58000", Message: "notice failed: " + err.Error()}
		}
		h := &hold{Text: s.Text, release: make(chan *postgres.Denial, 1)}
		select {
		case tp.holds <- h:
		case <-ctx.Done():
			return nil
		}
		select {
		case d := <-h.release:
			return d
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

func (tp *testPolicy) callsFor(text string) int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.calls[text]
}

// startDenyProxy starts a proxy with tp as its Check and makes the tables
// allowed_table, forbidden_table and held_table (id int) directly on the
// target, so no statement through the proxy has to create them.
func startDenyProxy(t *testing.T, tp *testPolicy) (*proxy, *pgx.Conn) {
	t.Helper()
	p := startProxy(t, proxyOptions{check: tp.check})
	direct := connect(t, p.target.DSN(p.DB))
	mustExec(t, direct, "CREATE TABLE allowed_table (id int PRIMARY KEY); CREATE TABLE forbidden_table (id int); CREATE TABLE held_table (id int)")
	return p, direct
}

// wantDenied checks that err is the test policy's denial.
func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("%s: got %v, want the denial 42501", what, err)
	}
	got := []string{pe.Severity, pe.SeverityUnlocalized, pe.Code, pe.Message, pe.Detail, pe.Hint, fmt.Sprint(pe.Position)}
	want := []string{"ERROR", "ERROR", "42501", denyMsg, "", "", "0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("%s: error fields (-want +got):\n%s", what, diff)
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got, _ := asPgError(err); got != code {
		t.Fatalf("%s: got %v, want SQLSTATE %s", what, err, code)
	}
}

// serverTxState returns the target backend's state as the server sees it
// (pg_stat_activity), translated to a ReadyForQuery status.
func serverTxState(t *testing.T, direct *pgx.Conn, db string) byte {
	t.Helper()
	var state string
	err := direct.QueryRow(context.Background(),
		"SELECT state FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'", db).Scan(&state)
	if err != nil {
		t.Fatalf("server state: %v", err)
	}
	switch state {
	case "idle":
		return 'I'
	case "idle in transaction":
		return 'T'
	case "idle in transaction (aborted)":
		return 'E'
	}
	t.Fatalf("server state: got %q", state)
	return 0
}

func count(t *testing.T, conn *pgx.Conn, table string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// deniedRecord finds the n recorded statements with text and checks their
// decision fields and Results.
func deniedRecord(t *testing.T, p *proxy, text string, n int) {
	t.Helper()
	var found []recorded
	for _, r := range p.Rec.statements() {
		if r.Stmt.Text == text {
			found = append(found, r)
		}
	}
	if len(found) != n {
		t.Fatalf("recorded statements %q: got %d, want %d", text, len(found), n)
	}
	for _, r := range found {
		got := []string{r.Stmt.Decision, r.Stmt.Policy, r.Stmt.Rule, r.Stmt.Reason}
		if diff := cmp.Diff([]string{postgres.DecisionDeny, "test-policy", "rule-1", "forbidden_table is off limits"}, got); diff != "" {
			t.Errorf("decision of %q (-want +got):\n%s", text, diff)
		}
		if len(r.Results) != 1 || r.Results[0].Error == nil {
			t.Fatalf("results of %q: got %+v, want one with the denial", text, r.Results)
		}
		want := postgres.Error{Severity: "ERROR", Code: "42501", Message: denyMsg}
		if diff := cmp.Diff(want, *r.Results[0].Error); diff != "" {
			t.Errorf("result error of %q (-want +got):\n%s", text, diff)
		}
	}
}

var execModes = []struct {
	name string
	mode pgx.QueryExecMode
}{
	{name: "simple", mode: pgx.QueryExecModeSimpleProtocol},
	{name: "extended cached", mode: pgx.QueryExecModeCacheStatement},
	{name: "extended unnamed", mode: pgx.QueryExecModeExec},
}

func connectMode(t *testing.T, dsn string, mode pgx.QueryExecMode, tweak func(*pgx.ConnConfig)) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = mode
	if tweak != nil {
		tweak(cfg)
	}
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connect through the proxy: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestDenyStatement(t *testing.T) {
	for _, m := range execModes {
		t.Run(m.name, func(t *testing.T) {
			tp := newTestPolicy()
			p, _ := startDenyProxy(t, tp)
			ctx := context.Background()
			conn := connectMode(t, p.DSN("disable"), m.mode, nil)
			mustExec(t, conn, "INSERT INTO allowed_table VALUES (1)")
			_, err := conn.Exec(ctx, "SELECT id FROM forbidden_table")
			wantDenied(t, "denied SELECT", err)
			if s := conn.PgConn().TxStatus(); s != 'I' {
				t.Errorf("tx status after denial: got %q, want I", s)
			}
			if n := count(t, conn, "allowed_table"); n != 1 {
				t.Errorf("rows after denial: got %d, want 1", n)
			}
			// Again: a cached statement is checked on every Execute.
			_, err = conn.Exec(ctx, "SELECT id FROM forbidden_table")
			wantDenied(t, "denied SELECT again", err)
			if n := tp.callsFor("SELECT id FROM forbidden_table"); n != 2 {
				t.Errorf("Check calls for the denied SELECT: got %d, want 2", n)
			}
			// A multi-statement string is denied as a whole.
			if m.mode == pgx.QueryExecModeSimpleProtocol {
				_, err = conn.Exec(ctx, "INSERT INTO allowed_table VALUES (2); DELETE FROM forbidden_table")
				wantDenied(t, "denied multi-statement string", err)
				if n := count(t, conn, "allowed_table"); n != 1 {
					t.Errorf("rows after denied multi-statement string: got %d, want 1", n)
				}
			}
			var recs int
			for _, r := range p.Rec.statements() {
				if r.Stmt.Text == "SELECT id FROM forbidden_table" {
					recs++
					if r.Stmt.Decision != postgres.DecisionDeny || len(r.Results) != 1 || r.Results[0].Error == nil || r.Results[0].Error.Code != "42501" {
						t.Errorf("recorded denial: got %+v with results %+v", r.Stmt, r.Results)
					}
				}
				if r.Stmt.Text == "INSERT INTO allowed_table VALUES (1)" && r.Stmt.Decision != postgres.DecisionAllow {
					t.Errorf("decision of an allowed statement: got %q, want %q", r.Stmt.Decision, postgres.DecisionAllow)
				}
			}
			if recs != 2 {
				t.Errorf("recorded denied statements: got %d, want 2", recs)
			}
			conn.Close(ctx)
			if err := p.nextRelayErr(t); err != nil {
				t.Errorf("Relay: got %v, want nil", err)
			}
		})
	}
	t.Run("record", func(t *testing.T) {
		tp := newTestPolicy()
		p, _ := startDenyProxy(t, tp)
		conn := connect(t, p.DSN("disable"))
		_, err := conn.Exec(context.Background(), "SELECT id FROM forbidden_table WHERE id = $1", 7)
		wantDenied(t, "denied SELECT", err)
		deniedRecord(t, p, "SELECT id FROM forbidden_table WHERE id = $1", 1)
	})
}

func TestDenyInTransaction(t *testing.T) {
	for _, m := range execModes {
		t.Run(m.name, func(t *testing.T) {
			tp := newTestPolicy()
			p, direct := startDenyProxy(t, tp)
			ctx := context.Background()
			conn := connectMode(t, p.DSN("disable"), m.mode, nil)
			step := func(what string, want byte) {
				t.Helper()
				if got := conn.PgConn().TxStatus(); got != want {
					t.Errorf("%s: client tx status %q, want %q", what, got, want)
				}
				if got := serverTxState(t, direct, p.DB); got != want {
					t.Errorf("%s: server tx state %q, want %q", what, got, want)
				}
			}
			mustExec(t, conn, "BEGIN")
			step("BEGIN", 'T')
			mustExec(t, conn, "INSERT INTO allowed_table VALUES (1)")
			step("INSERT", 'T')
			_, err := conn.Exec(ctx, "INSERT INTO forbidden_table VALUES (1)")
			wantDenied(t, "denied INSERT", err)
			step("denied INSERT", 'E')
			_, err = conn.Exec(ctx, "INSERT INTO allowed_table VALUES (2)")
			wantCode(t, "statement after the denial", err, "25P02")
			step("statement in the aborted transaction", 'E')
			_, err = conn.Exec(ctx, "SELECT * FROM forbidden_table")
			wantDenied(t, "denial in the aborted transaction", err)
			step("denial in the aborted transaction", 'E')
			mustExec(t, conn, "ROLLBACK")
			step("ROLLBACK", 'I')
			if n := count(t, direct, "allowed_table"); n != 0 {
				t.Errorf("rows on the server after ROLLBACK: got %d, want 0", n)
			}
			// And a transaction that commits after a denial was rolled back
			// by the server (COMMIT of an aborted transaction is ROLLBACK).
			mustExec(t, conn, "BEGIN")
			mustExec(t, conn, "INSERT INTO allowed_table VALUES (3)")
			_, err = conn.Exec(ctx, "DELETE FROM forbidden_table")
			wantDenied(t, "denied DELETE", err)
			if tag := mustExec(t, conn, "COMMIT"); tag.String() != "ROLLBACK" {
				t.Errorf("COMMIT after a denial: got tag %q, want ROLLBACK", tag)
			}
			step("COMMIT", 'I')
			if n := count(t, direct, "allowed_table"); n != 0 {
				t.Errorf("rows on the server after COMMIT of the aborted transaction: got %d, want 0", n)
			}
			mustExec(t, conn, "INSERT INTO allowed_table VALUES (4)")
			if n := count(t, direct, "allowed_table"); n != 1 {
				t.Errorf("rows on the server after an autocommit INSERT: got %d, want 1", n)
			}
		})
	}
}

func TestDenyBatch(t *testing.T) {
	tp := newTestPolicy()
	p, direct := startDenyProxy(t, tp)
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	b := &pgx.Batch{}
	b.Queue("INSERT INTO allowed_table VALUES ($1)", 1)
	b.Queue("INSERT INTO forbidden_table VALUES ($1)", 2)
	b.Queue("INSERT INTO allowed_table VALUES ($1)", 3)
	br := conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		t.Fatalf("batch statement 1: %v", err)
	}
	_, err := br.Exec()
	wantDenied(t, "batch statement 2", err)
	_, err = br.Exec()
	if err == nil {
		t.Errorf("batch statement 3: got no error, want it not run")
	}
	br.Close()
	// Like a real failure of statement 2: the implicit transaction of the
	// batch is rolled back, statement 3 never ran.
	if n := count(t, direct, "allowed_table"); n != 0 {
		t.Errorf("allowed_table rows on the server: got %d, want 0", n)
	}
	if n := count(t, direct, "forbidden_table"); n != 0 {
		t.Errorf("forbidden_table rows on the server: got %d, want 0", n)
	}
	if s := conn.PgConn().TxStatus(); s != 'I' {
		t.Errorf("tx status after the batch: got %q, want I", s)
	}
	mustExec(t, conn, "INSERT INTO allowed_table VALUES ($1)", 4)
	if n := count(t, direct, "allowed_table"); n != 1 {
		t.Errorf("allowed_table rows after the batch: got %d, want 1", n)
	}
	deniedRecord(t, p, "INSERT INTO forbidden_table VALUES ($1)", 1)
	for _, r := range p.Rec.statements() {
		if r.Stmt.Text == "INSERT INTO allowed_table VALUES ($1)" && string(r.Stmt.Params[0].Data) == "\x00\x00\x00\x03" && len(r.Results) != 0 {
			t.Errorf("statement 3, skipped by the server: got results %+v, want none", r.Results)
		}
	}
}

// pipelineResults reads a pipeline's results up to its last Sync.
func pipelineResults(t *testing.T, pl *pgconn.Pipeline, syncs int) []string {
	t.Helper()
	var got []string
	for syncs > 0 {
		res, err := pl.GetResults()
		if err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				got = append(got, "error "+pe.Code+" "+pe.Message)
				continue
			}
			t.Fatalf("GetResults: %v", err)
		}
		switch r := res.(type) {
		case *pgconn.StatementDescription:
			got = append(got, "prepared")
		case *pgconn.ResultReader:
			rr := r.Read()
			if rr.Err != nil {
				var pe *pgconn.PgError
				errors.As(rr.Err, &pe)
				got = append(got, "error "+pe.Code+" "+pe.Message)
				continue
			}
			got = append(got, "ok "+rr.CommandTag.String())
		case *pgconn.PipelineSync:
			got = append(got, "sync")
			syncs--
		case nil:
			t.Fatalf("GetResults: no more results, want %d more syncs", syncs)
		}
	}
	return got
}

func TestDenyPipeline(t *testing.T) {
	tp := newTestPolicy()
	p, direct := startDenyProxy(t, tp)
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	pc := conn.PgConn()
	pl := pc.StartPipeline(ctx)
	pl.SendQueryParams("INSERT INTO allowed_table VALUES (1)", nil, nil, nil, nil)
	pl.SendQueryParams("INSERT INTO forbidden_table VALUES (2)", nil, nil, nil, nil)
	pl.SendQueryParams("INSERT INTO allowed_table VALUES (3)", nil, nil, nil, nil)
	if err := pl.Sync(); err != nil {
		t.Fatal(err)
	}
	pl.SendQueryParams("INSERT INTO allowed_table VALUES (4)", nil, nil, nil, nil)
	if err := pl.Sync(); err != nil {
		t.Fatal(err)
	}
	got := pipelineResults(t, pl, 2)
	if err := pl.Close(); err != nil {
		t.Fatalf("close pipeline: %v", err)
	}
	want := []string{"ok INSERT 0 1", "error 42501 " + denyMsg, "sync", "ok INSERT 0 1", "sync"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pipeline results (-want +got):\n%s", diff)
	}
	var ids []int
	rows, _ := direct.Query(ctx, "SELECT id FROM allowed_table ORDER BY id")
	for rows.Next() {
		var id int
		rows.Scan(&id)
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{4}, ids); diff != "" {
		t.Errorf("rows on the server (-want +got):\n%s", diff)
	}
	if n := tp.callsFor("INSERT INTO allowed_table VALUES (3)"); n != 1 {
		t.Errorf("Check calls for statement 3: got %d, want 1 (recorded, skipped by the server)", n)
	}
}

func TestDenyPreparedStatement(t *testing.T) {
	tp := newTestPolicy()
	p, _ := startDenyProxy(t, tp)
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	const q = "SELECT count(*) FROM forbidden_table WHERE id > $1"
	if _, err := conn.Prepare(ctx, "named", q); err != nil {
		t.Fatalf("prepare (Parse is not checked): %v", err)
	}
	for i := range 3 {
		var n int
		err := conn.QueryRow(ctx, "named", i).Scan(&n)
		wantDenied(t, fmt.Sprintf("execute %d", i+1), err)
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
			t.Fatalf("query after denial %d: %v", i+1, err)
		}
	}
	if n := tp.callsFor(q); n != 3 {
		t.Errorf("Check calls for the prepared statement: got %d, want 3", n)
	}
	var recs int
	for _, r := range p.Rec.statements() {
		if r.Stmt.Text == q {
			recs++
			if r.Stmt.Name != "named" || len(r.Results) != 1 || r.Results[0].Error == nil || r.Results[0].Error.Message != denyMsg {
				t.Errorf("recorded execute: got %+v with %+v", r.Stmt, r.Results)
			}
		}
	}
	if recs != 3 {
		t.Errorf("recorded executes: got %d, want 3", recs)
	}
}

// readUntilReady reads a raw frontend until ReadyForQuery and summarizes.
func readUntilReady(t *testing.T, fe *pgproto3.Frontend) []string {
	t.Helper()
	var got []string
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			got = append(got, "error "+m.Code+" "+m.Message)
		case *pgproto3.FunctionCallResponse:
			got = append(got, "function result")
		case *pgproto3.CommandComplete:
			got = append(got, "complete "+string(m.CommandTag))
		case *pgproto3.CopyInResponse:
			got = append(got, "copy in")
		case *pgproto3.ReadyForQuery:
			return append(got, "ready "+string(m.TxStatus))
		}
	}
}

func TestDenyFunctionCall(t *testing.T) {
	// Built-in functions have fixed OIDs: pg_backend_pid 2026, now 1299.
	const allowed, denied = 2026, 1299
	tp := newTestPolicy()
	tp.denyFunc = fmt.Sprint("function ", denied)
	p, direct := startDenyProxy(t, tp)
	ctx := context.Background()
	var a, d uint32
	if err := direct.QueryRow(ctx, "SELECT 'pg_backend_pid'::regproc::oid, 'now'::regproc::oid").Scan(&a, &d); err != nil || a != allowed || d != denied {
		t.Fatalf("function OIDs: got %d, %d, %v, want %d, %d", a, d, err, allowed, denied)
	}
	cfg, _ := pgconn.ParseConfig(p.DSN("disable"))
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	fe := pc.Frontend()
	send := func(msgs ...pgproto3.FrontendMessage) []string {
		for _, m := range msgs {
			fe.Send(m)
		}
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		return readUntilReady(t, fe)
	}
	var got [][]string
	got = append(got, send(&pgproto3.FunctionCall{Function: allowed}))
	got = append(got, send(&pgproto3.FunctionCall{Function: denied}))
	got = append(got, send(&pgproto3.Query{String: "BEGIN"}))
	got = append(got, send(&pgproto3.FunctionCall{Function: denied}))
	got = append(got, send(&pgproto3.FunctionCall{Function: allowed}))
	got = append(got, send(&pgproto3.Query{String: "ROLLBACK"}))
	got = append(got, send(&pgproto3.FunctionCall{Function: allowed}))
	want := [][]string{
		{"function result", "ready I"},
		{"error 42501 " + denyMsg, "ready I"},
		{"complete BEGIN", "ready T"},
		{"error 42501 " + denyMsg, "ready E"},
		{"error 25P02 current transaction is aborted, commands ignored until end of transaction block", "ready E"},
		{"complete ROLLBACK", "ready I"},
		{"function result", "ready I"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("function calls (-want +got):\n%s", diff)
	}
	deniedRecord(t, p, tp.denyFunc, 2)
}

func TestDenyReservedStatementName(t *testing.T) {
	tp := newTestPolicy()
	p, _ := startDenyProxy(t, tp)
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	name := postgres.DeniedStatementForTest
	if len(name) < 64 {
		t.Fatalf("reserved statement name %q: %d bytes, want more than NAMEDATALEN-1", name, len(name))
	}
	_, err := conn.Prepare(ctx, name, "SELECT 1")
	wantCode(t, "Parse of the reserved name", err, "08P01")
	if err := p.nextRelayErr(t); err == nil {
		t.Error("Relay after a Parse of the reserved name: got nil, want an error")
	}
	// SQL PREPARE truncates the name, so it cannot make it either.
	conn = connect(t, p.DSN("disable"))
	mustExec(t, conn, "PREPARE "+name+" AS SELECT 1")
	_, err = conn.Exec(ctx, "SELECT * FROM forbidden_table", pgx.QueryExecModeExec)
	wantDenied(t, "denial after PREPARE of the (truncated) reserved name", err)
}

func TestDenyCopyFrom(t *testing.T) {
	tp := newTestPolicy()
	p, direct := startDenyProxy(t, tp)
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))

	// pgx's binary CopyFrom: it streams CopyData without waiting for
	// CopyInResponse, then CopyDone; the server ignores both outside COPY.
	rows := make([][]any, 5000)
	for i := range rows {
		rows[i] = []any{i}
	}
	_, err := conn.CopyFrom(ctx, pgx.Identifier{"forbidden_table"}, []string{"id"}, pgx.CopyFromRows(rows))
	wantDenied(t, "pgx CopyFrom", err)
	if n, err := conn.CopyFrom(ctx, pgx.Identifier{"allowed_table"}, []string{"id"}, pgx.CopyFromRows(rows)); err != nil || n != 5000 {
		t.Fatalf("allowed CopyFrom after the denial: got %d, %v", n, err)
	}
	// Text COPY of more data than the buffers hold.
	var src strings.Builder
	for i := range 100000 {
		fmt.Fprintf(&src, "%d\n", i)
	}
	_, err = conn.PgConn().CopyFrom(ctx, strings.NewReader(src.String()), "COPY forbidden_table FROM STDIN")
	wantDenied(t, "pgconn CopyFrom", err)
	if n := count(t, conn, "allowed_table"); n != 5000 {
		t.Errorf("rows after the denied COPY: got %d, want 5000", n)
	}

	// A client that sends CopyData and CopyFail blindly after the COPY.
	fe := conn.PgConn().Frontend()
	fe.Send(&pgproto3.Query{String: "COPY forbidden_table FROM STDIN"})
	fe.Send(&pgproto3.CopyData{Data: []byte("1\n")})
	fe.Send(&pgproto3.CopyFail{Message: "client gave up"})
	fe.Send(&pgproto3.Query{String: "SELECT 1"})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	got := append(readUntilReady(t, fe), readUntilReady(t, fe)...)
	want := []string{"error 42501 " + denyMsg, "ready I", "complete SELECT 1", "ready I"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("raw denied COPY (-want +got):\n%s", diff)
	}
	if n := count(t, direct, "forbidden_table"); n != 0 {
		t.Errorf("forbidden_table rows on the server: got %d, want 0", n)
	}
}

// TestDenialAfterRealError: a real error of an earlier message is passed
// on as it is, and a denied statement the server skips gets no Result.
func TestDenialAfterRealError(t *testing.T) {
	tp := newTestPolicy()
	p, _ := startDenyProxy(t, tp)
	ctx := context.Background()
	cfg, _ := pgconn.ParseConfig(p.DSN("disable"))
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	fe := pc.Frontend()
	// All in one write: two simple Queries, then an extended batch whose
	// first Execute fails for real before the denied one.
	fe.Send(&pgproto3.Query{String: "SELECT 1/0"})
	fe.Send(&pgproto3.Query{String: "SELECT * FROM forbidden_table"})
	fe.Send(&pgproto3.Parse{Query: "SELECT 1/0"})
	fe.Send(&pgproto3.Bind{})
	fe.Send(&pgproto3.Execute{})
	fe.Send(&pgproto3.Parse{Query: "SELECT * FROM forbidden_table"})
	fe.Send(&pgproto3.Bind{})
	fe.Send(&pgproto3.Execute{})
	fe.Send(&pgproto3.Sync{})
	fe.Send(&pgproto3.Parse{Query: "SELECT * FROM forbidden_table"})
	fe.Send(&pgproto3.Bind{})
	fe.Send(&pgproto3.Execute{})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 4 {
		got = append(got, readUntilReady(t, fe)...)
	}
	want := []string{
		"error 22012 division by zero", "ready I",
		"error 42501 " + denyMsg, "ready I",
		"error 22012 division by zero", "ready I",
		"error 42501 " + denyMsg, "ready I",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	var results []int
	for _, r := range p.Rec.statements() {
		if r.Stmt.Text == "SELECT * FROM forbidden_table" {
			results = append(results, len(r.Results))
		}
	}
	if diff := cmp.Diff([]int{1, 0, 1}, results); diff != "" {
		t.Errorf("results of the denied statements (-want +got):\n%s", diff)
	}
}
