package pgstore_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// BenchmarkAppendEvents appends batches of new events, the shipper's steady
// state, in the same shapes as the SQLite store's benchmark of the same
// name: statement and result events in turn, each batch holding a run of
// events of every session, interleaved. ns/event is the time per event and
// events/s its inverse, client-cpu-ns/event the CPU time of this process
// (the PostgreSQL server's is not counted) per event, db-B/event the growth
// of the database per event. The server runs on this machine with fsync
// off (see pgtest), so the figures leave out the disk and the network.
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
	pg := server(b)
	dsn := pg.DSN(pg.CreateDatabase(b))
	db := MustOpen(b, dsn)
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
	size0 := query[int64](b, dsn, `SELECT pg_database_size(current_database())`)
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
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	if cpuOK {
		b.ReportMetric(float64((user1-user0+sys1-sys0).Nanoseconds())/events, "client-cpu-ns/event")
	}
	size1 := query[int64](b, dsn, `SELECT pg_database_size(current_database())`)
	b.ReportMetric(float64(size1-size0)/events, "db-B/event")
}
