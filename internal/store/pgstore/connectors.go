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

const joinTokenColumns = `hash, connector, created_at, created_at_ns, expires_at, expires_at_ns, used_at, used_at_ns`

// CreateJoinToken stores a one-time join token. A zero ExpiresAt means the
// token never expires. A second token with the same hash fails with
// store.ErrConflict. Errors never include the hash.
func (s *Store) CreateJoinToken(ctx context.Context, jt *store.JoinToken) error {
	if len(jt.Hash) == 0 {
		return errors.New("create join token: empty hash")
	}
	ts, err := toPGs(jt.CreatedAt, jt.ExpiresAt, jt.UsedAt)
	if err != nil {
		return fmt.Errorf("create join token for %s: %w", jt.Connector, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO join_tokens (`+joinTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		jt.Hash, jt.Connector, ts[0].at, ts[0].ns, ts[1].at, ts[1].ns, ts[2].at, ts[2].ns)
	if isUnique(err) {
		return fmt.Errorf("create join token for %s: %w", jt.Connector, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create join token for %s: %w", jt.Connector, err)
	}
	return nil
}

// ConsumeJoinToken marks the token used at now and returns it. Of two
// concurrent calls exactly one succeeds: the update waits for the other's
// row lock and then finds the token used. It fails with store.ErrNotFound
// for an unknown hash, store.ErrUsed for a used token (checked first) and
// store.ErrExpired when now is at or after ExpiresAt.
func (s *Store) ConsumeJoinToken(ctx context.Context, hash []byte, now time.Time) (*store.JoinToken, error) {
	if now.IsZero() {
		return nil, errors.New("consume join token: zero time")
	}
	at, err := toPG(now)
	if err != nil {
		return nil, fmt.Errorf("consume join token: %w", err)
	}
	jt, err := scanJoinToken(s.pool.QueryRow(ctx, `UPDATE join_tokens SET used_at = $2, used_at_ns = $3
		WHERE hash = $1 AND used_at IS NULL
			AND (expires_at IS NULL OR (expires_at, expires_at_ns) > ($2, $3))
		RETURNING `+joinTokenColumns, hash, at.at, at.ns))
	if err == nil {
		return jt, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("consume join token: %w", err)
	}
	// Nothing updated: say why. Neither used_at nor expires_at changes
	// back, so the row read now tells.
	jt, err = scanJoinToken(s.pool.QueryRow(ctx, `SELECT `+joinTokenColumns+` FROM join_tokens WHERE hash = $1`, hash))
	if err != nil {
		return nil, fmt.Errorf("consume join token: %w", notFound(err))
	}
	if !jt.UsedAt.IsZero() {
		return nil, fmt.Errorf("consume join token: %w", store.ErrUsed)
	}
	return nil, fmt.Errorf("consume join token: %w", store.ErrExpired)
}

func scanJoinToken(row pgx.Row) (*store.JoinToken, error) {
	var (
		jt                          store.JoinToken
		created, expires, used      pgtype.Timestamptz
		createdNs, expiresNs, usedN int16
	)
	if err := row.Scan(&jt.Hash, &jt.Connector, &created, &createdNs, &expires, &expiresNs, &used, &usedN); err != nil {
		return nil, err
	}
	jt.CreatedAt, jt.ExpiresAt, jt.UsedAt = fromPG(created, createdNs), fromPG(expires, expiresNs), fromPG(used, usedN)
	return &jt, nil
}

// UpsertConnector creates the connector or replaces its certificate serial
// and join time. A zero LastSeen keeps the stored one.
func (s *Store) UpsertConnector(ctx context.Context, c *store.Connector) error {
	if c.Name == "" {
		return errors.New("upsert connector: empty name")
	}
	ts, err := toPGs(c.JoinedAt, c.LastSeen)
	if err != nil {
		return fmt.Errorf("upsert connector %s: %w", c.Name, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO connectors AS c (name, cert_serial, joined_at, joined_at_ns, last_seen, last_seen_ns)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (name) DO UPDATE SET
			cert_serial = excluded.cert_serial,
			joined_at = excluded.joined_at,
			joined_at_ns = excluded.joined_at_ns,
			last_seen = coalesce(excluded.last_seen, c.last_seen),
			last_seen_ns = CASE WHEN excluded.last_seen IS NULL THEN c.last_seen_ns ELSE excluded.last_seen_ns END`,
		c.Name, c.CertSerial, ts[0].at, ts[0].ns, ts[1].at, ts[1].ns)
	if err != nil {
		return fmt.Errorf("upsert connector %s: %w", c.Name, err)
	}
	return nil
}

// GetConnector returns the named connector, or store.ErrNotFound.
func (s *Store) GetConnector(ctx context.Context, name string) (*store.Connector, error) {
	c, err := scanConnector(s.pool.QueryRow(ctx, `SELECT name, cert_serial, joined_at, joined_at_ns,
		last_seen, last_seen_ns FROM connectors WHERE name = $1`, name))
	if err != nil {
		return nil, fmt.Errorf("get connector %s: %w", name, notFound(err))
	}
	return c, nil
}

// ListConnectors returns every connector ordered by name.
func (s *Store) ListConnectors(ctx context.Context) ([]store.Connector, error) {
	out, err := queryAll(ctx, s.pool, scanConnector, `SELECT name, cert_serial, joined_at, joined_at_ns,
		last_seen, last_seen_ns FROM connectors ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list connectors: %w", err)
	}
	return out, nil
}

// TouchConnector records that the connector was seen at at. LastSeen only
// moves forward, so late or reordered touches do not rewind it. A missing
// connector fails with store.ErrNotFound.
func (s *Store) TouchConnector(ctx context.Context, name string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("touch connector %s: zero time", name)
	}
	when, err := toPG(at)
	if err != nil {
		return fmt.Errorf("touch connector %s: %w", name, err)
	}
	var exists bool
	err = s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE connectors SET last_seen = $2, last_seen_ns = $3
			WHERE name = $1 AND (last_seen IS NULL OR (last_seen, last_seen_ns) < ($2, $3)))
		SELECT EXISTS (SELECT 1 FROM connectors WHERE name = $1)`, name, when.at, when.ns).Scan(&exists)
	if err != nil {
		return fmt.Errorf("touch connector %s: %w", name, err)
	}
	if !exists {
		return fmt.Errorf("touch connector %s: %w", name, store.ErrNotFound)
	}
	return nil
}

func scanConnector(row pgx.Row) (*store.Connector, error) {
	var (
		c                store.Connector
		joined, seen     pgtype.Timestamptz
		joinedNs, seenNs int16
	)
	if err := row.Scan(&c.Name, &c.CertSerial, &joined, &joinedNs, &seen, &seenNs); err != nil {
		return nil, err
	}
	c.JoinedAt, c.LastSeen = fromPG(joined, joinedNs), fromPG(seen, seenNs)
	return &c, nil
}
