package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const reviewColumns = `id, kind, status, requester, requester_groups, connection, session,
	policy, rule, statement, statement_hash, access_for, reason, approvers, min_approvals,
	created_at, expires_at, decided_at FROM reviews`

// CreateReview stores a new review. An empty Status means pending. A second
// review with the same ID fails with store.ErrConflict. Votes in r are
// ignored: they are added with AddVote.
func (db *DB) CreateReview(ctx context.Context, r *store.Review) error {
	if r.ID == "" {
		return errors.New("create review: empty id")
	}
	if r.MinApprovals < 1 {
		return fmt.Errorf("create review %s: min approvals %d, want at least 1", r.ID, r.MinApprovals)
	}
	groups, err := encodeGroups(r.RequesterGroups)
	if err != nil {
		return fmt.Errorf("create review %s: %w", r.ID, err)
	}
	approvers, err := encodeGroups(r.Approvers)
	if err != nil {
		return fmt.Errorf("create review %s: %w", r.ID, err)
	}
	ts, err := timeArgs(r.CreatedAt, r.ExpiresAt, r.DecidedAt)
	if err != nil {
		return fmt.Errorf("create review %s: %w", r.ID, err)
	}
	status := r.Status
	if status == "" {
		status = store.ReviewPending
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO reviews (id, kind, status, requester,
		requester_groups, connection, session, policy, rule, statement, statement_hash,
		access_for, reason, approvers, min_approvals, created_at, expires_at, decided_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Kind, status, r.Requester, groups, r.Connection, r.Session, r.Policy, r.Rule,
		r.Statement, r.StatementHash, int64(r.AccessFor), r.Reason, approvers, r.MinApprovals,
		ts[0], ts[1], ts[2])
	if isConstraint(err) {
		return fmt.Errorf("create review %s: %w", r.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create review %s: %w", r.ID, err)
	}
	return nil
}

// GetReview returns a review with its votes, or store.ErrNotFound.
func (db *DB) GetReview(ctx context.Context, id string) (*store.Review, error) {
	r, err := getReview(ctx, db.r, id)
	if err != nil {
		return nil, fmt.Errorf("get review %s: %w", id, err)
	}
	return r, nil
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// getReview reads a review and its votes through q, so that a transaction
// sees its own writes.
func getReview(ctx context.Context, q querier, id string) (*store.Review, error) {
	r, err := scanReview(q.QueryRowContext(ctx, `SELECT `+reviewColumns+` WHERE id = ?`, id))
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
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.QueryContext(ctx, `SELECT review, identity, approve, reason, at FROM review_votes
		WHERE review IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY at, identity`, args...)
	if err != nil {
		return nil, fmt.Errorf("read votes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			review string
			v      store.Vote
			at     sql.NullInt64
		)
		if err := rows.Scan(&review, &v.Identity, &v.Approve, &v.Reason, &at); err != nil {
			return nil, fmt.Errorf("read votes: %w", err)
		}
		v.At = timeOf(at)
		out[review] = append(out[review], v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read votes: %w", err)
	}
	return out, nil
}

// ListReviews returns the reviews matching f with their votes, newest
// CreatedAt first.
func (db *DB) ListReviews(ctx context.Context, f store.ReviewFilter) ([]store.Review, error) {
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
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
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
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit)

	// One read transaction, so the votes belong to the reviews as read.
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("list reviews: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // read-only: nothing to commit
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list reviews: %w", err)
	}
	var out []store.Review
	for rows.Next() {
		r, err := scanReview(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list reviews: %w", err)
		}
		out = append(out, *r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list reviews: %w", err)
	}
	ids := make([]string, len(out))
	for i := range out {
		ids[i] = out[i].ID
	}
	votes, err := reviewVotes(ctx, tx, ids)
	if err != nil {
		return nil, fmt.Errorf("list reviews: %w", err)
	}
	for i := range out {
		out[i].Votes = votes[out[i].ID]
	}
	return out, nil
}

// AddVote records v and decides the review in the same transaction. All
// writes go through the single writer connection, so two concurrent
// approvals are counted one after the other and exactly one of them
// decides the review.
func (db *DB) AddVote(ctx context.Context, id string, v store.Vote) (*store.Review, error) {
	if v.Identity == "" {
		return nil, fmt.Errorf("vote on review %s: empty identity", id)
	}
	at, err := nanos(v.At)
	if err != nil || !at.Valid {
		return nil, fmt.Errorf("vote on review %s: invalid time", id)
	}
	var out *store.Review
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var (
			status  string
			min     int
			expires sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, `SELECT status, min_approvals, expires_at FROM reviews WHERE id = ?`, id).
			Scan(&status, &min, &expires)
		if err != nil {
			return notFound(err)
		}
		if status != store.ReviewPending {
			return store.ErrDecided
		}
		if expires.Valid && at.Int64 >= expires.Int64 {
			return store.ErrExpired
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO review_votes (review, identity, approve, reason, at)
			VALUES (?, ?, ?, ?, ?)`, id, v.Identity, v.Approve, v.Reason, at)
		if isConstraint(err) {
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
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM review_votes
				WHERE review = ? AND approve = 1`, id).Scan(&approvals); err != nil {
				return err
			}
			if approvals >= min {
				decided = store.ReviewApproved
			}
		}
		if decided != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE reviews SET status = ?, decided_at = ?
				WHERE id = ? AND status = ?`, decided, at, id, store.ReviewPending); err != nil {
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
func (db *DB) ExpireReview(ctx context.Context, id string, at time.Time) (*store.Review, error) {
	when, err := nanos(at)
	if err != nil || !when.Valid {
		return nil, fmt.Errorf("expire review %s: invalid time", id)
	}
	var out *store.Review
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE reviews SET status = ?, decided_at = ?
			WHERE id = ? AND status = ?`, store.ReviewExpired, when, id, store.ReviewPending)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM reviews WHERE id = ?`, id).Scan(&one); err != nil {
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

func scanReview(sc scanner) (*store.Review, error) {
	var (
		r                         store.Review
		groups, approvers         string
		accessFor                 int64
		created, expires, decided sql.NullInt64
	)
	err := sc.Scan(&r.ID, &r.Kind, &r.Status, &r.Requester, &groups, &r.Connection, &r.Session,
		&r.Policy, &r.Rule, &r.Statement, &r.StatementHash, &accessFor, &r.Reason, &approvers,
		&r.MinApprovals, &created, &expires, &decided)
	if err != nil {
		return nil, err
	}
	if r.RequesterGroups, err = decodeGroups(groups); err != nil {
		return nil, err
	}
	if r.Approvers, err = decodeGroups(approvers); err != nil {
		return nil, err
	}
	r.AccessFor = time.Duration(accessFor)
	r.CreatedAt, r.ExpiresAt, r.DecidedAt = timeOf(created), timeOf(expires), timeOf(decided)
	return &r, nil
}
