package sqlite_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// BenchmarkAppendEvents appends batches of 256 new events to one session,
// the shipper's steady state.
func BenchmarkAppendEvents(b *testing.B) {
	const batch = 256
	db := MustOpen(b, filepath.Join(b.TempDir(), "bench.db"))
	storetest.MustCreateSession(b, db, storetest.NewSession("bench", 0))
	data := json.RawMessage(`{"sql":"SELECT id, email FROM customers WHERE id = $1","params":["42"],"rows":1,"ms":0.31}`)
	evs := make([]store.Event, batch)
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(batch * len(data)))
	seq := uint64(0)
	for b.Loop() {
		for i := range evs {
			seq++
			evs[i] = store.Event{
				Session: "bench", Seq: seq, Time: now, Type: "statement", Data: data,
				Prev: fmt.Sprintf("%064x", seq-1), Hash: fmt.Sprintf("%064x", seq),
			}
		}
		if err := db.AppendEvents(b.Context(), evs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	s, err := db.GetSession(b.Context(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	if s.LastSeq != seq || s.Statements != int64(seq) {
		b.Fatalf("got last seq %d, statements %d; want %d", s.LastSeq, s.Statements, seq)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(seq), "ns/event")
}

// FuzzEventPayload checks that any payload comes back byte for byte: the
// connector hashed these exact bytes.
func FuzzEventPayload(f *testing.F) {
	db := MustOpen(f, filepath.Join(f.TempDir(), "fuzz.db"))
	seq := uint64(0)
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		seq++
		ev := store.Event{Session: "fuzz", Seq: seq, Time: time.Unix(0, int64(seq)), Type: typ, Data: data, Hash: "h"}
		if err := db.AppendEvents(t.Context(), []store.Event{ev}); err != nil {
			t.Fatalf("AppendEvents: %v", err)
		}
		got, err := db.ListEvents(t.Context(), "fuzz", seq-1, 1)
		if err != nil || len(got) != 1 {
			t.Fatalf("ListEvents = %d, %v; want 1 event", len(got), err)
		}
		if string(got[0].Data) != string(data) || got[0].Type != typ || got[0].Seq != seq {
			t.Fatalf("got type %q data %q, want %q %q", got[0].Type, got[0].Data, typ, data)
		}
	})
}
