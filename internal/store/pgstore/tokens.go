package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const tokenColumns = `id, hash, identity, groups, kind, issued_by, issued_at, issued_at_ns,
	expires_at, expires_at_ns, revoked_at, revoked_at_ns FROM tokens`

// identityLock is the first key of the transaction-level advisory locks
// that CreateToken (shared) and DisableIdentity (exclusive) take on an
// identity; the second is hashtext(name). The lock stands in for a row
// lock on the identity, whose row does not exist until it is disabled.
const identityLock int32 = 0x6768_6964 // "ghid"

// CreateToken stores an issued token. A second token with the same ID or
// hash fails with store.ErrConflict, a token for a disabled identity with
// store.ErrDisabled. Errors never include the hash.
//
// It holds its identity's lock, shared, from before it checks that the
// identity is not disabled until it commits, so a DisableIdentity either
// finishes first (and the token is refused) or waits and then revokes it.
func (s *Store) CreateToken(ctx context.Context, t *store.Token) error {
	if t.ID == "" {
		return errors.New("create token: empty id")
	}
	if len(t.Hash) == 0 {
		return fmt.Errorf("create token %s: empty hash", t.ID)
	}
	ts, err := toPGs(t.IssuedAt, t.ExpiresAt, t.RevokedAt)
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1, hashtext($2))`, identityLock, t.Identity); err != nil {
			return err
		}
		// A statement after the lock: its snapshot sees every
		// DisableIdentity that finished before we got it.
		tag, err := tx.Exec(ctx, `INSERT INTO tokens (id, hash, identity, groups, kind, issued_by,
			issued_at, issued_at_ns, expires_at, expires_at_ns, revoked_at, revoked_at_ns)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
			WHERE NOT EXISTS (SELECT 1 FROM identities WHERE name = $3 AND disabled_at IS NOT NULL)`,
			t.ID, t.Hash, t.Identity, strs(t.Groups), t.Kind, t.IssuedBy,
			ts[0].at, ts[0].ns, ts[1].at, ts[1].ns, ts[2].at, ts[2].ns)
		if isUnique(err) {
			return store.ErrConflict
		}
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrDisabled
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash returns the token with the given hash, revoked and expired
// ones included, or store.ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (*store.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` WHERE hash = $1`, hash))
	if err != nil {
		return nil, fmt.Errorf("token by hash: %w", notFound(err))
	}
	return t, nil
}

// GetToken returns the token with the given ID, or store.ErrNotFound.
func (s *Store) GetToken(ctx context.Context, id string) (*store.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get token %s: %w", id, notFound(err))
	}
	return t, nil
}

// RevokeToken records the token's revocation at at. Revoking a revoked
// token keeps the first time and returns nil; a missing token fails with
// store.ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("revoke token %s: zero time", id)
	}
	when, err := toPG(at)
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	// A revocation is never undone, so the token either is updated here
	// or exists already revoked; tokens are never deleted.
	var updated, exists bool
	err = s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE tokens SET revoked_at = $2, revoked_at_ns = $3
			WHERE id = $1 AND revoked_at IS NULL RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM tokens WHERE id = $1)`,
		id, when.at, when.ns).Scan(&updated, &exists)
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	if !updated && !exists {
		return fmt.Errorf("revoke token %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// ListTokens returns every token, oldest issued first.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	out, err := queryAll(ctx, s.pool, scanToken,
		`SELECT `+tokenColumns+` ORDER BY issued_at NULLS FIRST, issued_at_ns, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

func scanToken(row pgx.Row) (*store.Token, error) {
	var (
		t                          store.Token
		issued, expires, revoked   pgtype.Timestamptz
		issuedNs, expNs, revokedNs int16
	)
	if err := row.Scan(&t.ID, &t.Hash, &t.Identity, &t.Groups, &t.Kind, &t.IssuedBy,
		&issued, &issuedNs, &expires, &expNs, &revoked, &revokedNs); err != nil {
		return nil, err
	}
	t.IssuedAt, t.ExpiresAt, t.RevokedAt = fromPG(issued, issuedNs), fromPG(expires, expNs), fromPG(revoked, revokedNs)
	return &t, nil
}
