package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const sessionColumns = `s.id, s.identity, s.groups, s.connection, s.connector, s.protocol,
	s.database, s.client_addr, s.policy, s.policy_digest, s.token_id,
	s.started_at, s.started_at_ns, s.ended_at, s.ended_at_ns, s.status, s.error,
	s.signed_seq, s.signature,
	coalesce(st.statements, 0), coalesce(st.last_seq, 0), coalesce(st.last_hash, '')
	FROM sessions s LEFT JOIN session_stats st ON st.session = s.id`

// CreateSession stores a new session. An empty Status means active. The
// counters in s are ignored: they come from the events stored for s.ID,
// including events stored before the session. A second session with the
// same ID fails with store.ErrConflict.
func (s *Store) CreateSession(ctx context.Context, ss *store.Session) error {
	if ss.ID == "" {
		return errors.New("create session: empty id")
	}
	ts, err := toPGs(ss.StartedAt, ss.EndedAt)
	if err != nil {
		return fmt.Errorf("create session %s: %w", ss.ID, err)
	}
	status := ss.Status
	if status == "" {
		status = store.StatusActive
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO sessions (id, identity, groups, connection,
		connector, protocol, database, client_addr, policy, policy_digest, token_id,
		started_at, started_at_ns, ended_at, ended_at_ns, status, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		ss.ID, ss.Identity, strs(ss.Groups), ss.Connection, ss.Connector, ss.Protocol, ss.Database,
		ss.ClientAddr, ss.Policy, ss.PolicyDigest, ss.TokenID, ts[0].at, ts[0].ns, ts[1].at, ts[1].ns,
		status, ss.Error)
	if isUnique(err) {
		return fmt.Errorf("create session %s: %w", ss.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create session %s: %w", ss.ID, err)
	}
	return nil
}

// EndSession marks an active session ended or failed (status is
// store.StatusEnded, store.StatusFailed, or empty for ended). Only the first
// call changes the row; later calls return nil. A missing session fails
// with store.ErrNotFound.
func (s *Store) EndSession(ctx context.Context, id string, at time.Time, status, reason string) error {
	switch status {
	case "":
		status = store.StatusEnded
	case store.StatusEnded, store.StatusFailed:
	default:
		return fmt.Errorf("end session %s: status %q is not %q or %q", id, status, store.StatusEnded, store.StatusFailed)
	}
	end, err := toPG(at)
	if err != nil {
		return fmt.Errorf("end session %s: %w", id, err)
	}
	// One statement: the update, and whether the session exists at all.
	var updated, exists bool
	err = s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE sessions SET ended_at = $2, ended_at_ns = $3, status = $4, error = $5
			WHERE id = $1 AND status = $6 RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM sessions WHERE id = $1)`,
		id, end.at, end.ns, status, reason, store.StatusActive).Scan(&updated, &exists)
	if err != nil {
		return fmt.Errorf("end session %s: %w", id, err)
	}
	if !updated && !exists {
		return fmt.Errorf("end session %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// SignSession stores the gateway's signature over the session's event seq.
// The first signature is kept: repeating it is a no-op, and a different one
// fails with store.ErrConflict. A missing session fails with
// store.ErrNotFound.
func (s *Store) SignSession(ctx context.Context, id string, seq uint64, sig string) error {
	if seq == 0 || seq > math.MaxInt64 {
		return fmt.Errorf("sign session %s: seq %d out of range", id, seq)
	}
	if sig == "" {
		return fmt.Errorf("sign session %s: empty signature", id)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			oldSeq int64
			oldSig string
		)
		err := tx.QueryRow(ctx, `SELECT signed_seq, signature FROM sessions WHERE id = $1 FOR UPDATE`, id).
			Scan(&oldSeq, &oldSig)
		if err != nil {
			return notFound(err)
		}
		if oldSig != "" {
			if uint64(oldSeq) == seq && oldSig == sig {
				return nil
			}
			return fmt.Errorf("already signed at seq %d: %w", oldSeq, store.ErrConflict)
		}
		_, err = tx.Exec(ctx, `UPDATE sessions SET signed_seq = $2, signature = $3 WHERE id = $1`, id, int64(seq), sig)
		return err
	})
	if err != nil {
		return fmt.Errorf("sign session %s: %w", id, err)
	}
	return nil
}

// GetSession returns one session with its counters, or store.ErrNotFound.
func (s *Store) GetSession(ctx context.Context, id string) (*store.Session, error) {
	ss, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` WHERE s.id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get session %s: %w", id, notFound(err))
	}
	return ss, nil
}

// ListSessions returns the sessions matching f, newest StartedAt first.
func (s *Store) ListSessions(ctx context.Context, f store.SessionFilter) ([]store.Session, error) {
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
			args = append(args, c.val)
			where = append(where, c.col+" = $"+strconv.Itoa(len(args)))
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
	args = append(args, limit)
	q += ` ORDER BY s.started_at DESC NULLS LAST, s.started_at_ns DESC, s.id DESC LIMIT $` + strconv.Itoa(len(args))
	out, err := queryAll(ctx, s.pool, scanSession, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

func scanSession(row pgx.Row) (*store.Session, error) {
	var (
		s                  store.Session
		started, ended     pgtype.Timestamptz
		startedNs, endedNs int16
		signedSeq, lastSeq int64
	)
	err := row.Scan(&s.ID, &s.Identity, &s.Groups, &s.Connection, &s.Connector, &s.Protocol,
		&s.Database, &s.ClientAddr, &s.Policy, &s.PolicyDigest, &s.TokenID,
		&started, &startedNs, &ended, &endedNs, &s.Status, &s.Error, &signedSeq, &s.Signature,
		&s.Statements, &lastSeq, &s.LastHash)
	if err != nil {
		return nil, err
	}
	s.StartedAt, s.EndedAt = fromPG(started, startedNs), fromPG(ended, endedNs)
	s.SignedSeq, s.LastSeq = uint64(signedSeq), uint64(lastSeq)
	return &s, nil
}
