package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// TestUpPgx drives an `up` gateway with pgx through both query protocols,
// pipelines, COPY, cancellation, notifications and errors.
func TestUpPgx(t *testing.T) {
	t.Parallel()
	h := startUp(t, nil)
	tok := h.ciToken(t)

	t.Run("simple protocol", func(t *testing.T) {
		cc := h.pgxConfig(t, connName, tok, "pgx-simple")
		cc.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		c := connect(t, cc)
		ctx := ctxT(t)
		if _, err := c.Exec(ctx, "CREATE TABLE simple_t (id int PRIMARY KEY, v text)"); err != nil {
			t.Fatalf("create table: %v", err)
		}
		tag, err := c.Exec(ctx, "INSERT INTO simple_t VALUES ($1, $2), ($3, $4)", 1, "one", 2, "it's two")
		if err != nil {
			t.Fatalf("insert: %v", err)
		}
		if got, want := tag.String(), "INSERT 0 2"; got != want {
			t.Errorf("insert tag: got %q, want %q", got, want)
		}
		var v string
		if err := c.QueryRow(ctx, "SELECT v FROM simple_t WHERE id = $1", 2).Scan(&v); err != nil {
			t.Fatalf("select: %v", err)
		}
		if v != "it's two" {
			t.Errorf("select: got %q, want %q", v, "it's two")
		}
	})

	t.Run("extended protocol", func(t *testing.T) {
		c := connect(t, h.pgxConfig(t, connName, tok, "pgx-extended"))
		ctx := ctxT(t)
		if _, err := c.Exec(ctx, "CREATE TABLE ext_t (id int PRIMARY KEY, v text, b bytea, n numeric)"); err != nil {
			t.Fatalf("create table: %v", err)
		}
		// The same statement many times: pgx prepares it once and then
		// only binds and executes.
		for i := range 20 {
			if _, err := c.Exec(ctx, "INSERT INTO ext_t VALUES ($1, $2, $3, $4)", i, fmt.Sprint("v", i), []byte{byte(i), 0, 0xff}, fmt.Sprintf("%d.5", i)); err != nil {
				t.Fatalf("insert %d: %v", i, err)
			}
		}
		rows, err := c.Query(ctx, "SELECT id, v, b FROM ext_t WHERE id >= $1 ORDER BY id", 10)
		if err != nil {
			t.Fatalf("select: %v", err)
		}
		n := 0
		for rows.Next() {
			var id int
			var v string
			var b []byte
			if err := rows.Scan(&id, &v, &b); err != nil {
				t.Fatalf("scan: %v", err)
			}
			if id != 10+n || v != fmt.Sprint("v", id) || !bytes.Equal(b, []byte{byte(id), 0, 0xff}) {
				t.Errorf("row %d: got (%d, %q, %x)", n, id, v, b)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("rows: %v", err)
		}
		if n != 10 {
			t.Errorf("got %d rows, want 10", n)
		}
		// An explicitly named prepared statement.
		if _, err := c.Prepare(ctx, "by_id", "SELECT v FROM ext_t WHERE id = $1"); err != nil {
			t.Fatalf("prepare: %v", err)
		}
		for _, id := range []int{3, 7, 3} {
			var v string
			if err := c.QueryRow(ctx, "by_id", id).Scan(&v); err != nil {
				t.Fatalf("execute by_id(%d): %v", id, err)
			}
			if want := fmt.Sprint("v", id); v != want {
				t.Errorf("by_id(%d): got %q, want %q", id, v, want)
			}
		}
	})

	t.Run("batch pipeline", func(t *testing.T) {
		c := connect(t, h.pgxConfig(t, connName, tok, "pgx-batch"))
		ctx := ctxT(t)
		// pgx prepares every statement of a batch first, so the table must
		// exist before the batch is sent.
		if _, err := c.Exec(ctx, "CREATE TABLE batch_t (id int, v text)"); err != nil {
			t.Fatalf("create table: %v", err)
		}
		b := &pgx.Batch{}
		for i := range 50 {
			b.Queue("INSERT INTO batch_t VALUES ($1, $2)", i, strings.Repeat("x", i))
		}
		b.Queue("SELECT count(*), sum(length(v)) FROM batch_t")
		br := c.SendBatch(ctx, b)
		for i := range 50 {
			if _, err := br.Exec(); err != nil {
				t.Fatalf("batch statement %d: %v", i, err)
			}
		}
		var count, sum int64
		if err := br.QueryRow().Scan(&count, &sum); err != nil {
			t.Fatalf("batch select: %v", err)
		}
		if err := br.Close(); err != nil {
			t.Fatalf("close batch: %v", err)
		}
		if count != 50 || sum != 49*50/2 {
			t.Errorf("got count %d sum %d, want 50 and %d", count, sum, 49*50/2)
		}
		// A batch whose middle statement fails: the rest of the pipeline is
		// skipped up to its Sync and the connection stays usable.
		b = &pgx.Batch{}
		b.Queue("SELECT 1")
		b.Queue("SELECT 1/0")
		b.Queue("SELECT 2")
		err := c.SendBatch(ctx, b).Close()
		if got := pgCode(err); got != "22012" {
			t.Errorf("failing batch: got %v (SQLSTATE %q), want 22012", err, got)
		}
		var one int
		if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Errorf("after failed batch: got %d, %v; want 1", one, err)
		}
	})

	t.Run("copy", func(t *testing.T) {
		c := connect(t, h.pgxConfig(t, connName, tok, "pgx-copy"))
		ctx := ctxT(t)
		if _, err := c.Exec(ctx, "CREATE TABLE copy_t (id int, v text)"); err != nil {
			t.Fatalf("create table: %v", err)
		}
		var in bytes.Buffer
		const n = 5000
		for i := range n {
			fmt.Fprintf(&in, "%d\tline %d\n", i, i)
		}
		want := in.String()
		tag, err := c.PgConn().CopyFrom(ctx, &in, "COPY copy_t FROM STDIN")
		if err != nil {
			t.Fatalf("copy from: %v", err)
		}
		if tag.RowsAffected() != n {
			t.Errorf("copy from: %d rows, want %d", tag.RowsAffected(), n)
		}
		var out bytes.Buffer
		tag, err = c.PgConn().CopyTo(ctx, &out, "COPY (SELECT * FROM copy_t ORDER BY id) TO STDOUT")
		if err != nil {
			t.Fatalf("copy to: %v", err)
		}
		if tag.RowsAffected() != n {
			t.Errorf("copy to: %d rows, want %d", tag.RowsAffected(), n)
		}
		if out.String() != want {
			t.Errorf("copy to: got %d bytes that differ from the %d copied in", out.Len(), len(want))
		}
		// pgx's own CopyFrom (binary COPY).
		cnt, err := c.CopyFrom(ctx, pgx.Identifier{"copy_t"}, []string{"id", "v"}, pgx.CopyFromRows([][]any{{n, "binary"}, {n + 1, nil}}))
		if err != nil || cnt != 2 {
			t.Fatalf("binary copy from: %d rows, %v", cnt, err)
		}
		// A COPY that fails in the middle leaves the session usable.
		_, err = c.PgConn().CopyFrom(ctx, strings.NewReader("1\tok\nnot-a-number\tbad\n"), "COPY copy_t FROM STDIN")
		if got := pgCode(err); got != "22P02" {
			t.Errorf("bad copy: got %v (SQLSTATE %q), want 22P02", err, got)
		}
		var count int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM copy_t").Scan(&count); err != nil || count != n+2 {
			t.Errorf("after bad copy: count %d, %v; want %d", count, err, n+2)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		cc := h.pgxConfig(t, connName, tok, "pgx-cancel")
		// Cancel through a CancelRequest, and never through the deadline
		// fallback within the test's life: if the cancel does not reach the
		// target, the sleep completes without error and the test fails.
		cc.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: 5 * time.Minute}
		}
		c := connect(t, cc)
		var pid uint32
		if err := c.QueryRow(ctxT(t), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatalf("backend pid: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := c.Exec(ctx, "SELECT pg_sleep(10)")
			done <- err
		}()
		waitActive(t, pid, "SELECT pg_sleep(10)")
		cancel()
		err := <-done
		if got := pgCode(err); got != "57014" {
			t.Fatalf("canceled sleep: got %v (SQLSTATE %q), want 57014", err, got)
		}
		var one int
		if err := c.QueryRow(ctxT(t), "SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Fatalf("after cancel: got %d, %v; want 1", one, err)
		}
	})

	t.Run("listen notify", func(t *testing.T) {
		listener := connect(t, h.pgxConfig(t, connName, tok, "pgx-listen"))
		notifier := connect(t, h.pgxConfig(t, connName, tok, "pgx-notify"))
		ctx := ctxT(t)
		if _, err := listener.Exec(ctx, "LISTEN gatehouse_e2e"); err != nil {
			t.Fatalf("listen: %v", err)
		}
		if _, err := notifier.Exec(ctx, "SELECT pg_notify('gatehouse_e2e', 'hello ' || $1::text)", "world"); err != nil {
			t.Fatalf("notify: %v", err)
		}
		if _, err := notifier.Exec(ctx, "NOTIFY gatehouse_e2e, 'second'"); err != nil {
			t.Fatalf("notify: %v", err)
		}
		for _, want := range []string{"hello world", "second"} {
			n, err := listener.WaitForNotification(ctx)
			if err != nil {
				t.Fatalf("wait for notification: %v", err)
			}
			if n.Channel != "gatehouse_e2e" || n.Payload != want {
				t.Errorf("notification: got %s %q, want gatehouse_e2e %q", n.Channel, n.Payload, want)
			}
		}
	})

	t.Run("error keeps session and transaction state", func(t *testing.T) {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			t.Run(mode.String(), func(t *testing.T) {
				cc := h.pgxConfig(t, connName, tok, "pgx-errors-"+mode.String())
				cc.DefaultQueryExecMode = mode
				c := connect(t, cc)
				ctx := ctxT(t)
				pc := c.PgConn()
				if _, err := c.Exec(ctx, "SELECT no_such_column"); pgCode(err) != "42703" {
					t.Fatalf("bad statement: got %v, want 42703", err)
				}
				if got := pc.TxStatus(); got != 'I' {
					t.Errorf("after error outside a transaction: status %q, want 'I'", got)
				}
				steps := []struct {
					sql      string
					wantCode string
					wantTx   byte
				}{
					{"BEGIN", "", 'T'},
					{"SELECT 1", "", 'T'},
					{"SELECT * FROM no_such_table", "42P01", 'E'},
					{"SELECT 1", "25P02", 'E'},
					{"SELECT 2", "25P02", 'E'},
					{"ROLLBACK", "", 'I'},
					{"SELECT 1", "", 'I'},
				}
				for _, s := range steps {
					_, err := c.Exec(ctx, s.sql)
					if got := pgCode(err); got != s.wantCode {
						t.Errorf("%s: got %v (SQLSTATE %q), want %q", s.sql, err, got, s.wantCode)
					}
					if got := pc.TxStatus(); got != s.wantTx {
						t.Errorf("after %s: transaction status %q, want %q", s.sql, got, s.wantTx)
					}
				}
			})
		}
	})
}

// waitActive waits until the target backend pid runs query.
func waitActive(t testing.TB, pid uint32, query string) {
	t.Helper()
	ctx := ctxT(t)
	direct, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatalf("connect to the target directly: %v", err)
	}
	defer direct.Close(context.Background())
	eventually(t, "the statement to run on the target", func() (bool, error) {
		var state, q string
		err := direct.QueryRow(ctx, "SELECT coalesce(state, ''), coalesce(query, '') FROM pg_stat_activity WHERE pid = $1", pid).Scan(&state, &q)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, fmt.Errorf("backend %d is gone", pid)
		}
		if err != nil {
			return false, err
		}
		return state == "active" && q == query, fmt.Errorf("backend %d: state %q query %q", pid, state, q)
	})
}
