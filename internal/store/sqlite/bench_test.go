package sqlite_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// BenchmarkAppendEvents appends batches of new events, the shipper's steady
// state: statement and result events in turn, each batch holding a run of
// events of every session, interleaved. ns/event is the time per event,
// cpu-ns/event the process's CPU time (user and system, all threads) per
// event and user-ns/event its user part, file-B/event the size of the database and WAL files per event.
// Events are built outside the timed loop except for their seqs, so the
// numbers are the store's.
func BenchmarkAppendEvents(b *testing.B) {
	for _, bc := range []struct {
		name     string
		sessions int
		perBatch int // events per session and batch
	}{
		{"sessions=1/events=256", 1, 256},
		{"sessions=8/events=32", 8, 32},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchmarkAppendEvents(b, bc.sessions, bc.perBatch)
		})
	}
}

func benchmarkAppendEvents(b *testing.B, sessions, perBatch int) {
	path := filepath.Join(b.TempDir(), "bench.db")
	db := MustOpen(b, path)
	ids := make([]string, sessions)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%d", i)
		storetest.MustCreateSession(b, db, storetest.NewSession(ids[i], 0))
	}
	data := json.RawMessage(`{"sql":"SELECT id, email FROM customers WHERE id = $1","params":["42"],"rows":1,"ms":0.31}`)
	hashes := make([]string, perBatch+1)
	for i := range hashes {
		hashes[i] = fmt.Sprintf("%064x", uint64(i)*0x9e3779b97f4a7c15)
	}
	evs := make([]store.Event, 0, sessions*perBatch)
	now := time.Now()
	for i := range perBatch {
		typ := "statement"
		if i%2 == 1 {
			typ = "result"
		}
		for _, id := range ids {
			evs = append(evs, store.Event{
				Session: id, Time: now.Add(time.Duration(i) * time.Microsecond), Type: typ, Data: data,
				Prev: hashes[i], Hash: hashes[i+1],
			})
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(evs) * len(data)))
	seq := uint64(0)
	user0, sys0, cpuOK := cpuTime()
	for b.Loop() {
		for i := range evs {
			evs[i].Seq = seq + uint64(i/sessions) + 1
		}
		seq += uint64(perBatch)
		if err := db.AppendEvents(b.Context(), evs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	user1, sys1, _ := cpuTime()
	for _, id := range ids {
		s, err := db.GetSession(b.Context(), id)
		if err != nil {
			b.Fatal(err)
		}
		if s.LastSeq != seq || s.Statements != int64(seq/2) || s.LastHash != hashes[perBatch] {
			b.Fatalf("%s: got last seq %d, statements %d; want %d, %d", id, s.LastSeq, s.Statements, seq, seq/2)
		}
	}
	events := float64(seq * uint64(sessions))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
	if cpuOK {
		user, sys := float64((user1 - user0).Nanoseconds()), float64((sys1 - sys0).Nanoseconds())
		b.ReportMetric((user+sys)/events, "cpu-ns/event")
		b.ReportMetric(user/events, "user-ns/event")
	}
	var size int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			size += fi.Size()
		}
	}
	b.ReportMetric(float64(size)/events, "file-B/event")
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
