package recording_test

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/recording"
)

// levelCounter is a slog.Handler that counts records at Warn and above.
type levelCounter struct {
	mu    sync.Mutex
	warns int
}

func (h *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *levelCounter) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *levelCounter) WithGroup(string) slog.Handler            { return h }
func (h *levelCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Level >= slog.LevelWarn {
		h.warns++
	}
	return nil
}

func (h *levelCounter) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.warns
}

func fileSize(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

func writeAt(tb testing.TB, path string, b []byte, off int64) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		tb.Fatal(err)
	}
}

func TestSpoolCloseCutsPreallocatedSpace(t *testing.T) {
	dir := t.TempDir()
	s := mustOpenSpool(t, dir, recording.SpoolOptions{SegmentSize: 1 << 20, SyncInterval: -1})
	evs := makeEvents(t, "s-close", 5)
	mustAppend(t, s, evs...)
	var used int64
	for i := range evs {
		rec, err := recording.EncodeRecordForTest(&evs[i])
		if err != nil {
			t.Fatal(err)
		}
		used += int64(len(rec))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, recording.SegmentPathForTest(s, 1)); got != used {
		t.Errorf("segment size after Close = %d, want %d", got, used)
	}
}

// TestSpoolRecoversPreallocatedSegment abandons a spool as a crashed process
// leaves it, with its last segment preallocated and zero-filled after the
// records, and damages that tail as a copy stopped midway could.
func TestSpoolRecoversPreallocatedSegment(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("segments are preallocated on Linux only")
	}
	const segSize = 64 << 10
	want := makeEvents(t, "s-prealloc", 11)
	var (
		good10 int64
		rec11  []byte
	)
	for i := range want {
		rec, err := recording.EncodeRecordForTest(&want[i])
		if err != nil {
			t.Fatal(err)
		}
		if i < 10 {
			good10 += int64(len(rec))
		} else {
			rec11 = rec
		}
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		wantN  int
		warn   bool // the recovery reports torn or corrupt records
	}{
		{"zeros after the records", func(t *testing.T, path string) {}, 10, false},
		{"record complete, Append not returned", func(t *testing.T, path string) {
			writeAt(t, path, rec11, good10)
		}, 11, false},
		{"record copied in part", func(t *testing.T, path string) {
			writeAt(t, path, rec11[:len(rec11)/2], good10)
		}, 10, true},
		{"header not yet copied", func(t *testing.T, path string) {
			writeAt(t, path, rec11[8:], good10+8)
		}, 10, true},
		{"payload end not yet copied", func(t *testing.T, path string) {
			writeAt(t, path, rec11[:len(rec11)-1], good10)
		}, 10, true},
		{"whole record after a zeroed one", func(t *testing.T, path string) {
			writeAt(t, path, rec11, good10+int64(len(rec11)))
		}, 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpenSpool(t, dir, recording.SpoolOptions{SegmentSize: segSize, SyncInterval: -1})
			mustAppend(t, s, want[:10]...)
			path := recording.SegmentPathForTest(s, 1)
			if got := fileSize(t, path); got != segSize {
				t.Fatalf("segment size while appending = %d, want %d (preallocated)", got, segSize)
			}
			tt.damage(t, path)

			// s is abandoned, not closed: the records are in the page cache,
			// which a crashed process leaves behind.
			var h levelCounter
			s2 := mustOpenSpool(t, dir, recording.SpoolOptions{SegmentSize: segSize, Logger: slog.New(&h)})
			got, _ := mustRead(t, s2, tt.wantN, 100)
			checkEvents(t, got, want[:tt.wantN])
			mustBeEmpty(t, s2)
			wantSize := good10
			if tt.wantN == 11 {
				wantSize += int64(len(rec11))
			}
			if got := fileSize(t, path); got != wantSize {
				t.Errorf("segment size after recovery = %d, want %d", got, wantSize)
			}
			if warned := h.count() > 0; warned != tt.warn {
				t.Errorf("recovery warned = %v, want %v", warned, tt.warn)
			}

			next := makeEvents(t, "s-after", 2)
			mustAppend(t, s2, next...)
			got, _ = mustRead(t, s2, 2, 100)
			checkEvents(t, got, next)
		})
	}
}
