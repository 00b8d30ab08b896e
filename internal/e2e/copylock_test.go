package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestMaskingCopyLockedTable: a session that holds a lock on a table (LOCK
// TABLE, or DDL earlier in its transaction) and then copies a query of it
// under column rules must not hold the connector's catalog connection, and
// with it every other session's masking, while the describe of its query
// waits for the lock that the session releases only after its COPY.
func TestMaskingCopyLockedTable(t *testing.T) {
	t.Parallel()
	db := pg.CreateDatabase(t)
	pg.Exec(t, db, maskSeed+"CREATE TABLE other (id int, email text); INSERT INTO other VALUES (1, 'x.y@example.com');")
	cfg := upConfig(t, db)
	maskConfig(cfg)
	h := startGateway(t, cfg, true, db)
	tok := h.ciToken(t)

	type result struct {
		out  string
		took time.Duration
	}
	locker := make(chan result, 1)
	start := time.Now()
	go func() {
		// Separate queries: the transaction stays open while the COPY runs.
		out, err := h.psql(t, tok, "copy-locker", "-c", "BEGIN", "-c", "LOCK TABLE customers IN ACCESS EXCLUSIVE MODE",
			"-c", "COPY (SELECT id, ssn FROM customers) TO STDOUT", "-c", "COMMIT")
		if err != nil {
			out += err.Error()
		}
		locker <- result{out, time.Since(start)}
	}()
	// Another session on the connection, whose table the connector has
	// not named yet, asks while the describe waits for the lock (or once
	// the COPY is over, if it gave up sooner than this saw it).
	ctx := context.Background()
	direct, err := pgx.Connect(ctx, pg.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	var r *result
	for r == nil {
		var n int
		if err := direct.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gatehouse-masking' AND wait_event_type = 'Lock'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		select {
		case res := <-locker:
			r = &res
		case <-time.After(10 * time.Millisecond):
		}
		if time.Since(start) > waitLimit {
			t.Fatal("the COPY neither waited for its lock nor ended")
		}
	}
	c := connect(t, h.pgxConfig(t, connName, tok, "copy-other"))
	t0 := time.Now()
	var email string
	if err := c.QueryRow(context.Background(), "SELECT email FROM other").Scan(&email); err != nil || email != "x***@example.com" {
		t.Errorf("other session: got %q, %v", email, err)
	}
	// Not a measure of speed: before, both waited the catalog
	// connection's 30 s timeout.
	if took := time.Since(t0); took > 10*time.Second {
		t.Errorf("another session's SELECT waited %v for the locked describe", took)
	}
	if r == nil {
		res := <-locker
		r = &res
	}
	if !strings.Contains(r.out, "cannot be masked") || r.took > 20*time.Second {
		t.Errorf("the COPY of a table its own transaction locked: after %v: %s", r.took, r.out)
	}
	for _, v := range maskRaw {
		if strings.Contains(r.out, v) {
			t.Errorf("%q reached the client", v)
		}
	}
}
