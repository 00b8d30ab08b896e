package recording_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/recording"
)

// txnEvents returns a statement event of about 300 bytes and the result
// event that follows it, as the connector records one pgbench -S
// transaction.
func txnEvents(tb testing.TB) (stmt, result recording.Event) {
	tb.Helper()
	c := recording.NewChain("0193f6a4-5f5e-7c4e-9b1a-3f4c2d1e0a9b")
	stmt = c.Next(time.Now(), recording.TypeStatement,
		json.RawMessage(`{"protocol":"extended","text":"SELECT abalance FROM pgbench_accounts WHERE aid = $1;","name":"P0_1","params":[{"text":"4242","size":4}]}`))
	result = c.Next(time.Now(), recording.TypeResult,
		json.RawMessage(`{"statement":1,"tag":"SELECT 1","rows":1,"duration_ms":0.081}`))
	return stmt, result
}

// BenchmarkSpoolTxn records one transaction as the connector does: the
// previous statement's result deferred, then the statement written ahead.
func BenchmarkSpoolTxn(b *testing.B) {
	s := mustOpenSpool(b, b.TempDir(), recording.SpoolOptions{})
	stmt, result := txnEvents(b)
	b.ReportAllocs()
	cpu := processCPU(b)
	for b.Loop() {
		if err := s.AppendDeferred(result); err != nil {
			b.Fatal(err)
		}
		if err := s.Append(stmt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkSpoolNextAck measures the shipper's side per batch: Next of
// batch events and the Ack after them. Appending is not timed.
func BenchmarkSpoolNextAck(b *testing.B) {
	for _, batch := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := mustOpenSpool(b, b.TempDir(), recording.SpoolOptions{SyncInterval: -1})
			stmt, result := txnEvents(b)
			evs := make([]recording.Event, batch)
			for i := range evs {
				evs[i] = stmt
				if i%2 == 1 {
					evs[i] = result
				}
			}
			b.ReportAllocs()
			var cpu time.Duration // outside the appends
			for b.Loop() {
				b.StopTimer()
				if err := s.Append(evs...); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := processCPU(b)
				got, pos, err := s.Next(b.Context(), batch)
				if err != nil || len(got) != batch {
					b.Fatalf("Next = %d events, %v", len(got), err)
				}
				if err := s.Ack(pos); err != nil {
					b.Fatal(err)
				}
				cpu += processCPU(b) - start
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/event")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*batch), "cpu-ns/event")
		})
	}
}

func BenchmarkEncodeRecord(b *testing.B) {
	stmt, _ := txnEvents(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := recording.EncodeRecordForTest(&stmt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRecord(b *testing.B) {
	stmt, _ := txnEvents(b)
	rec, err := recording.EncodeRecordForTest(&stmt)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := recording.DecodeRecordForTest(rec); err != nil {
			b.Fatal(err)
		}
	}
}
