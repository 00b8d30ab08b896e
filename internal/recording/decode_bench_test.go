package recording_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/recording"
)

// BenchmarkSpoolNext reads back batches of 256 recorded statement events,
// the shipper's steady state.
func BenchmarkSpoolNext(b *testing.B) {
	sp, err := recording.OpenSpool(b.TempDir(), recording.SpoolOptions{SyncInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	c := recording.NewChain("0192f0c4-6a4b-7c1d-9e2f-3a4b5c6d7e8f")
	data := json.RawMessage(`{"protocol":"simple","text":"SELECT abalance FROM pgbench_accounts WHERE aid = 42;"}`)
	const batch = 256
	evs := make([]recording.Event, batch)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for i := range evs {
			evs[i] = c.Next(time.Now(), recording.TypeStatement, data)
		}
		if err := sp.Append(evs...); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		got, pos, err := sp.Next(b.Context(), batch)
		if err != nil || len(got) != batch {
			b.Fatalf("Next = %d events, %v", len(got), err)
		}
		if err := sp.Ack(pos); err != nil {
			b.Fatal(err)
		}
	}
}
