package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// typeStatement is the event type that Session.Statements counts.
const typeStatement = "statement"

const sqlInsertChunk = `INSERT INTO event_chunks (session, first_seq, last_seq, n, data) VALUES (?, ?, ?, ?, ?)`

// sqlInsertNewChunk inserts a chunk only if it starts above the session's
// highest stored seq (see sqlLastSeq).
const sqlInsertNewChunk = `INSERT INTO event_chunks (session, first_seq, last_seq, n, data)
	SELECT ?1, ?2, ?3, ?4, ?5
	WHERE coalesce((SELECT last_seq FROM event_chunks WHERE session = ?1 ORDER BY first_seq DESC LIMIT 1), 0) < ?2`

// sqlLastSeq returns the highest seq stored for a session: chunks cover
// disjoint ranges, so the last chunk by first_seq holds it.
const sqlLastSeq = `SELECT last_seq FROM event_chunks WHERE session = ? ORDER BY first_seq DESC LIMIT 1`

// sqlChunksAfter selects a session's chunks holding seqs > ?2 in order, at
// most ?3 of them (-1: all). Only the chunk starting at or before ?2 can
// straddle it; starting there keeps the scan on the primary key instead of
// reading every chunk of the session to test last_seq.
const sqlChunksAfter = `SELECT first_seq, last_seq, n, data FROM event_chunks
	WHERE session = ?1 AND last_seq > ?2 AND first_seq >= coalesce(
		(SELECT first_seq FROM event_chunks WHERE session = ?1 AND first_seq <= ?2
			ORDER BY first_seq DESC LIMIT 1), 0)
	ORDER BY first_seq LIMIT ?3`

// sqlChunksOverlapping selects a session's chunks whose ranges overlap
// [?2, ?3], in order.
const sqlChunksOverlapping = `SELECT first_seq, last_seq, n, data FROM event_chunks
	WHERE session = ?1 AND last_seq >= ?2 AND first_seq <= ?3 AND first_seq >= coalesce(
		(SELECT first_seq FROM event_chunks WHERE session = ?1 AND first_seq <= ?2
			ORDER BY first_seq DESC LIMIT 1), 0)
	ORDER BY first_seq`

// sqlBumpStats adds one batch's newly stored events to a session's counters.
// All expressions in an UPDATE SET see the row's old values, so last_hash is
// chosen against the old last_seq.
const sqlBumpStats = `INSERT INTO session_stats (session, statements, last_seq, last_hash)
	VALUES (?, ?, ?, ?)
	ON CONFLICT (session) DO UPDATE SET
		statements = statements + excluded.statements,
		last_hash = CASE WHEN excluded.last_seq > last_seq THEN excluded.last_hash ELSE last_hash END,
		last_seq = max(last_seq, excluded.last_seq)`

// chunkBufs holds chunk encoding buffers (*[]byte) between AppendEvents
// calls.
var chunkBufs = sync.Pool{New: func() any { return new([]byte) }}

// AppendEvents stores evs in one transaction. Events already stored (same
// session and seq) are ignored and do not count twice; of events repeated
// within evs the first is kept. Sessions need not exist yet. Seq must be at
// least 1 (ListEvents returns seq > after, with after starting at 0) and
// fit in an int64.
//
// The events of each session go into new chunks. Events with a seq above
// the session's highest stored one, the shipper's steady state, are new:
// the insert checks that itself, reading nothing else. Events at or below
// it are a resend, or arrive late: they cost a read of the chunks covering
// their range, and are stored if missing (filling a gap), by rewriting
// those chunks together with them. Nothing is dropped for arriving out of
// order; a chunk in that range that does not decode fails the call.
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
		if _, err := nanos(e.Time); err != nil {
			return fmt.Errorf("append events: session %s seq %d: %w", e.Session, e.Seq, err)
		}
	}
	batches := bySession(evs)
	buf := chunkBufs.Get().(*[]byte)
	defer func() {
		if cap(*buf) <= 2*maxChunkBytes {
			chunkBufs.Put(buf)
		}
	}()
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// The tx already rolls back when ctx ends. Giving each statement a
		// context that cannot end spares the driver a watcher goroutine per
		// statement; ctx is still checked between sessions.
		nc := context.WithoutCancel(ctx)
		w := chunkWriter{ins: tx.StmtContext(nc, db.insertChunk), insNew: tx.StmtContext(nc, db.insertNewChunk)}
		w.enc.reset(*buf)
		defer func() { *buf = w.enc.buf }()
		lastSeq := tx.StmtContext(nc, db.lastSeq)
		bump := tx.StmtContext(nc, db.bumpStats)
		for _, b := range batches {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := db.appendSession(nc, tx, lastSeq, bump, &w, b); err != nil {
				return fmt.Errorf("session %s: %w", b.session, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	return nil
}

// sessionBatch is the events of one session in an AppendEvents call.
type sessionBatch struct {
	session string
	evs     []*store.Event // increasing seqs, no repeats
}

// bySession groups evs by session, in order of first appearance, each
// group sorted by seq with repeats dropped (the first kept).
func bySession(evs []store.Event) []sessionBatch {
	// Batches hold a handful of sessions; a linear search beats a map.
	var out []sessionBatch
	cur := -1
	for i := range evs {
		e := &evs[i]
		if cur < 0 || out[cur].session != e.Session {
			cur = slices.IndexFunc(out, func(b sessionBatch) bool { return b.session == e.Session })
			if cur < 0 {
				out = append(out, sessionBatch{session: e.Session})
				cur = len(out) - 1
			}
		}
		out[cur].evs = append(out[cur].evs, e)
	}
	for i := range out {
		b := &out[i]
		if slices.IsSortedFunc(b.evs, func(x, y *store.Event) int {
			// Equal seqs count as unsorted, so repeats are dropped below.
			if x.Seq < y.Seq {
				return -1
			}
			return 1
		}) {
			continue
		}
		slices.SortStableFunc(b.evs, func(x, y *store.Event) int { return cmp.Compare(x.Seq, y.Seq) })
		b.evs = slices.CompactFunc(b.evs, func(x, y *store.Event) bool { return x.Seq == y.Seq })
	}
	return out
}

// appendSession stores one session's events and advances its counters.
func (db *DB) appendSession(ctx context.Context, tx *sql.Tx, lastSeq, bump *sql.Stmt, w *chunkWriter, b sessionBatch) error {
	// The steady state: all events are above the session's highest stored
	// seq. The insert checks that itself, sparing a query per session.
	late, fresh := []*store.Event(nil), b.evs
	err := w.write(ctx, b.session, true, fresh)
	if errors.Is(err, errNotNew) {
		// Nothing of the session was inserted. Split the events.
		var stored int64
		if err := lastSeq.QueryRowContext(ctx, b.session).Scan(&stored); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read last seq: %w", err)
		}
		i, _ := slices.BinarySearchFunc(b.evs, uint64(stored)+1, func(e *store.Event, seq uint64) int { return cmp.Compare(e.Seq, seq) })
		late, fresh = b.evs[:i], b.evs[i:]
		if late, err = fillGaps(ctx, tx, w, b.session, late); err != nil {
			return err
		}
		err = w.write(ctx, b.session, true, fresh)
	}
	if err != nil {
		return err
	}

	var st batchStats
	st.count(late)
	st.count(fresh)
	if st.inserted == 0 {
		return nil
	}
	if _, err := bump.ExecContext(ctx, b.session, st.statements, int64(st.maxSeq), st.maxHash); err != nil {
		return fmt.Errorf("update counters: %w", err)
	}
	return nil
}

// batchStats is what one AppendEvents call newly stored for one session.
type batchStats struct {
	inserted   int64
	statements int64
	maxSeq     uint64
	maxHash    string
}

// count adds newly stored events, in seq order, to the counters.
func (st *batchStats) count(evs []*store.Event) {
	for _, e := range evs {
		if e.Type == typeStatement {
			st.statements++
		}
	}
	if len(evs) > 0 && evs[len(evs)-1].Seq > st.maxSeq {
		st.maxSeq, st.maxHash = evs[len(evs)-1].Seq, evs[len(evs)-1].Hash
	}
	st.inserted += int64(len(evs))
}

// fillGaps stores those of late (a session's events at or below its highest
// stored seq, in order) that are not stored yet, and returns them. The
// chunks covering their range are decoded; when some are missing, those
// chunks are deleted and written again merged with them, which keeps the
// session's chunk ranges disjoint.
func fillGaps(ctx context.Context, tx *sql.Tx, w *chunkWriter, session string, late []*store.Event) ([]*store.Event, error) {
	if len(late) == 0 {
		return nil, nil
	}
	lo, hi := late[0].Seq, late[len(late)-1].Seq
	rows, err := tx.QueryContext(ctx, sqlChunksOverlapping, session, int64(lo), int64(hi))
	if err != nil {
		return nil, fmt.Errorf("read chunks %d-%d: %w", lo, hi, err)
	}
	var (
		d      chunkDecoder
		have   []store.Event
		firsts []int64
	)
	for rows.Next() {
		c, err := scanChunk(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("read chunks %d-%d: %w", lo, hi, err)
		}
		if have, err = c.decode(&d, have, session); err != nil {
			rows.Close()
			return nil, err
		}
		firsts = append(firsts, c.first)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("read chunks %d-%d: %w", lo, hi, err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read chunks %d-%d: %w", lo, hi, err)
	}

	// Merge the stored events and the missing late ones, stored first.
	var (
		missing []*store.Event
		merged  = make([]*store.Event, 0, len(have)+len(late))
		j       int
	)
	for _, e := range late {
		for j < len(have) && have[j].Seq < e.Seq {
			merged = append(merged, &have[j])
			j++
		}
		if j < len(have) && have[j].Seq == e.Seq {
			continue // already stored
		}
		missing = append(missing, e)
		merged = append(merged, e)
	}
	if len(missing) == 0 {
		return nil, nil
	}
	for ; j < len(have); j++ {
		merged = append(merged, &have[j])
	}
	for _, first := range firsts {
		if _, err := tx.ExecContext(ctx, `DELETE FROM event_chunks WHERE session = ? AND first_seq = ?`, session, first); err != nil {
			return nil, fmt.Errorf("rewrite chunk %d: %w", first, err)
		}
	}
	if err := w.write(ctx, session, false, merged); err != nil {
		return nil, err
	}
	return missing, nil
}

// errNotNew is returned by chunkWriter.flush for the first chunk since
// start when onlyNew is set and the chunk starts at or below its session's
// highest stored seq.
var errNotNew = errors.New("chunk not above the stored events")

// chunkWriter encodes one session's events at a time into chunks and
// inserts them.
type chunkWriter struct {
	ins    *sql.Stmt // sqlInsertChunk
	insNew *sql.Stmt // sqlInsertNewChunk; nil for writers that never set onlyNew

	enc     chunkEncoder
	session string
	onlyNew bool
	first   uint64
	chunks  int // inserted since start
}

// write writes evs, in increasing seq order, as the chunks of session.
func (w *chunkWriter) write(ctx context.Context, session string, onlyNew bool, evs []*store.Event) error {
	w.start(session, onlyNew)
	for _, e := range evs {
		if err := w.add(ctx, e); err != nil {
			return err
		}
	}
	return w.flush(ctx)
}

// start begins writing session's events, discarding any not flushed.
// With onlyNew, chunks are inserted only above the session's highest
// stored seq.
func (w *chunkWriter) start(session string, onlyNew bool) {
	w.session, w.onlyNew, w.chunks = session, onlyNew, 0
	w.enc.reset(w.enc.buf)
}

// add writes e, whose seq must be above those added since start, inserting
// a chunk when it is full.
func (w *chunkWriter) add(ctx context.Context, e *store.Event) error {
	if w.enc.n == 0 {
		w.first = e.Seq
	}
	w.enc.add(e)
	if w.enc.full() {
		return w.flush(ctx)
	}
	return nil
}

// flush inserts the events added since the last flush, if any.
func (w *chunkWriter) flush(ctx context.Context) error {
	if w.enc.n == 0 {
		return nil
	}
	n, last := w.enc.n, w.enc.lastSeq
	ins := w.ins
	if w.onlyNew {
		ins = w.insNew
	}
	res, err := ins.ExecContext(ctx, w.session, int64(w.first), int64(last), n, w.enc.bytes())
	if err != nil {
		return fmt.Errorf("insert chunk %d-%d (%d events): %w", w.first, last, n, err)
	}
	if w.onlyNew {
		got, err := res.RowsAffected()
		switch {
		case err != nil:
			return fmt.Errorf("insert chunk %d-%d (%d events): %w", w.first, last, n, err)
		case got == 0 && w.chunks == 0:
			return errNotNew
		case got == 0:
			// The chunk before was inserted, so this one is above it.
			return fmt.Errorf("insert chunk %d-%d (%d events): not above the chunk before", w.first, last, n)
		}
	}
	w.chunks++
	w.enc.reset(w.enc.buf)
	return nil
}

// chunk is an event_chunks row without its session.
type chunk struct {
	first, last, n int64
	data           []byte
}

func scanChunk(sc scanner) (chunk, error) {
	var c chunk
	err := sc.Scan(&c.first, &c.last, &c.n, &c.data)
	return c, err
}

// decode appends the chunk's events to evs and checks them against the
// row's columns. The events' Data aliases c.data.
func (c chunk) decode(d *chunkDecoder, evs []store.Event, session string) ([]store.Event, error) {
	start := len(evs)
	evs, err := d.decode(evs, session, c.data)
	if err == nil {
		got := evs[start:]
		if int64(len(got)) != c.n || int64(got[0].Seq) != c.first || int64(got[len(got)-1].Seq) != c.last {
			err = fmt.Errorf("%w: %d events %d-%d, row says %d events %d-%d", errCorrupt,
				len(got), got[0].Seq, got[len(got)-1].Seq, c.n, c.first, c.last)
			evs = evs[:start]
		}
	}
	if err != nil {
		return evs, fmt.Errorf("chunk %d: %w", c.first, err)
	}
	return evs, nil
}

// ListEvents returns the session's events with seq > after in seq order, at
// most limit of them (zero or less means all). An unknown session has no
// events. It reads only the chunks it returns events from.
func (db *DB) ListEvents(ctx context.Context, session string, after uint64, limit int) ([]store.Event, error) {
	if after >= math.MaxInt64 {
		return nil, nil
	}
	lim := int64(limit) // every chunk selected holds at least one event to return
	if limit <= 0 {
		lim = -1 // SQLite: no limit
	}
	rows, err := db.r.QueryContext(ctx, sqlChunksAfter, session, int64(after), lim)
	if err != nil {
		return nil, fmt.Errorf("list events %s: %w", session, err)
	}
	defer rows.Close()
	var (
		out []store.Event
		d   chunkDecoder
	)
	for rows.Next() {
		c, err := scanChunk(rows)
		if err != nil {
			return nil, fmt.Errorf("list events %s: %w", session, err)
		}
		start := len(out)
		if out, err = c.decode(&d, out, session); err != nil {
			return nil, fmt.Errorf("list events %s: %w", session, err)
		}
		if skip := firstAfter(out[start:], after); skip > 0 {
			out = slices.Delete(out, start, start+skip)
		}
		if limit > 0 && len(out) >= limit {
			clear(out[limit:])
			return out[:limit], nil
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events %s: %w", session, err)
	}
	return out, nil
}

// firstAfter returns the index of the first of evs, in seq order, with
// seq > after.
func firstAfter(evs []store.Event, after uint64) int {
	i, _ := slices.BinarySearchFunc(evs, after+1, func(e store.Event, seq uint64) int { return cmp.Compare(e.Seq, seq) })
	return i
}

// moveEventsToChunks is migration 3's Go step: it encodes the rows of the
// events table into chunks, session by session in seq order, and drops the
// table.
func moveEventsToChunks(ctx context.Context, tx *sql.Tx) error {
	ins, err := tx.PrepareContext(ctx, sqlInsertChunk)
	if err != nil {
		return fmt.Errorf("move events: %w", err)
	}
	defer ins.Close()
	rows, err := tx.QueryContext(ctx, `SELECT session, seq, time, type, data, prev, hash FROM events ORDER BY session, seq`)
	if err != nil {
		return fmt.Errorf("move events: %w", err)
	}
	defer rows.Close()
	w := chunkWriter{ins: ins}
	for rows.Next() {
		var (
			e   store.Event
			seq int64
			at  sql.NullInt64
		)
		if err := rows.Scan(&e.Session, &seq, &at, &e.Type, &e.Data, &e.Prev, &e.Hash); err != nil {
			return fmt.Errorf("move events: %w", err)
		}
		if seq < 1 {
			return fmt.Errorf("move events: session %s: seq %d out of range", e.Session, seq)
		}
		e.Seq, e.Time = uint64(seq), timeOf(at)
		if e.Session != w.session {
			if err := w.flush(ctx); err != nil {
				return fmt.Errorf("move events: session %s: %w", w.session, err)
			}
			w.start(e.Session, false)
		}
		if err := w.add(ctx, &e); err != nil {
			return fmt.Errorf("move events: session %s: %w", e.Session, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("move events: %w", err)
	}
	if err := w.flush(ctx); err != nil {
		return fmt.Errorf("move events: session %s: %w", w.session, err)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("move events: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE events`); err != nil {
		return fmt.Errorf("move events: %w", err)
	}
	return nil
}
