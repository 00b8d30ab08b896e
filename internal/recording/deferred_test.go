package recording_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/recording"
)

func TestAppendDeferredKeepsOrder(t *testing.T) {
	evs := makeEvents(t, "s1", 6)
	tests := []struct {
		name  string
		flush func(t *testing.T, s *recording.Spool)
	}{
		{"by the next Append", func(t *testing.T, s *recording.Spool) { mustAppend(t, s, evs[5]) }},
		{"by the timer", func(t *testing.T, s *recording.Spool) {}},
		{"by Sync", func(t *testing.T, s *recording.Spool) {
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustOpenSpool(t, t.TempDir(), recording.SpoolOptions{})
			mustAppend(t, s, evs[0], evs[1])
			if err := s.AppendDeferred(evs[2]); err != nil {
				t.Fatal(err)
			}
			if err := s.AppendDeferred(evs[3], evs[4]); err != nil {
				t.Fatal(err)
			}
			tt.flush(t, s)
			want := evs[:5]
			if tt.name == "by the next Append" {
				want = evs
			}
			got, _ := mustRead(t, s, len(want), 100)
			checkEvents(t, got, want)
		})
	}
}

func TestAppendDeferredWrittenOnClose(t *testing.T) {
	dir := t.TempDir()
	evs := makeEvents(t, "s1", 3)
	s, err := recording.OpenSpool(dir, recording.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, evs[0])
	if err := s.AppendDeferred(evs[1:]...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendDeferred(evs[0]); err == nil {
		t.Error("AppendDeferred after Close: got nil error")
	}
	s2 := mustOpenSpool(t, dir, recording.SpoolOptions{})
	got, _ := mustRead(t, s2, 3, 100)
	checkEvents(t, got, evs)
}
