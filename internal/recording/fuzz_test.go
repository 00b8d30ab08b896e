package recording_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/recording"
)

// Seeds live in testdata/fuzz/<FuzzName>/ in the `go test fuzz v1` format.

// FuzzSpoolRecover writes arbitrary bytes as a segment and opens the spool:
// opening must not panic or fail, and whatever it then delivers must be whole
// records that re-encode to the bytes the segment kept.
func FuzzSpoolRecover(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		seg := filepath.Join(dir, "0000000000000001.seg")
		if err := os.WriteFile(seg, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := recording.OpenSpool(dir, recording.SpoolOptions{SyncInterval: -1})
		if err != nil {
			t.Fatalf("OpenSpool: %v", err)
		}
		defer s.Close()
		kept, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, kept) {
			t.Fatalf("recovery kept %d bytes that are not a prefix of the segment", len(kept))
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var got []recording.Event
		for {
			evs, _, err := s.Next(ctx, 1000)
			if errors.Is(err, context.Canceled) {
				break
			}
			if err != nil {
				t.Fatalf("Next after recovery: %v", err)
			}
			got = append(got, evs...)
		}
		// The kept bytes are exactly the delivered records, back to back.
		rest := kept
		for i, want := range got {
			e, n, err := recording.DecodeRecordForTest(rest)
			if err != nil {
				t.Fatalf("kept record %d does not decode: %v", i, err)
			}
			if e.Hash != want.Hash || e.Seq != want.Seq || !bytes.Equal(e.Data, want.Data) {
				t.Fatalf("record %d: delivered %+v, kept %+v", i, want, e)
			}
			rest = rest[n:]
		}
		if len(rest) != 0 {
			t.Fatalf("%d kept bytes after the %d delivered records", len(rest), len(got))
		}
	})
}

// FuzzDecodeRecord decodes arbitrary bytes as one record: it must not panic,
// must not claim more bytes than it was given, and an event it decodes must
// survive our own encoding unchanged.
func FuzzDecodeRecord(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		e, n, err := recording.DecodeRecordForTest(data)
		if err != nil {
			return
		}
		if n < 8 || n > len(data) {
			t.Fatalf("decoded a record of %d bytes from %d", n, len(data))
		}
		rec, err := recording.EncodeRecordForTest(&e)
		if err != nil {
			return
		}
		back, m, err := recording.DecodeRecordForTest(rec)
		if err != nil {
			t.Fatalf("decode our own encoding: %v", err)
		}
		if m != len(rec) {
			t.Fatalf("decoded %d of %d bytes", m, len(rec))
		}
		if back.Session != e.Session || back.Seq != e.Seq || !back.Time.Equal(e.Time) || back.Type != e.Type ||
			!bytes.Equal(back.Data, e.Data) || back.Prev != e.Prev || back.Hash != e.Hash {
			t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", back, e)
		}
		if recording.HashEvent(&back) != recording.HashEvent(&e) {
			t.Fatal("round trip changed the event's hash")
		}
	})
}

// FuzzValidJSON checks the spool's JSON validator against encoding/json.
func FuzzValidJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := recording.ValidJSONForTest(data), json.Valid(data); got != want {
			t.Fatalf("valid(%q) = %v, json.Valid = %v", data, got, want)
		}
	})
}

// FuzzOpenAcked opens a spool whose "acked" file holds arbitrary bytes: it
// must not panic, and a spool it opens must work.
func FuzzOpenAcked(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "acked"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := recording.OpenSpool(dir, recording.SpoolOptions{SyncInterval: -1})
		if err != nil {
			return
		}
		defer s.Close()
		ev := makeEvents(t, "s", 1)
		if err := s.Append(ev...); err != nil {
			t.Fatalf("Append: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		got, pos, err := s.Next(ctx, 10)
		if err != nil || len(got) != 1 || got[0].Hash != ev[0].Hash {
			t.Fatalf("Next = %d events, %v; want the one appended", len(got), err)
		}
		if err := s.Ack(pos); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	})
}
