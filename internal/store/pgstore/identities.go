package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// DisableIdentity disables name and revokes its live tokens, in one
// transaction that holds the identity's lock exclusively (see CreateToken),
// so no token can be created for it between the two. Disabling a disabled
// identity keeps the first record. The revoked IDs come sorted.
func (s *Store) DisableIdentity(ctx context.Context, name, by, reason string, at time.Time) ([]string, error) {
	when, err := toPG(at)
	if err != nil || at.IsZero() {
		return nil, fmt.Errorf("disable identity %s: bad time", name)
	}
	var revoked []string
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, identityLock, name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO identities AS i (name, disabled_at, disabled_at_ns, disabled_by, reason)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (name) DO UPDATE SET disabled_at = excluded.disabled_at, disabled_at_ns = excluded.disabled_at_ns,
				disabled_by = excluded.disabled_by, reason = excluded.reason
			WHERE i.disabled_at IS NULL`, name, when.at, when.ns, by, reason); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE tokens SET revoked_at = $2, revoked_at_ns = $3
			WHERE identity = $1 AND revoked_at IS NULL RETURNING id`, name, when.at, when.ns)
		if err != nil {
			return err
		}
		revoked, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("disable identity %s: %w", name, err)
	}
	slices.Sort(revoked)
	return revoked, nil
}

// EnableIdentity lets name sign in again. An identity that is not disabled
// fails with store.ErrNotFound.
func (s *Store) EnableIdentity(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE identities SET disabled_at = NULL, disabled_at_ns = 0
		WHERE name = $1 AND disabled_at IS NOT NULL`, name)
	if err != nil {
		return fmt.Errorf("enable identity %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("enable identity %s: %w", name, store.ErrNotFound)
	}
	return nil
}

// ListIdentities returns the disabled identities, by name.
func (s *Store) ListIdentities(ctx context.Context) ([]store.Identity, error) {
	out, err := queryAll(ctx, s.pool, func(row pgx.Row) (*store.Identity, error) {
		var (
			i  store.Identity
			at pgtype.Timestamptz
			ns int16
		)
		if err := row.Scan(&i.Name, &at, &ns, &i.DisabledBy, &i.Reason); err != nil {
			return nil, err
		}
		i.DisabledAt = fromPG(at, ns)
		return &i, nil
	}, `SELECT name, disabled_at, disabled_at_ns, disabled_by, reason FROM identities
		WHERE disabled_at IS NOT NULL ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	return out, nil
}

// AppendAudit stores e and sets its ID.
func (s *Store) AppendAudit(ctx context.Context, e *store.AuditEvent) error {
	when, err := toPG(e.Time)
	if err != nil || e.Time.IsZero() {
		return fmt.Errorf("append audit event: bad time")
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO audit_events (time, time_ns, type, ok, identity, actor, source, token_id, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		when.at, when.ns, e.Type, e.OK, e.Identity, e.Actor, e.Source, e.TokenID, e.Reason).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	return nil
}

// ListAudit returns audit events, newest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	q := `SELECT id, time, time_ns, type, ok, identity, actor, source, token_id, reason FROM audit_events WHERE true`
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		q += ` AND ` + cond + ` $` + strconv.Itoa(len(args))
	}
	if f.Identity != "" {
		add("identity =", f.Identity)
	}
	if f.Type != "" {
		add("type =", f.Type)
	}
	if f.Before > 0 {
		add("id <", f.Before)
	}
	q += ` ORDER BY id DESC`
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += ` LIMIT $` + strconv.Itoa(len(args))
	}
	out, err := queryAll(ctx, s.pool, func(row pgx.Row) (*store.AuditEvent, error) {
		var (
			e  store.AuditEvent
			at pgtype.Timestamptz
			ns int16
		)
		if err := row.Scan(&e.ID, &at, &ns, &e.Type, &e.OK, &e.Identity, &e.Actor, &e.Source, &e.TokenID, &e.Reason); err != nil {
			return nil, err
		}
		e.Time = fromPG(at, ns)
		return &e, nil
	}, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}
