package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// defaultListLimit is ListSessions' limit when the filter gives none.
const defaultListLimit = 100

const sessionColumns = `s.id, s.identity, s.groups, s.connection, s.connector, s.protocol,
	s.database, s.client_addr, s.policy, s.policy_digest, s.token_id,
	s.started_at, s.ended_at, s.status, s.error, s.signed_seq, s.signature,
	coalesce(st.statements, 0), coalesce(st.last_seq, 0), coalesce(st.last_hash, '')
	FROM sessions s LEFT JOIN session_stats st ON st.session = s.id`

// CreateSession stores a new session. An empty Status means active. The
// counters in s are ignored: they come from the events stored for s.ID,
// including events stored before the session. A second session with the
// same ID fails with store.ErrConflict.
func (db *DB) CreateSession(ctx context.Context, s *store.Session) error {
	if s.ID == "" {
		return errors.New("create session: empty id")
	}
	groups, err := encodeGroups(s.Groups)
	if err != nil {
		return fmt.Errorf("create session %s: %w", s.ID, err)
	}
	ts, err := timeArgs(s.StartedAt, s.EndedAt)
	if err != nil {
		return fmt.Errorf("create session %s: %w", s.ID, err)
	}
	status := s.Status
	if status == "" {
		status = store.StatusActive
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO sessions (id, identity, groups, connection,
		connector, protocol, database, client_addr, policy, policy_digest, token_id,
		started_at, ended_at, status, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.Identity, groups, s.Connection, s.Connector, s.Protocol, s.Database,
		s.ClientAddr, s.Policy, s.PolicyDigest, s.TokenID, ts[0], ts[1], status, s.Error)
	if isConstraint(err) {
		return fmt.Errorf("create session %s: %w", s.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create session %s: %w", s.ID, err)
	}
	return nil
}

// EndSession marks an active session ended or failed (status is
// store.StatusEnded, store.StatusFailed, or empty for ended). Only the first
// call changes the row; later calls return nil. A missing session fails
// with store.ErrNotFound.
func (db *DB) EndSession(ctx context.Context, id string, at time.Time, status, reason string) error {
	switch status {
	case "":
		status = store.StatusEnded
	case store.StatusEnded, store.StatusFailed:
	default:
		return fmt.Errorf("end session %s: status %q is not %q or %q", id, status, store.StatusEnded, store.StatusFailed)
	}
	end, err := nanos(at)
	if err != nil {
		return fmt.Errorf("end session %s: %w", id, err)
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET ended_at = ?, status = ?, error = ?
			WHERE id = ? AND status = ?`, end, status, reason, id, store.StatusActive)
		if err != nil {
			return fmt.Errorf("end session %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("end session %s: %w", id, err)
		} else if n == 1 {
			return nil
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("end session %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("end session %s: %w", id, err)
		}
		return nil
	})
}

// SignSession stores the gateway's signature over the session's event seq.
// The first signature is kept: repeating it is a no-op, and a different one
// fails with store.ErrConflict. A missing session fails with
// store.ErrNotFound.
func (db *DB) SignSession(ctx context.Context, id string, seq uint64, sig string) error {
	if seq == 0 || seq > math.MaxInt64 {
		return fmt.Errorf("sign session %s: seq %d out of range", id, seq)
	}
	if sig == "" {
		return fmt.Errorf("sign session %s: empty signature", id)
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var (
			oldSeq int64
			oldSig string
		)
		err := tx.QueryRowContext(ctx, `SELECT signed_seq, signature FROM sessions WHERE id = ?`, id).Scan(&oldSeq, &oldSig)
		if err != nil {
			return fmt.Errorf("sign session %s: %w", id, notFound(err))
		}
		if oldSig != "" {
			if uint64(oldSeq) == seq && oldSig == sig {
				return nil
			}
			return fmt.Errorf("sign session %s: already signed at seq %d: %w", id, oldSeq, store.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET signed_seq = ?, signature = ? WHERE id = ?`,
			int64(seq), sig, id); err != nil {
			return fmt.Errorf("sign session %s: %w", id, err)
		}
		return nil
	})
}

// GetSession returns one session with its counters, or store.ErrNotFound.
func (db *DB) GetSession(ctx context.Context, id string) (*store.Session, error) {
	row := db.r.QueryRowContext(ctx, `SELECT `+sessionColumns+` WHERE s.id = ?`, id)
	s, err := scanSession(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get session %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get session %s: %w", id, err)
	}
	return s, nil
}

// ListSessions returns the sessions matching f, newest StartedAt first.
func (db *DB) ListSessions(ctx context.Context, f store.SessionFilter) ([]store.Session, error) {
	var (
		where []string
		args  []any
	)
	for _, c := range []struct{ col, val string }{
		{"s.identity", f.Identity},
		{"s.connection", f.Connection},
		{"s.status", f.Status},
	} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	q := `SELECT ` + sessionColumns
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	q += ` ORDER BY s.started_at DESC, s.id DESC LIMIT ?`
	args = append(args, limit)

	out, err := queryAll(ctx, db.r, scanSession, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, db *sql.DB, scan func(scanner) (*T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

func scanSession(sc scanner) (*store.Session, error) {
	var (
		s              store.Session
		groups         string
		started, ended sql.NullInt64
		lastSeq        int64
		signedSeq      int64
	)
	err := sc.Scan(&s.ID, &s.Identity, &groups, &s.Connection, &s.Connector, &s.Protocol,
		&s.Database, &s.ClientAddr, &s.Policy, &s.PolicyDigest, &s.TokenID,
		&started, &ended, &s.Status, &s.Error, &signedSeq, &s.Signature,
		&s.Statements, &lastSeq, &s.LastHash)
	if err != nil {
		return nil, err
	}
	if s.Groups, err = decodeGroups(groups); err != nil {
		return nil, err
	}
	s.StartedAt = timeOf(started)
	s.EndedAt = timeOf(ended)
	s.LastSeq = uint64(lastSeq)
	s.SignedSeq = uint64(signedSeq)
	return &s, nil
}
