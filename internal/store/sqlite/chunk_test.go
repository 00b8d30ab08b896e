package sqlite

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// encodeChunk encodes evs, which must fit one chunk, into a new slice.
func encodeChunk(tb testing.TB, evs []store.Event) []byte {
	tb.Helper()
	var c chunkEncoder
	c.reset(nil)
	for i := range evs {
		if c.full() {
			tb.Fatalf("chunk full after %d events", i)
		}
		c.add(&evs[i])
	}
	return append([]byte(nil), c.bytes()...)
}

func TestChunkRoundTrip(t *testing.T) {
	hash := strings.Repeat("0123456789abcdef", 4)
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	tests := []struct {
		name string
		evs  []store.Event
	}{
		{"one event", []store.Event{{Seq: 1, Time: at, Type: "statement", Data: json.RawMessage(`{"a":1}`), Hash: hash}}},
		{"chained", []store.Event{
			{Seq: 1, Time: at, Type: "statement", Data: json.RawMessage(`{}`), Hash: hash},
			{Seq: 2, Time: at.Add(time.Microsecond), Type: "result", Data: json.RawMessage(`{}`), Prev: hash, Hash: "ab"},
			{Seq: 3, Time: at.Add(-time.Hour), Type: "result", Data: json.RawMessage(`{}`), Prev: "ab", Hash: "cd"},
		}},
		{"chain broken", []store.Event{
			{Seq: 1, Type: "x", Hash: "h1"},
			{Seq: 2, Type: "x", Prev: "other", Hash: "h2"},
		}},
		{"not lowercase hex", []store.Event{
			{Seq: 1, Type: "x", Prev: "ABCD", Hash: "abc"},
			{Seq: 2, Type: "x", Prev: "0g", Hash: "ab cd"},
		}},
		{"empty fields", []store.Event{{Seq: 7}, {Seq: 8}}},
		{"zero and extreme times", []store.Event{
			{Seq: 1, Time: time.Unix(0, math.MinInt64).UTC(), Type: "x"},
			{Seq: 2, Type: "x"},
			{Seq: 3, Time: time.Unix(0, math.MaxInt64).UTC(), Type: "x"},
			{Seq: 4, Time: time.Unix(0, 0).UTC(), Type: "x"},
		}},
		{"sparse and extreme seqs", []store.Event{{Seq: 1, Type: "x"}, {Seq: 1 << 40, Type: "x"}, {Seq: math.MaxInt64, Type: "x"}}},
		{"binary data", []store.Event{{Seq: 3, Type: "\x00\xff", Data: json.RawMessage("\x00\x01\xfe\xff"), Hash: "00"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range tt.evs {
				tt.evs[i].Session = "s"
			}
			var d chunkDecoder
			got, err := d.decode(nil, "s", encodeChunk(t, tt.evs))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if diff := cmp.Diff(tt.evs, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChunkFull(t *testing.T) {
	var c chunkEncoder
	c.reset(nil)
	for i := range maxChunkEvents {
		if c.full() {
			t.Fatalf("full after %d small events, want %d", i, maxChunkEvents)
		}
		c.add(&store.Event{Seq: uint64(i + 1), Type: "x"})
	}
	if !c.full() {
		t.Errorf("not full after %d events", maxChunkEvents)
	}
	c.reset(c.buf)
	c.add(&store.Event{Seq: 1, Data: make([]byte, maxChunkBytes)})
	if !c.full() {
		t.Errorf("not full after an event of %d bytes", maxChunkBytes)
	}
}

func TestChunkDecodeErrors(t *testing.T) {
	valid := encodeChunk(t, []store.Event{
		{Seq: 1, Type: "x", Hash: "ab"},
		{Seq: 2, Type: "x", Prev: "ab", Hash: "cd"},
	})
	tests := []struct {
		name  string
		chunk []byte
	}{
		{"empty", nil},
		{"version", append([]byte{2}, valid[1:]...)},
		{"no events", []byte{chunkVersion, 0}},
		{"too many events", []byte{chunkVersion, 0xff, 0x7f}},
		{"truncated", valid[:len(valid)-1]},
		{"trailing bytes", append(valid[:len(valid):len(valid)], 0)},
		{"unknown flag", []byte{chunkVersion, 1, 0x80, 1, 0, 0, 0}},
		{"first event chained", []byte{chunkVersion, 1, flagPrevChained, 1, 0, 0, 0}},
		{"seq zero", []byte{chunkVersion, 1, 0, 0, 0, 0, 0, 0}},
		{"seq overflow", []byte{chunkVersion, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0}},
		{"huge length", []byte{chunkVersion, 1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		{"empty hex", []byte{chunkVersion, 1, flagHashHex, 1, 0, 0, 0, 0}},
		{"bad varint", []byte{chunkVersion, 1, flagTime, 1, 0x80}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d chunkDecoder
			prefix := []store.Event{{Seq: 99}}
			got, err := d.decode(prefix, "s", tt.chunk)
			if !errors.Is(err, errCorrupt) {
				t.Errorf("decode: got error %v, want errCorrupt", err)
			}
			if len(got) != 1 || got[0].Seq != 99 {
				t.Errorf("decode changed the events before the chunk: %+v", got)
			}
		})
	}
}

// FuzzChunkDecode checks that no input makes the decoder panic or
// allocate out of proportion, and that what it accepts encodes back to
// events that decode the same.
func FuzzChunkDecode(f *testing.F) {
	f.Add(encodeChunk(f, []store.Event{
		{Seq: 1, Time: time.Unix(1, 2), Type: "statement", Data: json.RawMessage(`{"sql":"select 1"}`), Hash: "abcd"},
		{Seq: 3, Time: time.Unix(1, 5), Type: "result", Data: json.RawMessage(`{"rows":1}`), Prev: "abcd", Hash: "XY"},
	}))
	f.Fuzz(func(t *testing.T, chunk []byte) {
		var d chunkDecoder
		evs, err := d.decode(nil, "s", chunk)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("error %v does not wrap errCorrupt", err)
			}
			return
		}
		if len(evs) == 0 || len(evs) > maxChunkEvents {
			t.Fatalf("decoded %d events", len(evs))
		}
		for i := range evs {
			if evs[i].Seq == 0 || evs[i].Seq > math.MaxInt64 || i > 0 && evs[i].Seq <= evs[i-1].Seq {
				t.Fatalf("event %d: seq %d out of order or range", i, evs[i].Seq)
			}
		}
		again, err := d.decode(nil, "s", encodeChunk(t, evs))
		if err != nil {
			t.Fatalf("decode of re-encoded events: %v", err)
		}
		if diff := cmp.Diff(evs, again); diff != "" {
			t.Fatalf("re-encoded events differ (-first +second):\n%s", diff)
		}
	})
}
