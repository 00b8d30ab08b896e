package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/mask"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

// TestSessionReadsText: a session decides how the server reads its text.
// With standard_conforming_strings off, 'a\', ' AS q; DROP TABLE t; --' is a
// DROP to the server and one SELECT of two strings to a parser with it on;
// in SJIS a backslash after a lead byte is part of a character. Neither
// may slip a statement past a deny rule or a column past a column rule.
func TestSessionReadsText(t *testing.T) {
	t.Parallel()
	db := pg.CreateDatabase(t)
	pg.Exec(t, db, maskSeed+"CREATE TABLE victim (id int);")
	cfg := upConfig(t, db)
	// Column rules only: no detector to catch what they miss.
	cfg.Masking = map[string]mask.Profile{"cols": {Columns: []mask.ColumnRule{{Match: "customers.ssn", With: "hash"}}}}
	cfg.Policies[0].Masking = []string{"cols"}
	cfg.Policies[0].Rules = []policy.Rule{{Match: policy.Match{Statement: []string{"drop"}}, Action: "deny"}}
	h := startGateway(t, cfg, true, db)
	tok := h.ciToken(t)

	// victimDropped reports whether victim is gone, and brings it back.
	victimDropped := func() bool {
		t.Helper()
		ctx := context.Background()
		direct, err := pgx.Connect(ctx, pg.DSN(db))
		if err != nil {
			t.Fatal(err)
		}
		defer direct.Close(ctx)
		var n int
		if err := direct.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = 'victim'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if _, err := direct.Exec(ctx, "CREATE TABLE IF NOT EXISTS victim (id int)"); err != nil {
			t.Fatal(err)
		}
		return n == 0
	}
	for _, c := range []struct{ name, set, sql string }{
		{"standard_conforming_strings off", "SET standard_conforming_strings = off", `SELECT 'a\', ' AS q; DROP TABLE victim; --'`},
		// Valid UTF-8 ("Ã\"), and in SJIS a katakana and the character
		// 0x83 0x5C: no backslash.
		{"client_encoding SJIS", "SET client_encoding = 'SJIS'", "SELECT E'\xc3\x83\\' AS q; DROP TABLE victim; --'"},
	} {
		out, err := h.psql(t, tok, "reads-drop", "-c", c.set, "-c", c.sql)
		if err == nil || !strings.Contains(out, "gatehouse: blocked by policy ci") {
			t.Errorf("%s: a DROP hidden in a string: got %v: %s", c.name, err, out)
		}
		if victimDropped() {
			t.Errorf("%s: the DROP ran", c.name)
		}
	}

	out, err := h.psql(t, tok, "reads-copy", "-c", "SET standard_conforming_strings = off",
		"-c", "COPY (SELECT 'a\\', ' AS q, ssn AS note FROM customers --'\n) TO STDOUT")
	if err == nil || !strings.Contains(out, "cannot be masked") {
		t.Errorf("COPY of a query that reads differently: got %v: %s", err, out)
	}
	for _, v := range maskRaw {
		if strings.Contains(out, v) {
			t.Errorf("%q reached the client: %s", v, out)
		}
	}
	// Text both readings agree on still works.
	out, err = h.psql(t, tok, "reads-ok", "-A", "-t", "-c", `SELECT 'C:\dir' AS p, count(*) FROM customers WHERE name LIKE 'A\_%' OR true`)
	if err != nil || strings.TrimSpace(out) != `C:\dir|2` {
		t.Errorf("a backslash in a string: got %v: %q", err, out)
	}
}
