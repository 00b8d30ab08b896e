package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const reviewColumns = `id, kind, status, requester, requester_groups, connection, session,
	policy, rule, statement, statement_hash, access_for, reason, approvers, min_approvals,
	created_at, created_at_ns, expires_at, expires_at_ns, decided_at, decided_at_ns FROM reviews`

// CreateReview stores a new review. An empty Status means pending. A second
// review with the same ID fails with store.ErrConflict. Votes in r are
// ignored: they are added with AddVote.
func (s *Store) CreateReview(ctx context.Context, r *store.Review) error {
	if r.ID == "" {
		return errors.New("create review: empty id")
	}
	if r.MinApprovals < 1 {
		return fmt.Errorf("create review %s: min approvals %d, want at least 1", r.ID, r.MinApprovals)
	}
	ts, err := toPGs(r.CreatedAt, r.ExpiresAt, r.DecidedAt)
	if err != nil {
		return fmt.Errorf("create review %s: %w", r.ID, err)
	}
	status := r.Status
	if status == "" {
		status = store.ReviewPending
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO reviews (id, kind, status, requester,
		requester_groups, connection, session, policy, rule, statement, statement_hash,
		access_for, reason, approvers, min_approvals, created_at, created_at_ns,
		expires_at, expires_at_ns, decided_at, decided_at_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
		r.ID, r.Kind, status, r.Requester, strs(r.RequesterGroups), r.Connection, r.Session, r.Policy, r.Rule,
		r.Statement, r.StatementHash, int64(r.AccessFor), r.Reason, strs(r.Approvers), r.MinApprovals,
		ts[0].at, ts[0].ns, ts[1].at, ts[1].ns, ts[2].at, ts[2].ns)
	if isUnique(err) {
		return fmt.Errorf("create review %s: %w", r.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create review %s: %w", r.ID, err)
	}
	return nil
}

// GetReview returns a review with its votes, or store.ErrNotFound.
func (s *Store) GetReview(ctx context.Context, id string) (*store.Review, error) {
	// One snapshot for the review and its votes.
	var r *store.Review
	err := pgx.BeginTxFunc(ctx, s.pool, readSnapshot, func(tx pgx.Tx) error {
		var err error
		r, err = getReview(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get review %s: %w", id, err)
	}
	return r, nil
}

// readSnapshot is a read-only transaction whose statements all see one
// snapshot.
var readSnapshot = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// getReview reads a review and its votes through q.
func getReview(ctx context.Context, q querier, id string) (*store.Review, error) {
	r, err := scanReview(q.QueryRow(ctx, `SELECT `+reviewColumns+` WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err)
	}
	votes, err := reviewVotes(ctx, q, []string{id})
	if err != nil {
		return nil, err
	}
	r.Votes = votes[id]
	return r, nil
}

// reviewVotes returns the votes of the given reviews, oldest first.
func reviewVotes(ctx context.Context, q querier, ids []string) (map[string][]store.Vote, error) {
	out := make(map[string][]store.Vote, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, `SELECT review, identity, approve, reason, at, at_ns FROM review_votes
		WHERE review = ANY($1) ORDER BY at NULLS FIRST, at_ns, identity`, ids)
	if err != nil {
		return nil, fmt.Errorf("read votes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			review string
			v      store.Vote
			at     pgtype.Timestamptz
			ns     int16
		)
		if err := rows.Scan(&review, &v.Identity, &v.Approve, &v.Reason, &at, &ns); err != nil {
			return nil, fmt.Errorf("read votes: %w", err)
		}
		v.At = fromPG(at, ns)
		out[review] = append(out[review], v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read votes: %w", err)
	}
	return out, nil
}

// ListReviews returns the reviews matching f with their votes, newest
// CreatedAt first.
func (s *Store) ListReviews(ctx context.Context, f store.ReviewFilter) ([]store.Review, error) {
	var (
		where []string
		args  []any
	)
	for _, c := range []struct{ col, val string }{
		{"status", f.Status},
		{"requester", f.Requester},
		{"connection", f.Connection},
	} {
		if c.val != "" {
			args = append(args, c.val)
			where = append(where, c.col+" = $"+strconv.Itoa(len(args)))
		}
	}
	q := `SELECT ` + reviewColumns
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	args = append(args, limit)
	q += ` ORDER BY created_at DESC NULLS LAST, created_at_ns DESC, id DESC LIMIT $` + strconv.Itoa(len(args))

	var out []store.Review
	// One snapshot, so the votes belong to the reviews as read.
	err := pgx.BeginTxFunc(ctx, s.pool, readSnapshot, func(tx pgx.Tx) error {
		var err error
		if out, err = queryAll(ctx, tx, scanReview, q, args...); err != nil {
			return err
		}
		ids := make([]string, len(out))
		for i := range out {
			ids[i] = out[i].ID
		}
		votes, err := reviewVotes(ctx, tx, ids)
		if err != nil {
			return err
		}
		for i := range out {
			out[i].Votes = votes[out[i].ID]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list reviews: %w", err)
	}
	return out, nil
}

// AddVote records v and decides the review in the same transaction. The
// transaction locks the review's row first, so votes on one review are
// counted one after the other and exactly one of them decides it.
func (s *Store) AddVote(ctx context.Context, id string, v store.Vote) (*store.Review, error) {
	if v.Identity == "" {
		return nil, fmt.Errorf("vote on review %s: empty identity", id)
	}
	at, err := toPG(v.At)
	if err != nil || !at.at.Valid {
		return nil, fmt.Errorf("vote on review %s: invalid time", id)
	}
	var out *store.Review
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			status    string
			min       int
			expires   pgtype.Timestamptz
			expiresNs int16
		)
		err := tx.QueryRow(ctx, `SELECT status, min_approvals, expires_at, expires_at_ns FROM reviews
			WHERE id = $1 FOR UPDATE`, id).Scan(&status, &min, &expires, &expiresNs)
		if err != nil {
			return notFound(err)
		}
		if status != store.ReviewPending {
			return store.ErrDecided
		}
		if exp := fromPG(expires, expiresNs); !exp.IsZero() && !v.At.Before(exp) {
			return store.ErrExpired
		}
		_, err = tx.Exec(ctx, `INSERT INTO review_votes (review, identity, approve, reason, at, at_ns)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, v.Identity, v.Approve, v.Reason, at.at, at.ns)
		if isUnique(err) {
			return store.ErrConflict
		}
		if err != nil {
			return err
		}
		decided := ""
		if !v.Approve {
			decided = store.ReviewRejected
		} else {
			var approvals int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM review_votes WHERE review = $1 AND approve`, id).
				Scan(&approvals); err != nil {
				return err
			}
			if approvals >= min {
				decided = store.ReviewApproved
			}
		}
		if decided != "" {
			if _, err := tx.Exec(ctx, `UPDATE reviews SET status = $2, decided_at = $3, decided_at_ns = $4
				WHERE id = $1`, id, decided, at.at, at.ns); err != nil {
				return err
			}
		}
		out, err = getReview(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("vote on review %s: %w", id, err)
	}
	return out, nil
}

// ExpireReview moves a pending review to expired.
func (s *Store) ExpireReview(ctx context.Context, id string, at time.Time) (*store.Review, error) {
	when, err := toPG(at)
	if err != nil || !when.at.Valid {
		return nil, fmt.Errorf("expire review %s: invalid time", id)
	}
	var out *store.Review
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE reviews SET status = $2, decided_at = $3, decided_at_ns = $4
			WHERE id = $1 AND status = $5`, id, store.ReviewExpired, when.at, when.ns, store.ReviewPending)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM reviews WHERE id = $1`, id).Scan(&one); err != nil {
				return notFound(err)
			}
			return store.ErrDecided
		}
		out, err = getReview(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("expire review %s: %w", id, err)
	}
	return out, nil
}

func scanReview(row pgx.Row) (*store.Review, error) {
	var (
		r                           store.Review
		accessFor                   int64
		created, expires, decided   pgtype.Timestamptz
		createdNs, expNs, decidedNs int16
	)
	err := row.Scan(&r.ID, &r.Kind, &r.Status, &r.Requester, &r.RequesterGroups, &r.Connection, &r.Session,
		&r.Policy, &r.Rule, &r.Statement, &r.StatementHash, &accessFor, &r.Reason, &r.Approvers,
		&r.MinApprovals, &created, &createdNs, &expires, &expNs, &decided, &decidedNs)
	if err != nil {
		return nil, err
	}
	r.AccessFor = time.Duration(accessFor)
	r.CreatedAt, r.ExpiresAt, r.DecidedAt = fromPG(created, createdNs), fromPG(expires, expNs), fromPG(decided, decidedNs)
	return &r, nil
}
