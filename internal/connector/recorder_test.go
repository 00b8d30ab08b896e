package connector

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/recording"
)

// startRecorder returns a recorder on a spool in a temporary directory.
func startRecorder(tb testing.TB) (*recorder, *recording.Spool) {
	tb.Helper()
	sp, err := recording.OpenSpool(tb.TempDir(), recording.SpoolOptions{SyncInterval: -1})
	if err != nil {
		tb.Fatalf("OpenSpool: %v", err)
	}
	tb.Cleanup(func() { _ = sp.Close() })
	return newRecorder("s1", sp), sp
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestRecorderData(t *testing.T) {
	long := strings.Repeat("x", maxRecordedText-1) + "é" + "tail"
	tests := []struct {
		name string
		rec  func(r *recorder) error
		want string
	}{
		{"simple", func(r *recorder) error {
			return r.Statement(&postgres.Statement{Protocol: "simple", Text: "SELECT 1 <a> & \"q\"\n"})
		}, `{"protocol":"simple","text":"SELECT 1 <a> & \"q\"\n"}`},
		{"extended", func(r *recorder) error {
			return r.Statement(&postgres.Statement{Protocol: "extended", Text: "SELECT $1, $2, $3, $4, $5", Name: "s1", Portal: "p1",
				Params: []postgres.Value{
					{Data: []byte("42"), Size: 2},
					{Null: true},
					{Format: 1, Data: []byte{0, 1, 2, 0xff}, Size: 4},
					{Data: []byte("a\xffb"), Size: 3},
					{Data: []byte("abc"), Size: 5000, Truncated: true},
					{Data: []byte{}, Size: 0},
				}})
		}, `{"protocol":"extended","text":"SELECT $1, $2, $3, $4, $5","name":"s1","portal":"p1","params":[
			{"text":"42","size":2},{"null":true,"size":0},{"format":1,"base64":"AAEC/w==","size":4},
			{"base64":"Yf9i","size":3},{"text":"abc","size":5000,"truncated":true},{"size":0}]}`},
		{"long text", func(r *recorder) error {
			return r.Statement(&postgres.Statement{Protocol: "simple", Text: long})
		}, `{"protocol":"simple","text":"` + long[:maxRecordedText-1] + `","text_size":262149,
			"text_sha256":"` + sha256Hex(long) + `","text_truncated":true}`},
		{"result", func(r *recorder) error {
			return r.Result(&postgres.Result{Seq: 7, Tag: "SELECT 1", Rows: 1, Duration: 1234567 * time.Nanosecond})
		}, `{"statement":7,"tag":"SELECT 1","rows":1,"duration_ms":1.234}`},
		{"result with rows", func(r *recorder) error {
			return r.Result(&postgres.Result{Seq: 3, Tag: "SELECT 5", Rows: 5, Duration: time.Millisecond,
				Sample: &postgres.RowSample{Columns: []string{"id", "note"}, Types: []uint32{23, 25}, Truncated: true,
					Values: []postgres.Value{
						{Data: []byte("1"), Size: 1}, {Data: []byte("a \"q\"\n"), Size: 6},
						{Null: true}, {Data: []byte("caf\xc3"), Size: 900, Truncated: true},
						{Data: []byte("3"), Size: 1}, {Format: 1, Data: []byte{0, 0xff}, Size: 2},
					}}})
		}, `{"statement":3,"tag":"SELECT 5","rows":5,"duration_ms":1,"columns":["id","note"],"types":[23,25],
			"sample":[["1","a \"q\"\n"],[null,{"text":"caf","size":900,"truncated":true}],["3",{"base64":"AP8=","format":1,"size":2}]],
			"sample_truncated":true}`},
		{"tiny result", func(r *recorder) error {
			return r.Result(&postgres.Result{Seq: 1, Duration: time.Microsecond})
		}, `{"statement":1,"tag":"","rows":0,"duration_ms":0.001}`},
		{"error result", func(r *recorder) error {
			return r.Result(&postgres.Result{Seq: 2, Duration: 2 * time.Second,
				Error: &postgres.Error{Severity: "ERROR", Code: "42P01", Message: `relation "x" does not exist`, Detail: "not recorded"}})
		}, `{"statement":2,"tag":"","rows":0,"duration_ms":2000,"error":{"severity":"ERROR","code":"42P01","message":"relation \"x\" does not exist"}}`},
		{"session start", func(r *recorder) error {
			return r.record(time.Now(), recording.TypeSessionStart, &sessionStart{Identity: "alice", Connection: "db",
				Policy: "p", PolicyDigest: "d", Connector: "embedded", Protocol: "postgres", ClientAddr: "127.0.0.1:5"})
		}, `{"identity":"alice","groups":null,"connection":"db","client_addr":"127.0.0.1:5","policy":"p","policy_digest":"d",
			"connector":"embedded","protocol":"postgres"}`},
		{"session end", func(r *recorder) error {
			return r.record(time.Now(), recording.TypeSessionEnd, &sessionEnd{Reason: "client disconnected", Statements: 3, Error: "boom"})
		}, `{"reason":"client disconnected","statements":3,"error":"boom"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, sp := startRecorder(t)
			if err := tt.rec(r); err != nil {
				t.Fatalf("record: %v", err)
			}
			if err := sp.Append(); err != nil { // flush a deferred result
				t.Fatal(err)
			}
			evs, _, err := sp.Next(t.Context(), 10)
			if err != nil || len(evs) != 1 {
				t.Fatalf("Next = %d events, %v; want 1", len(evs), err)
			}
			var got, want any
			if err := json.Unmarshal(evs[0].Data, &got); err != nil {
				t.Fatalf("data %s: %v", evs[0].Data, err)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatalf("want: %v", err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("data (-want +got):\n%s", d)
			}
		})
	}
}

func TestAppendFloat(t *testing.T) {
	for _, f := range []float64{0, 0.001, 0.0315, 1.234, 2000, 123456.789, 1e-7, 1.5e-9, 1e21, 3e25, -0.5, -1e-8} {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f); string(got) != string(want) {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

func TestRecorderAllocs(t *testing.T) {
	r, _ := startRecorder(t)
	st := &postgres.Statement{Protocol: "simple", Text: "SELECT abalance FROM pgbench_accounts WHERE aid = 42;"}
	res := &postgres.Result{Seq: 1, Tag: "SELECT 1", Rows: 1, Duration: 150 * time.Microsecond,
		Sample: &postgres.RowSample{Columns: []string{"abalance"}, Types: []uint32{23}, Values: []postgres.Value{{Data: []byte("-4211"), Size: 5}}}}
	allocs := testing.AllocsPerRun(200, func() {
		if err := r.Statement(st); err != nil {
			t.Fatal(err)
		}
		if err := r.Result(res); err != nil {
			t.Fatal(err)
		}
	})
	// The chain's hash string for each event, and the spool's flush timer
	// when a slow run (-race) lets it fire; nothing for the data.
	if allocs > 3 {
		t.Errorf("Statement+Result allocate %.1f times, want at most 3", allocs)
	}
}
