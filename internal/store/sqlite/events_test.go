package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestAppendEventsChunks checks batches longer than one multi-row insert,
// with events already stored inside a later chunk and repeated within the
// batch: only new events count.
func TestAppendEventsChunks(t *testing.T) {
	tests := []struct {
		name    string
		batches [][2]uint64 // first, last seq of each batch, appended in order
		joined  bool        // append all batches as one
		want    uint64      // events 1..want stored
	}{
		{"one chunk and a remainder", [][2]uint64{{1, 100}}, false, 100},
		{"exact chunks", [][2]uint64{{1, 128}}, false, 128},
		{"resend of a long batch", [][2]uint64{{1, 150}, {1, 150}}, false, 150},
		{"overlap in the second chunk", [][2]uint64{{1, 90}, {70, 200}}, false, 200},
		{"overlap in the remainder", [][2]uint64{{1, 140}, {130, 131}, {1, 141}}, false, 141},
		{"repeats within a batch", [][2]uint64{{1, 70}, {1, 70}}, true, 70},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := MustOpen(t, filepath.Join(t.TempDir(), "t.db"))
			storetest.MustCreateSession(t, db, storetest.NewSession("s1", 0))
			if tt.joined {
				var all []store.Event
				for _, b := range tt.batches {
					all = append(all, storetest.NewEvents("s1", b[0], b[1])...)
				}
				storetest.MustAppend(t, db, all)
			} else {
				for _, b := range tt.batches {
					storetest.MustAppend(t, db, storetest.NewEvents("s1", b[0], b[1]))
				}
			}
			got, err := db.ListEvents(t.Context(), "s1", 0, 0)
			if err != nil {
				t.Fatalf("ListEvents: %v", err)
			}
			if d := storetest.Diff(storetest.NewEvents("s1", 1, tt.want), got); d != "" {
				t.Errorf("ListEvents (-want +got):\n%s", d)
			}
			var statements int64
			for _, e := range storetest.NewEvents("s1", 1, tt.want) {
				if e.Type == "statement" {
					statements++
				}
			}
			s, err := db.GetSession(t.Context(), "s1")
			if err != nil {
				t.Fatalf("GetSession: %v", err)
			}
			want := storetest.NewEvents("s1", tt.want, tt.want)[0].Hash
			if s.Statements != statements || s.LastSeq != tt.want || s.LastHash != want {
				t.Errorf("got statements %d, last seq %d, hash %q; want %d, %d, %q", s.Statements, s.LastSeq, s.LastHash, statements, tt.want, want)
			}
		})
	}
}
