package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var (
	_ store.Identities = (*DB)(nil)
	_ store.Audit      = (*DB)(nil)
)

// DisableIdentity disables name and revokes its live tokens, in one
// transaction. Disabling a disabled identity keeps the first record.
func (db *DB) DisableIdentity(ctx context.Context, name, by, reason string, at time.Time) ([]string, error) {
	when, err := nanos(at)
	if err != nil || at.IsZero() {
		return nil, fmt.Errorf("disable identity %s: bad time", name)
	}
	var revoked []string
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO identities (name, disabled_at, disabled_by, reason) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET disabled_at = excluded.disabled_at, disabled_by = excluded.disabled_by, reason = excluded.reason
			WHERE disabled_at IS NULL`, name, when, by, reason); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE identity = ? AND revoked_at IS NULL RETURNING id`, when, name)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			revoked = append(revoked, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("disable identity %s: %w", name, err)
	}
	return revoked, nil
}

// EnableIdentity lets name sign in again.
func (db *DB) EnableIdentity(ctx context.Context, name string) error {
	res, err := db.w.ExecContext(ctx, `UPDATE identities SET disabled_at = NULL WHERE name = ? AND disabled_at IS NOT NULL`, name)
	if err != nil {
		return fmt.Errorf("enable identity %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("enable identity %s: %w", name, store.ErrNotFound)
	}
	return nil
}

// ListIdentities returns the disabled identities, by name.
func (db *DB) ListIdentities(ctx context.Context) ([]store.Identity, error) {
	out, err := queryAll(ctx, db.r, func(sc scanner) (*store.Identity, error) {
		var i store.Identity
		var at sql.NullInt64
		if err := sc.Scan(&i.Name, &at, &i.DisabledBy, &i.Reason); err != nil {
			return nil, err
		}
		i.DisabledAt = timeOf(at)
		return &i, nil
	}, `SELECT name, disabled_at, disabled_by, reason FROM identities WHERE disabled_at IS NOT NULL ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	return out, nil
}

// AppendAudit stores e and sets its ID.
func (db *DB) AppendAudit(ctx context.Context, e *store.AuditEvent) error {
	when, err := nanos(e.Time)
	if err != nil || e.Time.IsZero() {
		return fmt.Errorf("append audit event: bad time")
	}
	err = db.w.QueryRowContext(ctx, `INSERT INTO audit_events (time, type, ok, identity, actor, source, token_id, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		when, e.Type, e.OK, e.Identity, e.Actor, e.Source, e.TokenID, e.Reason).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	return nil
}

// ListAudit returns audit events, newest first.
func (db *DB) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	q := `SELECT id, time, type, ok, identity, actor, source, token_id, reason FROM audit_events WHERE 1 = 1`
	var args []any
	if f.Identity != "" {
		q += ` AND identity = ?`
		args = append(args, f.Identity)
	}
	if f.Type != "" {
		q += ` AND type = ?`
		args = append(args, f.Type)
	}
	if f.Before > 0 {
		q += ` AND id < ?`
		args = append(args, f.Before)
	}
	q += ` ORDER BY id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	out, err := queryAll(ctx, db.r, func(sc scanner) (*store.AuditEvent, error) {
		var e store.AuditEvent
		var at sql.NullInt64
		if err := sc.Scan(&e.ID, &at, &e.Type, &e.OK, &e.Identity, &e.Actor, &e.Source, &e.TokenID, &e.Reason); err != nil {
			return nil, err
		}
		e.Time = timeOf(at)
		return &e, nil
	}, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}
