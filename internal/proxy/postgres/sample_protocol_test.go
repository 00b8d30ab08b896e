package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// rawFrontend connects to p without pgx's statement handling.
func rawFrontend(t *testing.T, p *proxy) (*pgconn.PgConn, *pgproto3.Frontend) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgconn.ParseConfig(p.DSN("disable"))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(ctx) })
	return pc, pc.Frontend()
}

// Kept rows go with the columns of their own portal when the client
// interleaves portals with row limits, as a driver with several open
// result sets does, and whether or not it described each portal.
func TestRowsRecordedInterleavedPortals(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{rows: postgres.RowLimits{Rows: 10, Bytes: 4096}})
	pc, fe := rawFrontend(t, p)
	fe.Send(&pgproto3.Parse{Name: "s1", Query: "SELECT g AS a, 'one' AS b /* s1 */ FROM generate_series(1, 3) g"})
	fe.Send(&pgproto3.Parse{Name: "s2", Query: "SELECT 2 AS x, 'two' AS y /* s2 */ FROM generate_series(1, 3)"})
	fe.Send(&pgproto3.Bind{DestinationPortal: "p1", PreparedStatement: "s1"})
	fe.Send(&pgproto3.Bind{DestinationPortal: "p2", PreparedStatement: "s2"})
	fe.Send(&pgproto3.Describe{ObjectType: 'P', Name: "p1"})
	fe.Send(&pgproto3.Execute{Portal: "p1", MaxRows: 1})
	fe.Send(&pgproto3.Execute{Portal: "p2", MaxRows: 1})
	fe.Send(&pgproto3.Execute{Portal: "p1", MaxRows: 1})
	fe.Send(&pgproto3.Describe{ObjectType: 'P', Name: "p2"})
	fe.Send(&pgproto3.Execute{Portal: "p2", MaxRows: 1})
	fe.Send(&pgproto3.Execute{Portal: "p1", MaxRows: 1})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var described int
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := msg.(*pgproto3.RowDescription); ok {
			described++
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			break
		}
	}
	if described != 2 {
		t.Errorf("the client got %d RowDescriptions, want the 2 it asked for", described)
	}
	// Executing a portal that does not exist records the server's error.
	fe.Send(&pgproto3.Execute{Portal: "gone"})
	fe.Send(&pgproto3.Sync{})
	fe.Flush()
	if got := readUntilReady(t, fe); len(got) != 2 || !strings.Contains(got[0], `portal "gone" does not exist`) {
		t.Errorf("Execute of a missing portal: client got %q", got)
	}
	pc.Exec(context.Background(), "SELECT 1").ReadAll()

	var got []string
	for _, r := range p.Rec.statements() {
		for _, res := range r.Results {
			var cols, vals []string
			if res.Sample != nil {
				cols = res.Sample.Columns
				vals = sampled(res)[0]
			}
			s := strings.Join(cols, ",") + "=" + strings.Join(vals, ",")
			if res.Error != nil {
				s = "error " + res.Error.Code
			}
			got = append(got, s)
		}
	}
	want := []string{"a,b=1,one", "x,y=2,two", "a,b=2,one", "x,y=2,two", "a,b=3,one", "error 34000", "?column?=1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("results:\n got %q\nwant %q", got, want)
	}
}

// A column name comes from the statement's text, which the recording keeps
// masked: so are the names of the kept rows' columns.
func TestRowsRecordedColumnNamesMasked(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{mask: maskingFor(t, pii)})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.DSN("disable"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		var n int
		if err := conn.QueryRow(ctx, `SELECT 1 AS "`+rawCard+`", 2 AS "`+rawEmail+`" /* alias */`, mode).Scan(&n, &n); err != nil {
			t.Fatal(err)
		}
	}
	kept := 0
	for _, r := range p.Rec.statements() {
		if strings.Contains(r.Stmt.Text, rawCard) {
			t.Errorf("statement text recorded unmasked: %q", r.Stmt.Text)
		}
		for _, res := range r.Results {
			if res.Sample == nil {
				continue
			}
			kept++
			for _, c := range res.Sample.Columns {
				for _, s := range maskSecrets {
					if strings.Contains(c, s) {
						t.Errorf("column name kept as %q", c)
					}
				}
			}
		}
	}
	if kept != 2 {
		t.Errorf("%d results kept rows, want 2", kept)
	}
}
