package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const tokenColumns = `id, hash, identity, groups, kind, issued_by, issued_at, expires_at, revoked_at FROM tokens`

// CreateToken stores an issued token. A second token with the same ID or
// hash fails with store.ErrConflict, a token for a disabled identity with
// store.ErrDisabled. Errors never include the hash.
func (db *DB) CreateToken(ctx context.Context, t *store.Token) error {
	if t.ID == "" {
		return errors.New("create token: empty id")
	}
	if len(t.Hash) == 0 {
		return fmt.Errorf("create token %s: empty hash", t.ID)
	}
	groups, err := encodeGroups(t.Groups)
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	ts, err := timeArgs(t.IssuedAt, t.ExpiresAt, t.RevokedAt)
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	// One statement, so that a token cannot slip in for an identity that
	// DisableIdentity (whose transaction revokes its tokens) just disabled.
	res, err := db.w.ExecContext(ctx, `INSERT INTO tokens (id, hash, identity, groups, kind,
		issued_by, issued_at, expires_at, revoked_at) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?
		WHERE NOT EXISTS (SELECT 1 FROM identities WHERE name = ? AND disabled_at IS NOT NULL)`,
		t.ID, t.Hash, t.Identity, groups, t.Kind, t.IssuedBy, ts[0], ts[1], ts[2], t.Identity)
	if isConstraint(err) {
		return fmt.Errorf("create token %s: %w", t.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	} else if n == 0 {
		return fmt.Errorf("create token %s: %w", t.ID, store.ErrDisabled)
	}
	return nil
}

// TokenByHash returns the token with the given hash, revoked and expired
// ones included, or store.ErrNotFound.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (*store.Token, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` WHERE hash = ?`, hash))
	if err != nil {
		return nil, fmt.Errorf("token by hash: %w", notFound(err))
	}
	return t, nil
}

// GetToken returns the token with the given ID, or store.ErrNotFound.
func (db *DB) GetToken(ctx context.Context, id string) (*store.Token, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("get token %s: %w", id, notFound(err))
	}
	return t, nil
}

// RevokeToken records the token's revocation at at. Revoking a revoked
// token keeps the first time and returns nil; a missing token fails with
// store.ErrNotFound.
func (db *DB) RevokeToken(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("revoke token %s: zero time", id)
	}
	when, err := nanos(at)
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, when, id)
		if err != nil {
			return fmt.Errorf("revoke token %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("revoke token %s: %w", id, err)
		} else if n == 1 {
			return nil
		}
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM tokens WHERE id = ?`, id).Scan(&one); err != nil {
			return fmt.Errorf("revoke token %s: %w", id, notFound(err))
		}
		return nil
	})
}

// ListTokens returns every token, oldest issued first.
func (db *DB) ListTokens(ctx context.Context) ([]store.Token, error) {
	out, err := queryAll(ctx, db.r, scanToken, `SELECT `+tokenColumns+` ORDER BY issued_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

func scanToken(sc scanner) (*store.Token, error) {
	var (
		t                          store.Token
		groups                     string
		issued, expires, revokedAt sql.NullInt64
	)
	if err := sc.Scan(&t.ID, &t.Hash, &t.Identity, &groups, &t.Kind, &t.IssuedBy,
		&issued, &expires, &revokedAt); err != nil {
		return nil, err
	}
	var err error
	if t.Groups, err = decodeGroups(groups); err != nil {
		return nil, err
	}
	t.IssuedAt, t.ExpiresAt, t.RevokedAt = timeOf(issued), timeOf(expires), timeOf(revokedAt)
	return &t, nil
}
