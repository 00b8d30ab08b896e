package connector

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/recording"
)

// BenchmarkRecorder records what one pgbench -S transaction records: a
// statement (its spool write carries the previous result) and a result.
func BenchmarkRecorder(b *testing.B) {
	for _, bc := range []struct {
		name string
		st   postgres.Statement
	}{
		{"simple", postgres.Statement{Protocol: "simple", Text: "SELECT abalance FROM pgbench_accounts WHERE aid = 42;"}},
		{"extended", postgres.Statement{Protocol: "extended", Text: "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
			Name: "P0_1", Params: []postgres.Value{{Data: []byte("42"), Size: 2}}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sp, err := recording.OpenSpool(b.TempDir(), recording.SpoolOptions{SyncInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer sp.Close()
			r := newRecorder("bench", sp)
			res := postgres.Result{Tag: "SELECT 1", Rows: 1, Duration: 150 * time.Microsecond}
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Statement(&bc.st); err != nil {
					b.Fatal(err)
				}
				res.Seq++
				if err := r.Result(&res); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
