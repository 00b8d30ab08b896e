package recording_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/recording"
)

// ackThrice appends 30 events and acknowledges them in three steps, then
// abandons the spool. It returns the events.
func ackThrice(t *testing.T, dir string) []recording.Event {
	t.Helper()
	evs := makeEvents(t, "s-ack", 30)
	s := mustOpenSpool(t, dir, recording.SpoolOptions{SyncInterval: -1})
	mustAppend(t, s, evs...)
	for range 3 {
		_, pos := mustRead(t, s, 10, 10)
		if err := s.Ack(pos); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestSpoolAckSlotTorn damages each of the acked file's two slots in turn:
// the spool opens either way, and starts at the last acknowledged position
// or at the one before it, sending those events again.
func TestSpoolAckSlotTorn(t *testing.T) {
	starts := make(map[uint64]bool) // seq of the first event delivered
	for _, off := range []int64{0, 4096} {
		dir := t.TempDir()
		evs := ackThrice(t, dir)
		writeAt(t, filepath.Join(dir, "acked"), []byte("torn"), off+10)

		var h levelCounter
		s := mustOpenSpool(t, dir, recording.SpoolOptions{Logger: slog.New(&h)})
		more := makeEvents(t, "s-more", 1)
		mustAppend(t, s, more...)
		var got []recording.Event
		for len(got) == 0 || got[len(got)-1].Session != "s-more" {
			batch, _, err := s.Next(t.Context(), 100)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			got = append(got, batch...)
		}
		if n := len(got) - 1; n > 0 {
			checkEvents(t, got[:n], evs[len(evs)-n:])
			starts[got[0].Seq] = true
		} else {
			starts[0] = true
		}
		if h.count() != 0 {
			t.Errorf("slot at %d torn: %d warnings, want none (the other slot is intact)", off, h.count())
		}
	}
	// Last acknowledged: nothing again; the one before: the last 10 events.
	if len(starts) != 2 || !starts[0] || !starts[21] {
		t.Errorf("first events delivered after tearing each slot = %v, want none for one and seq 21 for the other", starts)
	}
}

func TestSpoolAckSlotsBothTorn(t *testing.T) {
	dir := t.TempDir()
	evs := ackThrice(t, dir)
	path := filepath.Join(dir, "acked")
	writeAt(t, path, []byte("torn"), 10)
	writeAt(t, path, []byte("torn"), 4096+10)

	var h levelCounter
	s := mustOpenSpool(t, dir, recording.SpoolOptions{Logger: slog.New(&h)})
	// Segment 1 was not deleted (no Ack passed it), so all of it comes again.
	got, pos := mustRead(t, s, len(evs), 100)
	checkEvents(t, got, evs)
	mustBeEmpty(t, s)
	if h.count() == 0 {
		t.Error("no warning about the lost acknowledged position")
	}
	if err := s.Ack(pos); err != nil {
		t.Fatalf("Ack after both slots were torn: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustBeEmpty(t, mustOpenSpool(t, dir, recording.SpoolOptions{}))
}

func TestSpoolReadsAckedV1(t *testing.T) {
	dir := t.TempDir()
	evs := makeEvents(t, "s-v1", 10)
	s := mustOpenSpool(t, dir, recording.SpoolOptions{})
	mustAppend(t, s, evs...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rec, err := recording.EncodeRecordForTest(&evs[0])
	if err != nil {
		t.Fatal(err)
	}
	// A spool written by an earlier version, with the first event acknowledged.
	line := []byte("gatehouse-spool-ack v1 1 " + strconv.Itoa(len(rec)) + "\n")
	path := filepath.Join(dir, "acked")
	if err := os.WriteFile(path, line, 0o600); err != nil {
		t.Fatal(err)
	}

	s2 := mustOpenSpool(t, dir, recording.SpoolOptions{})
	got, _ := mustRead(t, s2, 5, 5)
	checkEvents(t, got, evs[1:6])
	s2.Rewind()
	got, pos := mustRead(t, s2, 5, 5)
	checkEvents(t, got, evs[1:6])
	if err := s2.Ack(pos); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || len(b) != 4096+32 {
		t.Fatalf("acked file after Ack: %d bytes, %v; want the 4128-byte slot file", len(b), err)
	}
	s3 := mustOpenSpool(t, dir, recording.SpoolOptions{})
	got, _ = mustRead(t, s3, 4, 10)
	checkEvents(t, got, evs[6:])
}
