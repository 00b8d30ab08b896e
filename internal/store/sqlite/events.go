package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// typeStatement is the event type that Session.Statements counts.
const typeStatement = "statement"

const sqlInsertEvent = `INSERT OR IGNORE INTO events (session, seq, time, type, data, prev, hash)
	VALUES (?, ?, ?, ?, ?, ?, ?)`

// insertChunk is the most rows one multi-row insert carries: 64 rows of 7
// parameters stay far below SQLite's parameter limit, and larger statements
// save little more per row.
const insertChunk = 64

// eventCols is the number of parameters one event row binds.
const eventCols = 7

// sqlInsertEvents returns a statement inserting n events, ignoring those
// already stored.
func sqlInsertEvents(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT OR IGNORE INTO events (session, seq, time, type, data, prev, hash) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?)")
	}
	return b.String()
}

// errDuplicates makes AppendEvents roll back a batch in which a multi-row
// insert skipped rows, and store it again row by row.
var errDuplicates = errors.New("batch holds events already stored")

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
//
// Events go in multi-row inserts of up to insertChunk rows. When one of them
// skips a row (an event already stored, or twice in evs: rare, after a
// shipper's retry or restart), the batch is rolled back and stored again
// row by row, so the counters only ever count rows that were inserted.
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
	// Prepared before the transaction: the writer pool's one connection is
	// busy during it.
	full, err := db.insertStmt(ctx, min(len(evs), insertChunk))
	if err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	rest, err := db.insertStmt(ctx, len(evs)%insertChunk)
	if err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	// Batches usually hold one session; a slice beats a map here.
	stats := make([]batchStats, 0, 1)
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		return db.insertChunks(ctx, tx, evs, full, rest, &stats)
	})
	if errors.Is(err, errDuplicates) {
		stats = stats[:0]
		err = db.inTx(ctx, func(tx *sql.Tx) error {
			return db.insertRows(ctx, tx, evs, &stats)
		})
	}
	if err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	return nil
}

// insertStmt returns the prepared statement inserting n events (nil for
// n == 0), preparing it on first use.
func (db *DB) insertStmt(ctx context.Context, n int) (*sql.Stmt, error) {
	switch {
	case n == 0:
		return nil, nil
	case n == 1:
		return db.insertEvent, nil
	}
	db.insertMu.Lock()
	defer db.insertMu.Unlock()
	if st := db.insertEvents[n]; st != nil {
		return st, nil
	}
	st, err := db.w.PrepareContext(ctx, sqlInsertEvents(n))
	if err != nil {
		return nil, fmt.Errorf("prepare insert of %d events: %w", n, err)
	}
	db.insertEvents[n] = st
	return st, nil
}

// insertChunks inserts evs in multi-row statements: full for each chunk of
// insertChunk events, rest for the remainder. It returns errDuplicates as
// soon as a statement inserts fewer rows than it carries; the caller must
// then roll back, as some rows of that chunk may have been inserted.
func (db *DB) insertChunks(ctx context.Context, tx *sql.Tx, evs []store.Event, full, rest *sql.Stmt, stats *[]batchStats) error {
	// The tx already rolls back when ctx ends. Giving each insert a context
	// that cannot end spares the driver a watcher goroutine per statement;
	// ctx is still checked between chunks.
	nc := context.WithoutCancel(ctx)
	args := make([]any, 0, eventCols*min(len(evs), insertChunk))
	var fullTx *sql.Stmt
	for len(evs) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(evs), insertChunk)
		chunk := evs[:n]
		evs = evs[n:]
		args = args[:0]
		for i := range chunk {
			e := &chunk[i]
			at, err := nanos(e.Time)
			if err != nil {
				return fmt.Errorf("session %s seq %d: %w", e.Session, e.Seq, err)
			}
			args = append(args, e.Session, int64(e.Seq), at, e.Type, eventData(e.Data), e.Prev, e.Hash)
		}
		var ins *sql.Stmt
		if n == insertChunk || rest == nil {
			if fullTx == nil {
				fullTx = tx.StmtContext(nc, full)
			}
			ins = fullTx
		} else {
			ins = tx.StmtContext(nc, rest)
		}
		first := &chunk[0]
		res, err := ins.ExecContext(nc, args...)
		if err != nil {
			return fmt.Errorf("session %s seq %d (%d events): %w", first.Session, first.Seq, n, err)
		}
		got, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("session %s seq %d (%d events): %w", first.Session, first.Seq, n, err)
		}
		if got != int64(n) {
			return errDuplicates
		}
		for i := range chunk {
			count(stats, &chunk[i])
		}
	}
	return bumpStats(ctx, tx, db.bumpStats, *stats)
}

// insertRows inserts evs one by one, counting only those not stored yet.
func (db *DB) insertRows(ctx context.Context, tx *sql.Tx, evs []store.Event, stats *[]batchStats) error {
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
		res, err := ins.ExecContext(nc, e.Session, int64(e.Seq), at, e.Type, eventData(e.Data), e.Prev, e.Hash)
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
		count(stats, e)
	}
	return bumpStats(ctx, tx, db.bumpStats, *stats)
}

// eventData returns the value bound for an event's data: never NULL.
func eventData(d []byte) []byte {
	if d == nil {
		return []byte{}
	}
	return d
}

// count adds a newly inserted event to its session's batch counters.
func count(stats *[]batchStats, e *store.Event) {
	st := statsFor(stats, e.Session)
	st.inserted++
	if e.Type == typeStatement {
		st.statements++
	}
	if e.Seq > st.maxSeq {
		st.maxSeq, st.maxHash = e.Seq, e.Hash
	}
}

// bumpStats adds a batch's counters to session_stats.
func bumpStats(ctx context.Context, tx *sql.Tx, stmt *sql.Stmt, stats []batchStats) error {
	if len(stats) == 0 {
		return nil
	}
	bump := tx.StmtContext(ctx, stmt)
	for _, st := range stats {
		if _, err := bump.ExecContext(ctx, st.session, st.statements, int64(st.maxSeq), st.maxHash); err != nil {
			return fmt.Errorf("session %s: update counters: %w", st.session, err)
		}
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
