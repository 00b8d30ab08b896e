package e2e

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// TestUpStatementRules checks that a policy's deny rules block statements
// through the gateway, with PostgreSQL's parser seeing through tricks, and
// that the session and its transaction state stay right afterwards.
func TestUpStatementRules(t *testing.T) {
	t.Parallel()
	h := startUp(t, func(cfg *config.Config) {
		cfg.Policies[0].Rules = []policy.Rule{
			{Match: policy.Match{Statement: []string{"drop", "truncate"}}, Action: "deny", Reason: "schema changes go through migrations"},
			{Match: policy.Match{Statement: []string{"update", "delete"}, MissingWhere: true}, Action: "deny"},
			{Match: policy.Match{Function: []string{"pg_read_file"}}, Action: "deny"},
		}
	})
	c := connect(t, h.pgxConfig(t, connName, h.ciToken(t), "rules"))
	ctx := ctxT(t)
	if _, err := c.Exec(ctx, "CREATE TABLE r_t (id int); INSERT INTO r_t VALUES (1), (2)", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("setup: %v", err)
	}
	blocked := []struct {
		name, sql, msg string
	}{
		{"drop", "DrOp/**/TABLE r_t", "gatehouse: blocked by policy ci: schema changes go through migrations"},
		{"delete in a cte without where", "WITH x AS (DELETE FROM r_t RETURNING *) SELECT count(*) FROM x", "gatehouse: blocked by policy ci"},
		{"function anywhere", "SELECT length(pg_catalog.pg_read_file('/etc/hostname'))", "gatehouse: blocked by policy ci"},
		{"hidden in a multi-statement string", "SELECT 1; TRUNCATE r_t", "gatehouse: blocked by policy ci: schema changes go through migrations"},
		{"unparseable under deny rules", "SELEC 1", "gatehouse: blocked by policy ci: the statement could not be parsed"},
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		for _, b := range blocked {
			if mode == pgx.QueryExecModeExec && b.name == "hidden in a multi-statement string" {
				continue // the extended protocol takes one statement
			}
			_, err := c.Exec(ctx, b.sql, mode)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42501" || pe.Message != b.msg {
				t.Errorf("%s (mode %v): got %v, want 42501 %q", b.name, mode, err, b.msg)
			}
		}
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM r_t WHERE 'drop table' <> ''").Scan(&n); err != nil || n != 2 {
		t.Fatalf("after the blocks: got %d, %v; want 2 rows still there", n, err)
	}
	if _, err := c.Exec(ctx, "DELETE FROM r_t WHERE id = 1"); err != nil {
		t.Errorf("a delete with a WHERE: %v", err)
	}
	// In a transaction block the blocked statement aborts the transaction,
	// as any failed statement does, and client and server agree.
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "DROP TABLE r_t"); err == nil {
		t.Fatal("DROP in a transaction was not blocked")
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("statement after a block in a transaction: want 25P02")
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if st := c.PgConn().TxStatus(); st != 'I' {
		t.Errorf("after rollback: tx status %q, want I", st)
	}
}
