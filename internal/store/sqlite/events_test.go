package sqlite_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
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

// evens returns the events of NewEvents(session, first, last) with even
// seqs, odds those with odd seqs.
func evens(session string, first, last uint64) []store.Event { return every(session, first, last, 0) }
func odds(session string, first, last uint64) []store.Event  { return every(session, first, last, 1) }

func every(session string, first, last, rem uint64) []store.Event {
	var out []store.Event
	for _, e := range storetest.NewEvents(session, first, last) {
		if e.Seq%2 == rem {
			out = append(out, e)
		}
	}
	return out
}

// TestAppendEventsGaps checks events that arrive below a session's highest
// stored seq: already stored ones are ignored, missing ones fill the gaps
// (the chunks around them are rewritten), and chunk ranges stay disjoint.
func TestAppendEventsGaps(t *testing.T) {
	tests := []struct {
		name       string
		batches    [][]store.Event
		wantChunks []sqlite.ChunkRange
	}{
		{
			name:       "gap inside one chunk",
			batches:    [][]store.Event{append(storetest.NewEvents("s1", 1, 2), storetest.NewEvents("s1", 5, 6)...), storetest.NewEvents("s1", 3, 4)},
			wantChunks: []sqlite.ChunkRange{{1, 6, 6}},
		},
		{
			name:       "gap between chunks",
			batches:    [][]store.Event{storetest.NewEvents("s1", 1, 2), storetest.NewEvents("s1", 5, 6), storetest.NewEvents("s1", 3, 4)},
			wantChunks: []sqlite.ChunkRange{{1, 2, 2}, {3, 4, 2}, {5, 6, 2}},
		},
		{
			name:       "resend overlapping a gap and new events",
			batches:    [][]store.Event{append(storetest.NewEvents("s1", 1, 2), storetest.NewEvents("s1", 5, 6)...), storetest.NewEvents("s1", 2, 8)},
			wantChunks: []sqlite.ChunkRange{{1, 6, 6}, {7, 8, 2}},
		},
		{
			name:       "gap before the first chunk",
			batches:    [][]store.Event{storetest.NewEvents("s1", 3, 4), storetest.NewEvents("s1", 1, 4)},
			wantChunks: []sqlite.ChunkRange{{1, 4, 4}},
		},
		{
			name:       "fill rewrites several chunks",
			batches:    [][]store.Event{evens("s1", 1, 600), odds("s1", 1, 600)},
			wantChunks: []sqlite.ChunkRange{{1, 256, 256}, {257, 512, 256}, {513, 600, 88}},
		},
		{
			name:       "out of order in one batch",
			batches:    [][]store.Event{append(storetest.NewEvents("s1", 4, 6), storetest.NewEvents("s1", 1, 3)...)},
			wantChunks: []sqlite.ChunkRange{{1, 6, 6}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			db := MustOpen(t, filepath.Join(t.TempDir(), "t.db"))
			var last uint64
			for _, b := range tt.batches {
				storetest.MustAppend(t, db, b)
				for _, e := range b {
					last = max(last, e.Seq)
				}
			}
			want := storetest.NewEvents("s1", 1, last)
			got, err := db.ListEvents(ctx, "s1", 0, 0)
			if err != nil {
				t.Fatalf("ListEvents: %v", err)
			}
			if d := storetest.Diff(want, got); d != "" {
				t.Errorf("ListEvents (-want +got):\n%s", d)
			}
			chunks, err := sqlite.ChunkRanges(ctx, db, "s1")
			if err != nil {
				t.Fatal(err)
			}
			if d := storetest.Diff(tt.wantChunks, chunks); d != "" {
				t.Errorf("chunks (-want +got):\n%s", d)
			}
			storetest.MustCreateSession(t, db, storetest.NewSession("s1", 0))
			s, err := db.GetSession(ctx, "s1")
			if err != nil {
				t.Fatal(err)
			}
			if s.Statements != int64(last/2) || s.LastSeq != last || s.LastHash != want[len(want)-1].Hash {
				t.Errorf("got statements %d, last seq %d, hash %q; want %d, %d, %q",
					s.Statements, s.LastSeq, s.LastHash, last/2, last, want[len(want)-1].Hash)
			}
		})
	}
}

// TestListEventsAcrossChunks reads with every after and a range of limits
// over chunks of unequal sizes, some with gaps in their seqs.
func TestListEventsAcrossChunks(t *testing.T) {
	ctx := t.Context()
	db := MustOpen(t, filepath.Join(t.TempDir(), "t.db"))
	var all []store.Event
	for _, b := range [][2]uint64{{1, 3}, {4, 4}, {10, 300}, {302, 305}} {
		evs := storetest.NewEvents("s1", b[0], b[1])
		storetest.MustAppend(t, db, evs)
		all = append(all, evs...)
	}
	for after := uint64(0); after <= 306; after++ {
		for _, limit := range []int{0, 1, 2, 5, 300} {
			got, err := db.ListEvents(ctx, "s1", after, limit)
			if err != nil {
				t.Fatalf("ListEvents(%d, %d): %v", after, limit, err)
			}
			var want []store.Event
			for _, e := range all {
				if e.Seq > after && (limit == 0 || len(want) < limit) {
					want = append(want, e)
				}
			}
			// cmp.Diff is too slow for 1,500 lists; the seqs and hashes
			// tell whether the right events came back.
			if !sameEvents(want, got) {
				t.Fatalf("ListEvents(%d, %d): got %d events %s, want %d %s", after, limit, len(got), seqRange(got), len(want), seqRange(want))
			}
		}
	}
}

// TestListEventsReadsOnlyNeededChunks corrupts the second of two chunks:
// reads that stop within the first must not touch it, others must fail.
func TestListEventsReadsOnlyNeededChunks(t *testing.T) {
	ctx := t.Context()
	db := MustOpen(t, filepath.Join(t.TempDir(), "t.db"))
	storetest.MustAppend(t, db, storetest.NewEvents("s1", 1, 300))
	if err := sqlite.SetChunkData(ctx, db, "s1", 257, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		after   uint64
		limit   int
		wantErr bool
	}{
		{0, 256, false},
		{100, 156, false},
		{255, 1, false},
		{0, 257, true},
		{0, 0, true},
		{256, 1, true},
	} {
		got, err := db.ListEvents(ctx, "s1", tt.after, tt.limit)
		if tt.wantErr {
			if !errors.Is(err, sqlite.ErrCorrupt) {
				t.Errorf("ListEvents(%d, %d): got error %v, want a corrupt chunk", tt.after, tt.limit, err)
			}
			continue
		}
		if err != nil || len(got) != tt.limit {
			t.Errorf("ListEvents(%d, %d) = %d events, %v; want %d, nil", tt.after, tt.limit, len(got), err, tt.limit)
		}
	}
	// A resend into the corrupt chunk's range fails rather than guessing.
	if err := db.AppendEvents(ctx, storetest.NewEvents("s1", 290, 301)); !errors.Is(err, sqlite.ErrCorrupt) {
		t.Errorf("AppendEvents over a corrupt chunk: got %v, want a corrupt chunk", err)
	}
}

// TestAppendEventsLargeEvents checks that chunks close at maxChunkBytes
// and that an event larger than that is stored on its own.
func TestAppendEventsLargeEvents(t *testing.T) {
	ctx := t.Context()
	db := MustOpen(t, filepath.Join(t.TempDir(), "t.db"))
	evs := storetest.NewEvents("s1", 1, 5)
	big := []byte(`"` + strings.Repeat("x", 400<<10) + `"`)
	for i := range evs {
		evs[i].Data = big
	}
	evs[4].Data = []byte(`"` + strings.Repeat("y", 3<<20) + `"`)
	storetest.MustAppend(t, db, evs)
	got, err := db.ListEvents(ctx, "s1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !sameEvents(evs, got) {
		t.Fatalf("ListEvents: got %d events %s, want %d %s", len(got), seqRange(got), len(evs), seqRange(evs))
	}
	chunks, err := sqlite.ChunkRanges(ctx, db, "s1")
	if err != nil {
		t.Fatal(err)
	}
	want := []sqlite.ChunkRange{{1, 3, 3}, {4, 5, 2}}
	if d := storetest.Diff(want, chunks); d != "" {
		t.Errorf("chunks (-want +got):\n%s", d)
	}
}

// sameEvents compares events field by field; it is much faster than
// storetest.Diff for long lists and large payloads.
func sameEvents(want, got []store.Event) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		w, g := &want[i], &got[i]
		if w.Session != g.Session || w.Seq != g.Seq || !w.Time.Equal(g.Time) || w.Type != g.Type ||
			!bytes.Equal(w.Data, g.Data) || w.Prev != g.Prev || w.Hash != g.Hash {
			return false
		}
	}
	return true
}

func seqRange(evs []store.Event) string {
	if len(evs) == 0 {
		return "(none)"
	}
	return fmt.Sprintf("%d..%d", evs[0].Seq, evs[len(evs)-1].Seq)
}
