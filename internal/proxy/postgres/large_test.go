package postgres_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"runtime"
	"testing"
)

func TestLargeBytea(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	// EXTERNAL: stored uncompressed, so the test measures the relay, not pglz.
	mustExec(t, conn, "CREATE TABLE blobs (id int, data bytea); ALTER TABLE blobs ALTER data SET STORAGE EXTERNAL")

	const size = 64 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	want := sha256.Sum256(data)
	mustExec(t, conn, "INSERT INTO blobs VALUES ($1, $2)", 1, data)

	var back []byte
	if err := conn.QueryRow(ctx, "SELECT data FROM blobs WHERE id = $1", 1).Scan(&back); err != nil {
		t.Fatalf("select 64 MiB bytea: %v", err)
	}
	if got := sha256.Sum256(back); got != want || len(back) != size {
		t.Fatalf("bytea round trip: got %d bytes (sha %x), want %d (sha %x)", len(back), got[:4], size, want[:4])
	}

	var found bool
	for _, r := range p.Rec.statements() {
		if r.Stmt.Text != "INSERT INTO blobs VALUES ($1, $2)" {
			continue
		}
		found = true
		if len(r.Stmt.Params) != 2 {
			t.Fatalf("params: got %d, want 2", len(r.Stmt.Params))
		}
		v := r.Stmt.Params[1]
		if v.Size != size || !v.Truncated || len(v.Data) != 1024 || !bytes.Equal(v.Data, data[:1024]) || v.Format != 1 {
			t.Errorf("bytea param: got size %d truncated %v len %d format %d, want %d true 1024 1 and the first KiB", v.Size, v.Truncated, len(v.Data), v.Format, size)
		}
		if len(r.Results) != 1 || r.Results[0].Tag != "INSERT 0 1" {
			t.Errorf("insert result: got %+v", r.Results)
		}
	}
	if !found {
		t.Error("insert not recorded")
	}
}

// TestMillionRowsConstantMemory streams a result of about 120 MB through
// the relay and checks the heap stays far below that while it does.
func TestMillionRowsConstantMemory(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	pc := conn.PgConn()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak uint64

	rr := pc.ExecParams(ctx, "SELECT i, repeat('x', 100) FROM generate_series(1, 1000000) i", nil, nil, nil, nil)
	var rows int64
	for rr.NextRow() {
		rows++
		if rows%100000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	tag, err := rr.Close()
	if err != nil {
		t.Fatal(err)
	}
	if rows != 1000000 || tag.RowsAffected() != 1000000 {
		t.Fatalf("rows: got %d (tag %q), want 1000000", rows, tag)
	}
	// A relay that buffered the result would hold over 100 MiB.
	const bound = 32 << 20
	if peak > base+bound {
		t.Errorf("heap in use while streaming: peak %d MiB over a base of %d MiB, want under +%d MiB", (peak-base)>>20, base>>20, bound>>20)
	}
	for _, r := range p.Rec.statements() {
		if len(r.Results) != 1 || r.Results[0].Rows != 1000000 {
			t.Errorf("recorded result: got %+v, want 1000000 rows", r.Results)
		}
	}
}

// BenchmarkSelectOne compares a round trip of the simple protocol directly
// to the server and through the Front and relay (what pgbench -S measures).
func BenchmarkSelectOne(b *testing.B) {
	p := startProxy(b, proxyOptions{})
	for _, bc := range []struct{ name, dsn string }{
		{name: "direct", dsn: srv.DSN(p.DB)},
		{name: "proxy", dsn: p.DSN("disable")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			conn := connect(b, bc.dsn)
			pc := conn.PgConn()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := pc.Exec(context.Background(), "SELECT 1").ReadAll(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
