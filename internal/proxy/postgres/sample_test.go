package postgres_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/mask"
	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/jackc/pgx/v5"
)

// sampled returns the kept rows of res as strings, NULL for a null and the
// raw bytes of a binary value.
func sampled(res *postgres.Result) [][]string {
	if res.Sample == nil {
		return nil
	}
	var out [][]string
	for i := range res.Sample.Len() {
		var row []string
		for _, v := range res.Sample.Row(i) {
			s := string(v.Data)
			if v.Null {
				s = "NULL"
			}
			row = append(row, s)
		}
		out = append(out, row)
	}
	return out
}

// lastResult returns the result of the last statement whose text holds
// marker.
func lastResult(t *testing.T, p *proxy, marker string) *postgres.Result {
	t.Helper()
	var got *postgres.Result
	for _, r := range p.Rec.statements() {
		if strings.Contains(r.Stmt.Text, marker) && len(r.Results) > 0 {
			got = r.Results[len(r.Results)-1]
		}
	}
	if got == nil {
		t.Fatalf("no result recorded for a statement with %q", marker)
	}
	return got
}

func TestRowsRecorded(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{rows: postgres.RowLimits{Rows: 3, Bytes: 4096}})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.DSN("disable"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	const q = `SELECT g AS n, 'v' || g AS s, NULL::text AS z, g * 1.5 AS num,
		'2026-11-26 10:00:00+00'::timestamptz + g * interval '1 day' AS at,
		g % 2 = 0 AS even, '\x0102'::bytea AS raw, /* %s */ 1 AS one
		FROM generate_series(1, 5) g`
	want := [][]string{
		{"1", "v1", "NULL", "1.5", "2026-11-27 10:00:00Z", "f", `\x0102`, "1"},
		{"2", "v2", "NULL", "3.0", "2026-11-28 10:00:00Z", "t", `\x0102`, "1"},
		{"3", "v3", "NULL", "4.5", "2026-11-29 10:00:00Z", "f", `\x0102`, "1"},
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
		// Twice: the second run of a cached statement comes without a
		// Describe from the client.
		for run := range 2 {
			marker := mode.String() + string(rune('a'+run))
			if _, err := conn.Exec(ctx, "SET TIME ZONE 'UTC'"); err != nil {
				t.Fatal(err)
			}
			rows, err := conn.Query(ctx, strings.Replace(q, "%s", marker, 1), mode)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			if err := rows.Err(); err != nil || n != 5 {
				t.Fatalf("%s: %d rows, %v", mode, n, err)
			}
			res := lastResult(t, p, marker)
			if res.Rows != 5 || !res.Sample.Truncated {
				t.Errorf("%s: rows %d, truncated %v; want 5 rows, truncated", mode, res.Rows, res.Sample.Truncated)
			}
			if got := strings.Join(res.Sample.Columns, ","); got != "n,s,z,num,at,even,raw,one" {
				t.Errorf("%s: columns %s", mode, got)
			}
			got := sampled(res)
			for i := range want {
				for j := range want[i] {
					// The text format writes timestamps as +00, the binary
					// one converted by pgx as Z: both name the instant.
					g := strings.Replace(got[i][j], "+00", "Z", 1)
					if i >= len(got) || j >= len(got[i]) || g != want[i][j] {
						t.Fatalf("%s run %d: sample\n%q\nwant\n%q", mode, run, got, want)
					}
				}
			}
		}
	}
}

func TestRowsRecordedLimits(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{rows: postgres.RowLimits{Rows: 10, Bytes: 4096}})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.DSN("disable"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	run := func(sql string) {
		t.Helper()
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
		}
		rows.Close()
	}

	// Bytes: values are cut at MaxValueLen, and rows stop at the budget.
	run("SELECT repeat('x', 3000) AS big /* bytes */ FROM generate_series(1, 10)")
	res := lastResult(t, p, "bytes")
	total := 0
	for _, v := range res.Sample.Values {
		total += len(v.Data)
		if !v.Truncated || v.Size != 3000 || len(v.Data) > postgres.MaxValueLen {
			t.Errorf("value: truncated %v, size %d, kept %d", v.Truncated, v.Size, len(v.Data))
		}
	}
	if total > 4096 || res.Sample.Len() != 4 || !res.Sample.Truncated {
		t.Errorf("kept %d bytes in %d rows (truncated %v); want at most 4096 in 4, truncated", total, res.Sample.Len(), res.Sample.Truncated)
	}

	// A row too large for the read buffer streams through unkept.
	run("SELECT 'small' AS v /* large */ UNION ALL SELECT repeat('y', 100000)")
	res = lastResult(t, p, "large")
	if got := sampled(res); len(got) != 1 || got[0][0] != "small" || !res.Sample.Truncated || res.Rows != 2 {
		t.Errorf("with a large row: %q, truncated %v, rows %d", got, res.Sample.Truncated, res.Rows)
	}

	// No rows, no sample.
	run("SELECT 1 /* none */ WHERE false")
	if res := lastResult(t, p, "none"); res.Sample != nil {
		t.Errorf("empty result kept %+v", res.Sample)
	}

	// Rows before an error are kept with it.
	rows, _ := conn.Query(ctx, "SELECT 10 / (3 - g) AS q /* fails */ FROM generate_series(1, 5) g", pgx.QueryExecModeSimpleProtocol)
	for rows.Next() {
	}
	rows.Close()
	res = lastResult(t, p, "fails")
	if got := sampled(res); res.Error == nil || len(got) != 2 || got[0][0] != "5" || got[1][0] != "10" {
		t.Errorf("failed statement: error %v, sample %q", res.Error, got)
	}

	// Each statement of a simple query keeps its own rows.
	mr := conn.PgConn().Exec(ctx, "SELECT 1 AS a /* multi */; SELECT 'b' AS b, 2 AS c")
	if _, err := mr.ReadAll(); err != nil {
		t.Fatal(err)
	}
	var multi []*postgres.Result
	for _, r := range p.Rec.statements() {
		if strings.Contains(r.Stmt.Text, "multi") {
			multi = r.Results
		}
	}
	if len(multi) != 2 || strings.Join(multi[0].Sample.Columns, ",") != "a" || strings.Join(multi[1].Sample.Columns, ",") != "b,c" ||
		sampled(multi[1])[0][0] != "b" {
		t.Errorf("multi-statement query: %+v", multi)
	}

	// COPY TO keeps its lines, in text.
	if _, err := conn.PgConn().CopyTo(ctx, io.Discard, "COPY (SELECT g, 'line' || g FROM generate_series(1, 3) g) TO STDOUT /* copy */"); err != nil {
		t.Fatal(err)
	}
	res = lastResult(t, p, "copy")
	if got := sampled(res); len(got) != 3 || got[2][0] != "3\tline3" || res.Sample.Columns[0] != "copy" {
		t.Errorf("COPY TO kept %q", got)
	}

	// A client that describes the portal itself (libpq's way) is not
	// described twice, and its rows are kept.
	rr := conn.PgConn().ExecParams(ctx, "SELECT $1::int + 1 AS next /* params */", [][]byte{[]byte("41")}, nil, nil, nil).Read()
	if rr.Err != nil || len(rr.Rows) != 1 {
		t.Fatalf("ExecParams: %v %v", rr.Err, rr.Rows)
	}
	if got := sampled(lastResult(t, p, "params")); len(got) != 1 || got[0][0] != "42" {
		t.Errorf("ExecParams kept %q", got)
	}
}

// Kept rows are the rows the client received: masked.
func TestRowsRecordedMasked(t *testing.T) {
	t.Parallel()
	detectOnly := mask.Profile{Detect: pii.Detect}
	for _, prof := range []mask.Profile{pii, detectOnly} {
		p := startProxy(t, proxyOptions{mask: maskingFor(t, prof)})
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, p.DSN("disable"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, maskSchema); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			rows, err := conn.Query(ctx, "SELECT id, email, ssn, card, card_int, note, raw, plain_id /* masked */ FROM customers", mode)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
		}
		if len(prof.Columns) == 0 {
			// Column rules refuse a COPY without the connector's COPY
			// parser; detectors mask it line by line.
			if _, err := conn.PgConn().CopyTo(ctx, io.Discard, "COPY customers TO STDOUT /* masked copy */"); err != nil {
				t.Fatal(err)
			}
			if got := sampled(lastResult(t, p, "masked copy")); len(got) != 1 || !strings.HasPrefix(got[0][0], "1\t") {
				t.Errorf("COPY kept %q", got)
			}
		}
		n := 0
		for _, r := range p.Rec.statements() {
			for _, res := range r.Results {
				if res.Sample == nil {
					continue
				}
				n++
				for _, v := range res.Sample.Values {
					for _, s := range maskSecrets {
						if strings.Contains(string(v.Data), s) {
							t.Errorf("statement %q kept %q", r.Stmt.Text, v.Data)
						}
					}
				}
			}
		}
		if n < 2 {
			t.Errorf("%d results kept rows, want at least 2", n)
		}
		if got := sampled(lastResult(t, p, "/* masked */")); len(got) != 1 || got[0][0] != "1" || got[0][7] != "1234567890123456" {
			t.Errorf("unmasked columns kept as %q", got)
		}
	}
}
