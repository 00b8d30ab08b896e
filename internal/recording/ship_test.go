package recording_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/recording"
)

// store is a receiver that keeps each (session, seq) once and checks that new
// events arrive exactly in spool order.
type store struct {
	mu     sync.Mutex
	want   []recording.Event
	stored []recording.Event
	seen   map[string]bool
	err    error
}

func (st *store) put(evs []recording.Event) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, e := range evs {
		key := fmt.Sprintf("%s/%d", e.Session, e.Seq)
		if st.seen[key] {
			continue // a repeat after a failed send
		}
		if n := len(st.stored); n >= len(st.want) || st.want[n].Hash != e.Hash {
			if st.err == nil {
				st.err = fmt.Errorf("event %d: got %s, want the next in spool order", n, key)
			}
			continue
		}
		st.seen[key] = true
		st.stored = append(st.stored, e)
	}
}

func (st *store) count() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.stored)
}

func TestShipDeliversEverythingInOrder(t *testing.T) {
	dir := t.TempDir()
	s := mustOpenSpool(t, dir, recording.SpoolOptions{SegmentSize: 2048})

	// Three sessions interleaved, appended one event at a time while Ship
	// runs.
	var want []recording.Event
	sessions := [][]recording.Event{makeEvents(t, "a", 100), makeEvents(t, "b", 100), makeEvents(t, "c", 100)}
	for i := range 100 {
		for _, evs := range sessions {
			want = append(want, evs[i])
		}
	}
	st := &store{want: want, seen: make(map[string]bool)}

	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	var (
		calls   int
		batches []int
	)
	send := func(ctx context.Context, evs []recording.Event) error {
		calls++
		batches = append(batches, len(evs))
		switch calls % 6 {
		case 1:
			return errors.New("gateway unreachable")
		case 4:
			st.put(evs)
			return errors.New("ack lost") // stored, but Ship must not know
		}
		st.put(evs)
		if st.count() == len(want) {
			cancel()
		}
		return nil
	}
	shipped := make(chan error, 1)
	go func() { shipped <- recording.Ship(ctx, s, 16, send) }()

	for _, e := range want {
		mustAppend(t, s, e)
	}
	if err := <-shipped; err != nil {
		t.Fatalf("Ship: %v", err)
	}
	if st.err != nil {
		t.Fatal(st.err)
	}
	checkEvents(t, st.stored, want)
	for _, n := range batches {
		if n < 1 || n > 16 {
			t.Fatalf("send got a batch of %d, want 1..16", n)
		}
	}
	if calls < 6 {
		t.Fatalf("send called %d times; the test meant to fail some sends", calls)
	}

	// Everything was acknowledged: after a restart nothing is sent again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustBeEmpty(t, mustOpenSpool(t, dir, recording.SpoolOptions{}))
}

func TestShipStopsOnClosedSpool(t *testing.T) {
	s := mustOpenSpool(t, t.TempDir(), recording.SpoolOptions{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	err := recording.Ship(context.Background(), s, 10, func(context.Context, []recording.Event) error { return nil })
	if !errors.Is(err, recording.ErrClosed) {
		t.Errorf("Ship = %v, want ErrClosed", err)
	}
}

func TestShipBackoff(t *testing.T) {
	tests := []struct {
		name string
		prev time.Duration
		want time.Duration
	}{
		{"first failure", 0, 100 * time.Millisecond},
		{"doubles", 100 * time.Millisecond, 200 * time.Millisecond},
		{"doubles again", 1600 * time.Millisecond, 3200 * time.Millisecond},
		{"capped", 3200 * time.Millisecond, 5 * time.Second},
		{"stays capped", 5 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := recording.NextBackoffForTest(tt.prev); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
