package recording

import (
	"context"
	"fmt"
	"time"
)

const (
	shipMinBackoff = 100 * time.Millisecond
	shipMaxBackoff = 5 * time.Second
	// shipLinger is how long Ship waits after sending a batch smaller than
	// max, so that under load events travel in large batches: one store
	// transaction and one ack per batch, not per event. It bounds how late
	// an event reaches the store when the spool is quiet.
	shipLinger = 20 * time.Millisecond
)

// Ship sends the spool's events in batches of up to max until ctx is done:
// Next, send, then Ack once send returns nil. When send fails, Ship rewinds
// the spool and sends the same events again after a pause that doubles from
// 100ms up to 5s, and falls back to 100ms after a success; send should log
// its own failures. Events reach send in spool order, each one at least once;
// after a failed send or a restart, send sees again what it may already have
// stored, so the receiver must treat a repeated (session, seq) as the same
// event.
//
// Ship returns nil when ctx is done, and an error when the spool fails (for
// example ErrClosed after Close).
func Ship(ctx context.Context, s *Spool, max int, send func(context.Context, []Event) error) error {
	var backoff time.Duration
	for {
		evs, pos, err := s.Next(ctx, max)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("ship: %w", err)
		}
		if err := send(ctx, evs); err != nil {
			s.Rewind()
			backoff = nextBackoff(backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		backoff = 0
		if err := s.Ack(pos); err != nil {
			return fmt.Errorf("ship: %w", err)
		}
		if len(evs) < max {
			t := time.NewTimer(shipLinger)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
		}
	}
}

// nextBackoff doubles the pause after a failed send, within its bounds.
func nextBackoff(d time.Duration) time.Duration {
	return min(max(2*d, shipMinBackoff), shipMaxBackoff)
}
