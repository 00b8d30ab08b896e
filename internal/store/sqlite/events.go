package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// typeStatement is the event type that Session.Statements counts.
const typeStatement = "statement"

const sqlInsertEvent = `INSERT OR IGNORE INTO events (session, seq, time, type, data, prev, hash)
	VALUES (?, ?, ?, ?, ?, ?, ?)`

// sqlBumpStats adds one batch's newly stored events to a session's counters.
// All expressions in an UPDATE SET see the row's old values, so last_hash is
// chosen against the old last_seq.
const sqlBumpStats = `INSERT INTO session_stats (session, statements, last_seq, last_hash)
	VALUES (?, ?, ?, ?)
	ON CONFLICT (session) DO UPDATE SET
		statements = statements + excluded.statements,
		last_hash = CASE WHEN excluded.last_seq > last_seq THEN excluded.last_hash ELSE last_hash END,
		last_seq = max(last_seq, excluded.last_seq)`

// batchStats is what one AppendEvents call newly stored for one session.
type batchStats struct {
	session    string
	inserted   int64
	statements int64
	maxSeq     uint64
	maxHash    string
}

// AppendEvents stores evs in one transaction. Events already stored (same
// session and seq) are ignored and do not count twice. Sessions need not
// exist yet. Seq must be at least 1 (ListEvents returns seq > after, with
// after starting at 0) and fit in an int64.
func (db *DB) AppendEvents(ctx context.Context, evs []store.Event) error {
	if len(evs) == 0 {
		return nil
	}
	for i := range evs {
		e := &evs[i]
		if e.Session == "" {
			return fmt.Errorf("append events: event %d: empty session", i)
		}
		if e.Seq == 0 || e.Seq > math.MaxInt64 {
			return fmt.Errorf("append events: session %s: seq %d out of range", e.Session, e.Seq)
		}
	}
	// Batches usually hold one session; a slice beats a map here.
	stats := make([]batchStats, 0, 1)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// The tx already rolls back when ctx ends. Giving each small insert
		// a context that cannot end spares the driver a watcher goroutine
		// per statement (a third of the cost of a batch); ctx is still
		// checked between events.
		nc := context.WithoutCancel(ctx)
		ins := tx.StmtContext(nc, db.insertEvent)
		for i := range evs {
			if err := ctx.Err(); err != nil {
				return err
			}
			e := &evs[i]
			at, err := nanos(e.Time)
			if err != nil {
				return fmt.Errorf("session %s seq %d: %w", e.Session, e.Seq, err)
			}
			data := []byte(e.Data)
			if data == nil {
				data = []byte{}
			}
			res, err := ins.ExecContext(nc, e.Session, int64(e.Seq), at, e.Type, data, e.Prev, e.Hash)
			if err != nil {
				return fmt.Errorf("session %s seq %d: %w", e.Session, e.Seq, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("session %s seq %d: %w", e.Session, e.Seq, err)
			}
			if n == 0 {
				continue // already stored
			}
			st := statsFor(&stats, e.Session)
			st.inserted++
			if e.Type == typeStatement {
				st.statements++
			}
			if e.Seq > st.maxSeq {
				st.maxSeq, st.maxHash = e.Seq, e.Hash
			}
		}
		bump := tx.StmtContext(ctx, db.bumpStats)
		for _, st := range stats {
			if _, err := bump.ExecContext(ctx, st.session, st.statements, int64(st.maxSeq), st.maxHash); err != nil {
				return fmt.Errorf("session %s: update counters: %w", st.session, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	return nil
}

func statsFor(stats *[]batchStats, session string) *batchStats {
	s := *stats
	for i := range s {
		if s[i].session == session {
			return &s[i]
		}
	}
	*stats = append(s, batchStats{session: session})
	return &(*stats)[len(*stats)-1]
}

// ListEvents returns the session's events with seq > after in seq order, at
// most limit of them (zero means all). An unknown session has no events.
func (db *DB) ListEvents(ctx context.Context, session string, after uint64, limit int) ([]store.Event, error) {
	if after >= math.MaxInt64 {
		return nil, nil
	}
	lim := int64(limit)
	if limit <= 0 {
		lim = -1 // SQLite: no limit
	}
	rows, err := db.r.QueryContext(ctx, `SELECT seq, time, type, data, prev, hash FROM events
		WHERE session = ? AND seq > ? ORDER BY seq LIMIT ?`, session, int64(after), lim)
	if err != nil {
		return nil, fmt.Errorf("list events %s: %w", session, err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var (
			e   = store.Event{Session: session}
			seq int64
			at  sql.NullInt64
		)
		if err := rows.Scan(&seq, &at, &e.Type, &e.Data, &e.Prev, &e.Hash); err != nil {
			return nil, fmt.Errorf("list events %s: %w", session, err)
		}
		e.Seq = uint64(seq)
		e.Time = timeOf(at)
		if len(e.Data) == 0 {
			e.Data = nil
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events %s: %w", session, err)
	}
	return out, nil
}
