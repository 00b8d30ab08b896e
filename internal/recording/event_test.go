package recording_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/recording"
)

var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// makeEvents returns n chained events of one session, the first a session
// start and the rest statements.
func makeEvents(tb testing.TB, session string, n int) []recording.Event {
	tb.Helper()
	c := recording.NewChain(session)
	evs := make([]recording.Event, 0, n)
	for i := range n {
		typ := recording.TypeStatement
		if i == 0 {
			typ = recording.TypeSessionStart
		}
		data := fmt.Appendf(nil, `{"sql":"select %d","i":%d}`, i, i)
		evs = append(evs, c.Next(t0.Add(time.Duration(i)*time.Millisecond), typ, data))
	}
	return evs
}

func TestChainNext(t *testing.T) {
	c := recording.NewChain("s1")
	if seq, hash := c.Last(); seq != 0 || hash != "" {
		t.Fatalf("Last before Next = %d, %q; want 0, \"\"", seq, hash)
	}
	local := time.FixedZone("X", 3600)
	e1 := c.Next(t0.In(local), recording.TypeSessionStart, nil)
	e2 := c.Next(t0.Add(time.Second), recording.TypeStatement, json.RawMessage("{ \"sql\" : \"select  1\" }"))

	if e1.Seq != 1 || e1.Prev != "" || e1.Session != "s1" {
		t.Errorf("first event = seq %d prev %q session %q; want 1, \"\", s1", e1.Seq, e1.Prev, e1.Session)
	}
	if string(e1.Data) != "{}" {
		t.Errorf("empty data = %s, want {}", e1.Data)
	}
	if e1.Time.Location() != time.UTC || !e1.Time.Equal(t0) {
		t.Errorf("time = %v, want %v in UTC", e1.Time, t0)
	}
	if e2.Seq != 2 || e2.Prev != e1.Hash {
		t.Errorf("second event = seq %d prev %q; want 2, %q", e2.Seq, e2.Prev, e1.Hash)
	}
	if got, want := string(e2.Data), `{"sql":"select  1"}`; got != want {
		t.Errorf("data = %s, want compacted %s", got, want)
	}
	for _, e := range []recording.Event{e1, e2} {
		if got := recording.HashEvent(&e); got != e.Hash || len(got) != 64 {
			t.Errorf("event %d: HashEvent = %q, Hash = %q", e.Seq, got, e.Hash)
		}
	}
	if seq, hash := c.Last(); seq != 2 || hash != e2.Hash {
		t.Errorf("Last = %d, %q; want 2, %q", seq, hash, e2.Hash)
	}
}

func TestHashEventUnambiguous(t *testing.T) {
	base := recording.Event{Session: "ab", Seq: 3, Time: t0, Type: "c", Data: json.RawMessage(`{}`), Prev: "p"}
	h := recording.HashEvent(&base)
	tests := []struct {
		name   string
		change func(e *recording.Event)
	}{
		{"session and type boundary", func(e *recording.Event) { e.Session, e.Type = "a", "bc" }},
		{"type and prev boundary", func(e *recording.Event) { e.Type, e.Prev = "cp", "" }},
		{"seq", func(e *recording.Event) { e.Seq = 4 }},
		{"nanosecond", func(e *recording.Event) { e.Time = e.Time.Add(1) }},
		{"data", func(e *recording.Event) { e.Data = json.RawMessage(`{"a":1}`) }},
		{"prev", func(e *recording.Event) { e.Prev = "q" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			tt.change(&e)
			if got := recording.HashEvent(&e); got == h {
				t.Errorf("hash unchanged: %s", got)
			}
		})
	}
	t.Run("time zone does not matter", func(t *testing.T) {
		e := base
		e.Time = t0.In(time.FixedZone("Y", -7*3600))
		if got := recording.HashEvent(&e); got != h {
			t.Errorf("got %s, want %s", got, h)
		}
	})
	t.Run("hash field is not hashed", func(t *testing.T) {
		e := base
		e.Hash = "anything"
		if got := recording.HashEvent(&e); got != h {
			t.Errorf("got %s, want %s", got, h)
		}
	})
}

func TestVerifyJSONRoundTrip(t *testing.T) {
	evs := makeEvents(t, "s-json", 5)
	b, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	var back []recording.Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if err := recording.Verify(back); err != nil {
		t.Errorf("Verify after JSON round trip: %v", err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name       string
		tamper     func(evs []recording.Event) []recording.Event
		wantSeq    uint64
		wantReason string // prefix
	}{
		{"untouched", func(evs []recording.Event) []recording.Event { return evs }, 0, ""},
		{"empty", func(evs []recording.Event) []recording.Event { return nil }, 0, ""},
		{"changed data", func(evs []recording.Event) []recording.Event {
			evs[6].Data = json.RawMessage(`{"sql":"drop table users","i":6}`)
			return evs
		}, 7, "hash mismatch"},
		{"changed type", func(evs []recording.Event) []recording.Event {
			evs[3].Type = recording.TypeResult
			return evs
		}, 4, "hash mismatch"},
		{"changed time", func(evs []recording.Event) []recording.Event {
			evs[8].Time = evs[8].Time.Add(time.Nanosecond)
			return evs
		}, 9, "hash mismatch"},
		{"changed session", func(evs []recording.Event) []recording.Event {
			evs[2].Session = "other"
			return evs
		}, 3, "session mismatch"},
		{"changed data and rehashed", func(evs []recording.Event) []recording.Event {
			evs[4].Data = json.RawMessage(`{}`)
			evs[4].Hash = recording.HashEvent(&evs[4])
			return evs
		}, 6, "prev mismatch"},
		{"changed prev", func(evs []recording.Event) []recording.Event {
			evs[5].Prev = evs[3].Hash
			return evs
		}, 6, "hash mismatch"},
		{"changed prev and rehashed", func(evs []recording.Event) []recording.Event {
			evs[5].Prev = evs[3].Hash
			evs[5].Hash = recording.HashEvent(&evs[5])
			return evs
		}, 6, "prev mismatch"},
		{"prev on first event", func(evs []recording.Event) []recording.Event {
			evs[0].Prev = evs[1].Hash
			evs[0].Hash = recording.HashEvent(&evs[0])
			return evs
		}, 1, "prev mismatch"},
		{"removed event", func(evs []recording.Event) []recording.Event {
			return append(evs[:4], evs[5:]...)
		}, 5, "out of sequence"},
		{"removed first event", func(evs []recording.Event) []recording.Event {
			return evs[1:]
		}, 1, "out of sequence"},
		{"reordered", func(evs []recording.Event) []recording.Event {
			evs[7], evs[8] = evs[8], evs[7]
			return evs
		}, 8, "out of sequence"},
		{"duplicated", func(evs []recording.Event) []recording.Event {
			return append(evs[:3], evs[2:]...)
		}, 4, "out of sequence"},
		{"removed and renumbered", func(evs []recording.Event) []recording.Event {
			evs = append(evs[:4], evs[5:]...)
			for i := 4; i < len(evs); i++ {
				evs[i].Seq--
			}
			return evs
		}, 5, "hash mismatch"},
		{"changed hash", func(evs []recording.Event) []recording.Event {
			evs[9].Hash = evs[8].Hash
			return evs
		}, 10, "hash mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := tt.tamper(makeEvents(t, "s-tamper", 10))
			err := recording.Verify(evs)
			if tt.wantSeq == 0 {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			var ce *recording.ChainError
			if !errors.As(err, &ce) {
				t.Fatalf("Verify = %v, want a *ChainError", err)
			}
			if ce.Seq != tt.wantSeq || len(ce.Reason) < len(tt.wantReason) || ce.Reason[:len(tt.wantReason)] != tt.wantReason {
				t.Errorf("got %q, want event %d: %s...", err, tt.wantSeq, tt.wantReason)
			}
			if want := fmt.Sprintf("event %d: %s", ce.Seq, ce.Reason); err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

func BenchmarkChainNext(b *testing.B) {
	c := recording.NewChain("0193f6a4-5f5e-7c4e-9b1a-3f4c2d1e0a9b")
	data := json.RawMessage(`{"sql":"SELECT id, email, card_number FROM customers WHERE id = $1 AND created_at > $2","params":["42","2026-01-01"],"decision":"allow","rule":"ci-deploy/1"}`)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		c.Next(now, recording.TypeStatement, data)
	}
}
