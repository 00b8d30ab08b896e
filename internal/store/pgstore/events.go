package pgstore

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// typeStatement is the event type that Session.Statements counts.
const typeStatement = "statement"

// sqlAppendEvents stores a batch of events given as parallel arrays, in
// (session, seq) order, and adds what it stored to the sessions'
// counters, in one statement. Rows already stored are skipped by ON
// CONFLICT and so neither stored again nor counted; a concurrent insert of
// the same row makes the statement wait for that transaction and then skip
// it. Taking row locks in (session, seq) order, and the counters' in
// session order, keeps two batches from deadlocking each other.
// last_hash is chosen against the old last_seq, so filling a gap below it
// leaves both alone.
const sqlAppendEvents = `WITH ins AS (
		INSERT INTO events (session, seq, time, time_ns, type, data, prev, hash)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::smallint[],
			$5::text[], $6::bytea[], $7::text[], $8::text[])
		ON CONFLICT (session, seq) DO NOTHING
		RETURNING session, seq, type, hash
	), batch AS (
		SELECT session,
			count(*) FILTER (WHERE type = '` + typeStatement + `') AS statements,
			max(seq) AS last_seq,
			(array_agg(hash ORDER BY seq DESC))[1] AS last_hash
		FROM ins GROUP BY session
	)
	INSERT INTO session_stats AS st (session, statements, last_seq, last_hash)
	SELECT session, statements, last_seq, last_hash FROM batch ORDER BY session
	ON CONFLICT (session) DO UPDATE SET
		statements = st.statements + excluded.statements,
		last_hash = CASE WHEN excluded.last_seq > st.last_seq THEN excluded.last_hash ELSE st.last_hash END,
		last_seq = greatest(st.last_seq, excluded.last_seq)`

// eventArrays are the parameters of sqlAppendEvents, reused between calls.
type eventArrays struct {
	order    []*store.Event
	sessions []string
	seqs     []int64
	times    []pgtype.Timestamptz
	ns       []int16
	types    []string
	data     [][]byte
	prevs    []string
	hashes   []string
}

// maxPooledEvents bounds the arrays kept for reuse, so one huge batch does
// not pin its memory.
const maxPooledEvents = 4096

var arraysPool = sync.Pool{New: func() any { return new(eventArrays) }}

// reset empties the arrays, dropping their references to events.
func (a *eventArrays) reset() {
	clear(a.order)
	clear(a.sessions)
	clear(a.data)
	clear(a.types)
	clear(a.prevs)
	clear(a.hashes)
	a.order, a.sessions, a.seqs, a.times, a.ns = a.order[:0], a.sessions[:0], a.seqs[:0], a.times[:0], a.ns[:0]
	a.types, a.data, a.prevs, a.hashes = a.types[:0], a.data[:0], a.prevs[:0], a.hashes[:0]
}

// noData stands for a nil payload: the column is NOT NULL.
var noData = []byte{}

// AppendEvents stores evs and advances each session's counters in one
// statement, so in one round trip and atomically. Events already stored
// (same session and seq) are ignored and do not count twice; of events
// repeated within evs the first is kept. Events may arrive in any order,
// below the highest stored seq (filling a gap) included. Sessions need
// not exist yet. Seq must be at least 1 and fit in an int64.
func (s *Store) AppendEvents(ctx context.Context, evs []store.Event) error {
	if len(evs) == 0 {
		return nil
	}
	a := arraysPool.Get().(*eventArrays)
	defer func() {
		a.reset()
		if cap(a.order) <= maxPooledEvents {
			arraysPool.Put(a)
		}
	}()
	sorted := true
	for i := range evs {
		e := &evs[i]
		if e.Session == "" {
			return fmt.Errorf("append events: event %d: empty session", i)
		}
		if e.Seq == 0 || e.Seq > math.MaxInt64 {
			return fmt.Errorf("append events: session %s: seq %d out of range", e.Session, e.Seq)
		}
		if i > 0 && sorted && compareEvents(&evs[i-1], e) >= 0 {
			sorted = false
		}
		a.order = append(a.order, e)
	}
	if !sorted {
		// Stable, so that of repeated events the first is kept.
		slices.SortStableFunc(a.order, compareEvents)
		a.order = slices.CompactFunc(a.order, func(x, y *store.Event) bool { return compareEvents(x, y) == 0 })
	}
	for _, e := range a.order {
		t, err := toPG(e.Time)
		if err != nil {
			return fmt.Errorf("append events: session %s seq %d: %w", e.Session, e.Seq, err)
		}
		data := []byte(e.Data)
		if data == nil {
			data = noData
		}
		a.sessions = append(a.sessions, e.Session)
		a.seqs = append(a.seqs, int64(e.Seq))
		a.times = append(a.times, t.at)
		a.ns = append(a.ns, t.ns)
		a.types = append(a.types, e.Type)
		a.data = append(a.data, data)
		a.prevs = append(a.prevs, e.Prev)
		a.hashes = append(a.hashes, e.Hash)
	}
	if _, err := s.pool.Exec(ctx, sqlAppendEvents, a.sessions, a.seqs, a.times, a.ns, a.types, a.data, a.prevs, a.hashes); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	return nil
}

// compareEvents orders events by session, then seq.
func compareEvents(x, y *store.Event) int {
	if c := cmp.Compare(x.Session, y.Session); c != 0 {
		return c
	}
	return cmp.Compare(x.Seq, y.Seq)
}

// ListEvents returns the session's events with seq > after in seq order, at
// most limit of them (zero or less means all). An unknown session has no
// events.
func (s *Store) ListEvents(ctx context.Context, session string, after uint64, limit int) ([]store.Event, error) {
	if after >= math.MaxInt64 {
		return nil, nil
	}
	lim := pgtype.Int8{Int64: int64(limit), Valid: limit > 0} // LIMIT NULL: all
	rows, err := s.pool.Query(ctx, `SELECT seq, time, time_ns, type, data, prev, hash FROM events
		WHERE session = $1 AND seq > $2 ORDER BY seq LIMIT $3`, session, int64(after), lim)
	if err != nil {
		return nil, fmt.Errorf("list events %s: %w", session, err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var (
			e    = store.Event{Session: session}
			seq  int64
			at   pgtype.Timestamptz
			ns   int16
			data []byte
		)
		if err := rows.Scan(&seq, &at, &ns, &e.Type, &data, &e.Prev, &e.Hash); err != nil {
			return nil, fmt.Errorf("list events %s: %w", session, err)
		}
		e.Seq, e.Time, e.Data = uint64(seq), fromPG(at, ns), data
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events %s: %w", session, err)
	}
	return out, nil
}
