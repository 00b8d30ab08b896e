package recording_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/recording"
)

// hangGuard bounds how long a test may wait for the spool before it fails
// instead of hanging; no assertion depends on it.
const hangGuard = time.Minute

func mustOpenSpool(tb testing.TB, dir string, opts recording.SpoolOptions) *recording.Spool {
	tb.Helper()
	s, err := recording.OpenSpool(dir, opts)
	if err != nil {
		tb.Fatalf("OpenSpool: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func mustAppend(tb testing.TB, s *recording.Spool, evs ...recording.Event) {
	tb.Helper()
	if err := s.Append(evs...); err != nil {
		tb.Fatalf("Append: %v", err)
	}
}

// mustRead reads exactly n events with Next(max), and returns them and the
// position after the last.
func mustRead(tb testing.TB, s *recording.Spool, n, max int) ([]recording.Event, recording.Position) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	var (
		got []recording.Event
		pos recording.Position
	)
	for len(got) < n {
		evs, p, err := s.Next(ctx, max)
		if err != nil {
			tb.Fatalf("Next after %d of %d events: %v", len(got), n, err)
		}
		if len(evs) == 0 || len(evs) > max {
			tb.Fatalf("Next returned %d events, want 1..%d", len(evs), max)
		}
		got = append(got, evs...)
		pos = p
	}
	if len(got) != n {
		tb.Fatalf("read %d events, want %d", len(got), n)
	}
	return got, pos
}

// mustBeEmpty checks that Next has nothing to return right now.
func mustBeEmpty(tb testing.TB, s *recording.Spool) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	evs, _, err := s.Next(ctx, 100)
	if len(evs) != 0 || !errors.Is(err, context.Canceled) {
		tb.Fatalf("Next on a drained spool = %d events, %v; want none, context.Canceled", len(evs), err)
	}
}

func checkEvents(tb testing.TB, got, want []recording.Event) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Session != w.Session || g.Seq != w.Seq || !g.Time.Equal(w.Time) || g.Type != w.Type ||
			!bytes.Equal(g.Data, w.Data) || g.Prev != w.Prev || g.Hash != w.Hash {
			tb.Fatalf("event %d: got %+v, want %+v", i, g, w)
		}
	}
}

func segmentFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestSpoolAppendNextAckAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	s := mustOpenSpool(t, dir, recording.SpoolOptions{SegmentSize: 1024})
	want := makeEvents(t, "s-rot", 100)
	for i := 0; i < len(want); i += 3 {
		mustAppend(t, s, want[i:min(i+3, len(want))]...)
	}
	if n := len(segmentFiles(t, dir)); n < 10 {
		t.Fatalf("%d segment files after 100 events of about 200 bytes in 1 KiB segments, want at least 10", n)
	}
	var got []recording.Event
	for len(got) < len(want) {
		evs, pos := mustRead(t, s, min(7, len(want)-len(got)), 7)
		got = append(got, evs...)
		if err := s.Ack(pos); err != nil {
			t.Fatalf("Ack(%v): %v", pos, err)
		}
		if segs := recording.SegmentsForTest(s); segs[0] != pos.Segment {
			t.Fatalf("after Ack(%v) segments start at %d, want %d", pos, segs[0], pos.Segment)
		}
	}
	checkEvents(t, got, want)
	if err := recording.Verify(got); err != nil {
		t.Errorf("Verify: %v", err)
	}
	mustBeEmpty(t, s)
	if files := segmentFiles(t, dir); len(files) > 2 {
		t.Errorf("%d segment files left after acknowledging everything, want at most 2: %v", len(files), files)
	}
}

func TestSpoolBatchesFormUnderLoad(t *testing.T) {
	s := mustOpenSpool(t, t.TempDir(), recording.SpoolOptions{})
	want := makeEvents(t, "s-batch", 50)
	for i := range want {
		mustAppend(t, s, want[i])
	}
	evs, _ := mustRead(t, s, 32, 32)
	checkEvents(t, evs, want[:32])
	evs, _ = mustRead(t, s, 18, 32)
	checkEvents(t, evs, want[32:])
}

func TestSpoolFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := mustOpenSpool(t, dir, recording.SpoolOptions{})
	mustAppend(t, s, makeEvents(t, "s", 1)...)
	_, pos := mustRead(t, s, 1, 1)
	if err := s.Ack(pos); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want os.FileMode
	}{
		{"dir", dir, 0o700},
		{"segment", recording.SegmentPathForTest(s, 1), 0o600},
		{"acked", filepath.Join(dir, "acked"), 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fi, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tt.want {
				t.Errorf("mode = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSpoolRestart(t *testing.T) {
	tests := []struct {
		name  string
		close bool // a clean Close before reopening, or a crash
	}{
		{"after Close", true},
		{"after crash", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := recording.SpoolOptions{SegmentSize: 2048}
			want := makeEvents(t, "s-restart", 80)

			s := mustOpenSpool(t, dir, opts)
			mustAppend(t, s, want[:50]...)
			got, pos := mustRead(t, s, 20, 20)
			checkEvents(t, got, want[:20])
			if err := s.Ack(pos); err != nil {
				t.Fatal(err)
			}
			// Sent but never acknowledged.
			got, _ = mustRead(t, s, 10, 10)
			checkEvents(t, got, want[20:30])
			if tt.close {
				if err := s.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			// Without Close, the first Spool is abandoned as a crashed
			// process would leave it: its bytes are in the files.

			s2 := mustOpenSpool(t, dir, opts)
			mustAppend(t, s2, want[50:]...)
			got, pos = mustRead(t, s2, 60, 16)
			checkEvents(t, got, want[20:])
			if err := s2.Ack(pos); err != nil {
				t.Fatal(err)
			}
			mustBeEmpty(t, s2)
			if err := s2.Close(); err != nil {
				t.Fatal(err)
			}

			// Everything acknowledged: a third open delivers nothing old.
			s3 := mustOpenSpool(t, dir, opts)
			mustBeEmpty(t, s3)
			more := makeEvents(t, "s-restart-2", 3)
			mustAppend(t, s3, more...)
			got, _ = mustRead(t, s3, 3, 10)
			checkEvents(t, got, more)
		})
	}
}

func TestSpoolRecoversTornTail(t *testing.T) {
	want := makeEvents(t, "s-torn", 10)
	recs := make([][]byte, len(want))
	for i := range want {
		var err error
		if recs[i], err = recording.EncodeRecordForTest(&want[i]); err != nil {
			t.Fatal(err)
		}
	}
	good9 := int64(0)
	for _, r := range recs[:9] {
		good9 += int64(len(r))
	}
	good10 := good9 + int64(len(recs[9]))

	tests := []struct {
		name     string
		damage   func(t *testing.T, path string)
		wantN    int   // events that survive
		wantSize int64 // segment size after recovery
	}{
		{"intact", func(t *testing.T, path string) {}, 10, good10},
		{"torn payload", func(t *testing.T, path string) { truncate(t, path, good10-5) }, 9, good9},
		{"torn header", func(t *testing.T, path string) { truncate(t, path, good9+3) }, 9, good9},
		{"partial next header", func(t *testing.T, path string) { appendBytes(t, path, []byte{0x20, 0, 0}) }, 10, good10},
		{"garbage after", func(t *testing.T, path string) {
			appendBytes(t, path, []byte("\x10\x00\x00\x00garbagegarbagegarbage"))
		}, 10, good10},
		{"flipped payload byte", func(t *testing.T, path string) { flip(t, path, good10-10) }, 9, good9},
		{"flipped checksum byte", func(t *testing.T, path string) { flip(t, path, good9+5) }, 9, good9},
		{"huge length", func(t *testing.T, path string) { appendBytes(t, path, []byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0}) }, 10, good10},
		{"zeroed tail (preallocated blocks)", func(t *testing.T, path string) { appendBytes(t, path, make([]byte, 4096)) }, 10, good10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpenSpool(t, dir, recording.SpoolOptions{})
			mustAppend(t, s, want...)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			path := recording.SegmentPathForTest(s, 1)
			tt.damage(t, path)

			s2 := mustOpenSpool(t, dir, recording.SpoolOptions{})
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != tt.wantSize {
				t.Errorf("segment size after recovery = %d, want %d", fi.Size(), tt.wantSize)
			}
			got, _ := mustRead(t, s2, tt.wantN, 100)
			checkEvents(t, got, want[:tt.wantN])
			mustBeEmpty(t, s2)

			// The spool carries on: new events follow, and none of the
			// damaged bytes is ever delivered.
			next := makeEvents(t, "s-after", 2)
			mustAppend(t, s2, next...)
			got, _ = mustRead(t, s2, 2, 100)
			checkEvents(t, got, next)
		})
	}
}

func truncate(tb testing.TB, path string, size int64) {
	tb.Helper()
	if err := os.Truncate(path, size); err != nil {
		tb.Fatal(err)
	}
}

func appendBytes(tb testing.TB, path string, b []byte) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		tb.Fatal(err)
	}
}

func flip(tb testing.TB, path string, off int64) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	b[off] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

func TestSpoolAckedBeyondLostTail(t *testing.T) {
	// The machine stopped after an ack reached the disk but before the
	// acknowledged records did: the spool restarts after what is left and
	// delivers new events.
	dir := t.TempDir()
	want := makeEvents(t, "s-lost", 10)
	s := mustOpenSpool(t, dir, recording.SpoolOptions{SyncInterval: -1})
	mustAppend(t, s, want...)
	_, pos := mustRead(t, s, 10, 10)
	if err := s.Ack(pos); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	truncate(t, recording.SegmentPathForTest(s, 1), pos.Offset/2)

	s2 := mustOpenSpool(t, dir, recording.SpoolOptions{})
	mustBeEmpty(t, s2)
	next := makeEvents(t, "s-lost-2", 3)
	mustAppend(t, s2, next...)
	got, _ := mustRead(t, s2, 3, 10)
	checkEvents(t, got, next)
}

func TestSpoolAckedNotAtBoundary(t *testing.T) {
	dir := t.TempDir()
	s := mustOpenSpool(t, dir, recording.SpoolOptions{})
	mustAppend(t, s, makeEvents(t, "s", 3)...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "acked"), []byte("gatehouse-spool-ack v1 1 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := recording.OpenSpool(dir, recording.SpoolOptions{}); err == nil {
		t.Fatal("OpenSpool accepted an acked position inside a record")
	}
	if err := os.WriteFile(filepath.Join(dir, "acked"), []byte("nonsense"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := recording.OpenSpool(dir, recording.SpoolOptions{}); err == nil {
		t.Fatal("OpenSpool accepted a malformed acked file")
	}
}

func TestSpoolConcurrentAppenders(t *testing.T) {
	const (
		writers   = 8
		perWriter = 200
	)
	s := mustOpenSpool(t, t.TempDir(), recording.SpoolOptions{SegmentSize: 8 << 10, SyncInterval: time.Millisecond})
	want := make(map[string][]recording.Event)
	for w := range writers {
		session := fmt.Sprintf("s-%d", w)
		want[session] = makeEvents(t, session, perWriter)
	}

	got := make(map[string][]recording.Event)
	readErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		for n := 0; n < writers*perWriter; {
			evs, pos, err := s.Next(ctx, 64)
			if err != nil {
				readErr <- err
				return
			}
			for _, e := range evs {
				got[e.Session] = append(got[e.Session], e)
			}
			n += len(evs)
			if err := s.Ack(pos); err != nil {
				readErr <- err
				return
			}
		}
		readErr <- nil
	}()

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for _, evs := range want {
		wg.Go(func() {
			for i := 0; i < len(evs); {
				n := 1 + i%3 // single events and small batches
				if err := s.Append(evs[i:min(i+n, len(evs))]...); err != nil {
					errs <- err
					return
				}
				if i%50 == 0 {
					if err := s.Sync(); err != nil {
						errs <- err
						return
					}
				}
				i += n
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Append: %v", err)
	}
	if err := <-readErr; err != nil {
		t.Fatalf("reader: %v", err)
	}
	for session, evs := range want {
		checkEvents(t, got[session], evs)
		if err := recording.Verify(got[session]); err != nil {
			t.Errorf("session %s: %v", session, err)
		}
	}
	mustBeEmpty(t, s)
}

func TestSpoolNextBlocksUntilAppend(t *testing.T) {
	s := mustOpenSpool(t, t.TempDir(), recording.SpoolOptions{})
	type result struct {
		evs []recording.Event
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	go func() {
		evs, _, err := s.Next(ctx, 10)
		done <- result{evs, err}
	}()
	for !recording.ReaderWaitingForTest(s) {
		runtime.Gosched()
	}
	select {
	case r := <-done:
		t.Fatalf("Next returned before any Append: %d events, %v", len(r.evs), r.err)
	default:
	}
	want := makeEvents(t, "s-block", 2)
	mustAppend(t, s, want...)
	r := <-done
	if r.err != nil {
		t.Fatalf("Next: %v", r.err)
	}
	checkEvents(t, r.evs, want)
}

func TestSpoolNextUnblocks(t *testing.T) {
	tests := []struct {
		name    string
		unblock func(s *recording.Spool, cancel context.CancelFunc)
		want    error
	}{
		{"context canceled", func(s *recording.Spool, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"spool closed", func(s *recording.Spool, cancel context.CancelFunc) { s.Close() }, recording.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustOpenSpool(t, t.TempDir(), recording.SpoolOptions{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, _, err := s.Next(ctx, 10)
				done <- err
			}()
			for !recording.ReaderWaitingForTest(s) {
				runtime.Gosched()
			}
			tt.unblock(s, cancel)
			if err := <-done; !errors.Is(err, tt.want) {
				t.Errorf("Next = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSpoolRewind(t *testing.T) {
	s := mustOpenSpool(t, t.TempDir(), recording.SpoolOptions{SegmentSize: 512})
	want := makeEvents(t, "s-rewind", 30)
	mustAppend(t, s, want...)
	_, pos := mustRead(t, s, 5, 5)
	if err := s.Ack(pos); err != nil {
		t.Fatal(err)
	}
	got, _ := mustRead(t, s, 20, 10)
	checkEvents(t, got, want[5:25])
	s.Rewind()
	got, pos = mustRead(t, s, 25, 25)
	checkEvents(t, got, want[5:])
	if err := s.Ack(pos); err != nil {
		t.Fatal(err)
	}
	mustBeEmpty(t, s)
}

func TestSpoolAckErrors(t *testing.T) {
	s := mustOpenSpool(t, t.TempDir(), recording.SpoolOptions{})
	mustAppend(t, s, makeEvents(t, "s", 10)...)
	_, p5 := mustRead(t, s, 5, 5)
	_, p10 := mustRead(t, s, 5, 5)
	if err := s.Ack(recording.Position{Segment: p10.Segment, Offset: p10.Offset + 1}); err == nil {
		t.Error("Ack beyond the delivered position succeeded")
	}
	if err := s.Ack(p10); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := s.Ack(p10); err != nil {
		t.Errorf("repeated Ack: %v", err)
	}
	if err := s.Ack(p5); err == nil {
		t.Error("Ack before the acknowledged position succeeded")
	}
	if _, _, err := s.Next(context.Background(), 0); err == nil {
		t.Error("Next with max 0 succeeded")
	}
}

func TestSpoolAppendRejectsBadEvents(t *testing.T) {
	good := makeEvents(t, "s-good", 2)
	bad := func(change func(e *recording.Event)) recording.Event {
		e := makeEvents(t, "s-bad", 1)[0]
		change(&e)
		return e
	}
	tests := []struct {
		name string
		ev   recording.Event
	}{
		{"invalid JSON data", bad(func(e *recording.Event) { e.Data = json.RawMessage(`{"a":`) })},
		{"empty data", bad(func(e *recording.Event) { e.Data = nil })},
		{"invalid UTF-8 session", bad(func(e *recording.Event) { e.Session = "s\xff" })},
		{"invalid UTF-8 type", bad(func(e *recording.Event) { e.Type = "\xc3" })},
		{"year beyond 9999", bad(func(e *recording.Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) })},
		{"year beyond 9999 in UTC", bad(func(e *recording.Event) {
			e.Time = time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("W", -5*3600))
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustOpenSpool(t, t.TempDir(), recording.SpoolOptions{})
			if err := s.Append(good[0], tt.ev); err == nil {
				t.Fatal("Append accepted a bad event")
			}
			// Nothing of the failed call was written.
			mustAppend(t, s, good[1])
			got, _ := mustRead(t, s, 1, 10)
			checkEvents(t, got, good[1:])
			mustBeEmpty(t, s)
		})
	}
}

func TestSpoolStringsAndLargeEvents(t *testing.T) {
	s := mustOpenSpool(t, t.TempDir(), recording.SpoolOptions{SegmentSize: 4096})
	c := recording.NewChain("sess \"quoted\" \\ \n\t\x01 ünïcødé \u2028")
	big := fmt.Appendf(nil, `{"rows":%q}`, bytes.Repeat([]byte("x"), 300<<10))
	want := []recording.Event{
		c.Next(t0, "type\x1f<&>", json.RawMessage(`{"s":"\u0000 \" \\"}`)),
		c.Next(t0, recording.TypeResult, big),
		c.Next(t0, recording.TypeSessionEnd, json.RawMessage(`{"n":[1,2.5e10,true,null]}`)),
	}
	for _, e := range want {
		mustAppend(t, s, e)
	}
	got, _ := mustRead(t, s, 3, 10)
	checkEvents(t, got, want)
	if err := recording.Verify(got); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestSpoolAfterClose(t *testing.T) {
	s := mustOpenSpool(t, t.TempDir(), recording.SpoolOptions{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ev := makeEvents(t, "s", 1)
	tests := []struct {
		name string
		call func() error
	}{
		{"Append", func() error { return s.Append(ev...) }},
		{"Sync", s.Sync},
		{"Next", func() error { _, _, err := s.Next(context.Background(), 1); return err }},
		{"Ack", func() error { return s.Ack(recording.Position{Segment: 1}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, recording.ErrClosed) {
				t.Errorf("got %v, want ErrClosed", err)
			}
		})
	}
}

func TestSpoolRestartKeepsFewSegments(t *testing.T) {
	// Reopening without appends must not pile up empty segment files.
	dir := t.TempDir()
	for range 5 {
		s := mustOpenSpool(t, dir, recording.SpoolOptions{})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if files := segmentFiles(t, dir); len(files) != 1 {
		t.Errorf("segment files after 5 empty runs = %v, want 1", files)
	}
}

func statementEvent(tb testing.TB) recording.Event {
	tb.Helper()
	c := recording.NewChain("0193f6a4-5f5e-7c4e-9b1a-3f4c2d1e0a9b")
	data := json.RawMessage(`{"sql":"SELECT id, email, card_number FROM customers WHERE id = $1 AND created_at > $2","params":["42","2026-01-01"],"decision":"allow","rule":"ci-deploy/1"}`)
	return c.Next(time.Now(), recording.TypeStatement, data)
}

func TestSpoolAppendAllocs(t *testing.T) {
	s := mustOpenSpool(t, t.TempDir(), recording.SpoolOptions{SyncInterval: -1})
	ev := statementEvent(t)
	mustAppend(t, s, ev) // warm the buffer
	allocs := testing.AllocsPerRun(200, func() {
		if err := s.Append(ev); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("Append allocates %.1f times per call, want at most 1", allocs)
	}
}

func BenchmarkSpoolAppend(b *testing.B) {
	s := mustOpenSpool(b, b.TempDir(), recording.SpoolOptions{})
	ev := statementEvent(b)
	b.ReportAllocs()
	cpu := processCPU(b)
	for b.Loop() {
		if err := s.Append(ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
}

func BenchmarkSpoolAppendParallel(b *testing.B) {
	s := mustOpenSpool(b, b.TempDir(), recording.SpoolOptions{})
	ev := statementEvent(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Append(ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
