package e2e

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestLargeData moves a 64 MiB bytea through the gateway both ways and
// streams a million-row result, checking that the gateway (in this
// process) does not buffer it. It does not run in parallel: it measures
// the process's heap.
func TestLargeData(t *testing.T) {
	h := startUp(t, nil)
	tok := h.ciToken(t)

	t.Run("64 MiB bytea", func(t *testing.T) {
		const size = 64 << 20
		blob := make([]byte, size)
		rng := rand.NewChaCha8([32]byte{1, 2, 3})
		rng.Read(blob)
		sum := md5.Sum(blob)
		wantMD5 := hex.EncodeToString(sum[:])

		c := connect(t, h.pgxConfig(t, connName, tok, "large-bytea"))
		ctx := ctxT(t)
		if _, err := c.Exec(ctx, "CREATE TABLE big (id int, b bytea)"); err != nil {
			t.Fatalf("create: %v", err)
		}
		if _, err := c.Exec(ctx, "INSERT INTO big VALUES ($1, $2)", 1, blob); err != nil {
			t.Fatalf("insert 64 MiB: %v", err)
		}
		var serverMD5 string
		var serverLen int
		if err := c.QueryRow(ctx, "SELECT md5(b), length(b) FROM big WHERE id = 1").Scan(&serverMD5, &serverLen); err != nil {
			t.Fatalf("md5: %v", err)
		}
		if serverMD5 != wantMD5 || serverLen != size {
			t.Fatalf("stored value: md5 %s length %d, want %s and %d", serverMD5, serverLen, wantMD5, size)
		}
		// Binary: the extended protocol returns bytea in binary format.
		var got []byte
		if err := c.QueryRow(ctx, "SELECT b FROM big WHERE id = 1").Scan(&got); err != nil {
			t.Fatalf("read back (binary): %v", err)
		}
		if !bytes.Equal(got, blob) {
			t.Errorf("read back (binary): %d bytes that differ from the %d written", len(got), size)
		}
		got = nil
		// Text: the simple protocol returns it as hex text, twice the size
		// on the wire. Compare the raw text with what the target says it
		// sent, without decoding 128 MiB of hex on the client.
		var wantTextMD5 string
		if err := c.QueryRow(ctx, `SELECT md5('\x' || encode(b, 'hex')) FROM big WHERE id = 1`).Scan(&wantTextMD5); err != nil {
			t.Fatalf("md5 of the text form: %v", err)
		}
		res, err := c.PgConn().Exec(ctx, "SELECT b FROM big WHERE id = 1").ReadAll()
		if err != nil {
			t.Fatalf("read back (text): %v", err)
		}
		if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 1 {
			t.Fatalf("read back (text): got %d results", len(res))
		}
		text := res[0].Rows[0][0]
		textSum := md5.Sum(text)
		if len(text) != 2+2*size || hex.EncodeToString(textSum[:]) != wantTextMD5 {
			t.Errorf("read back (text): %d bytes with md5 %x, want %d bytes with md5 %s", len(text), textSum, 2+2*size, wantTextMD5)
		}
		if !bytes.HasPrefix(text, []byte(`\x`+hex.EncodeToString(blob[:64]))) {
			t.Errorf("read back (text): starts with %q", text[:min(len(text), 140)])
		}
		res = nil
		c.Close(ctx)

		// The recording keeps the start of the value, its size, and says
		// it was cut.
		rec := waitRecording(t, h.g.Store(), "large-bytea")
		ins, _ := findStatement(statements(t, rec.Events), 0, "INSERT INTO big VALUES ($1, $2)")
		if ins == nil || len(ins.Params) != 2 {
			t.Fatalf("insert not recorded with its parameters")
		}
		if p := ins.Params[1]; p.Size != size || !p.Truncated || len(p.Base64)+len(p.Text) > 4096 {
			t.Errorf("recorded parameter: size %d truncated %v with %d bytes of data; want size %d, truncated, at most a few KiB",
				p.Size, p.Truncated, len(p.Base64)+len(p.Text), size)
		}
		for _, e := range rec.Events {
			if len(e.Data) > 1<<20 {
				t.Errorf("event %d (%s) holds %d bytes", e.Seq, e.Type, len(e.Data))
			}
		}
	})

	t.Run("million rows streamed", func(t *testing.T) {
		c := connect(t, h.pgxConfig(t, connName, tok, "large-rows"))
		ctx := ctxT(t)
		heapInuse := func() uint64 {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapInuse
		}
		runtime.GC()
		runtime.GC() // a second cycle empties the pools' victim caches
		before := heapInuse()
		peak := before

		rows, err := c.Query(ctx, "SELECT g, md5(g::text) FROM generate_series(1, 1000000) g")
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		var n, sum int64
		var g int64
		var m string
		for rows.Next() {
			if err := rows.Scan(&g, &m); err != nil {
				t.Fatalf("scan row %d: %v", n, err)
			}
			n++
			sum += g
			if g == 1 && m != "c4ca4238a0b923820dcc509a6f75849b" {
				t.Errorf("row 1: md5 %q", m)
			}
			if n%100000 == 0 {
				peak = max(peak, heapInuse())
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("rows: %v", err)
		}
		if n != 1000000 || sum != 1000000*1000001/2 {
			t.Fatalf("got %d rows summing to %d, want 1000000 summing to %d", n, sum, 1000000*1000001/2)
		}
		runtime.GC()
		after := heapInuse()
		const bound = 64 << 20
		t.Logf("heap in use: before %s, peak while streaming %s, after %s", mib(before), mib(peak), mib(after))
		if peak > before+bound {
			t.Errorf("heap grew by %s while streaming a million rows (peak %s), want under %s: the result is being buffered",
				mib(peak-before), mib(peak), mib(bound))
		}
		if after > before+bound {
			t.Errorf("heap grew by %s after streaming, want under %s", mib(after-before), mib(bound))
		}
		c.Close(ctx)
		rec := waitRecording(t, h.g.Store(), "large-rows")
		stmts := statements(t, rec.Events)
		s, _ := findStatement(stmts, 0, "SELECT g, md5(g::text) FROM generate_series(1, 1000000) g")
		if s == nil || len(s.Results) != 1 || s.Results[0].Tag != "SELECT 1000000" || s.Results[0].Rows != 1000000 {
			t.Errorf("recorded:\n%s", dumpStatements(stmts))
		}
	})
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
