package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// CreateJoinToken stores a one-time join token. A zero ExpiresAt means the
// token never expires. A second token with the same hash fails with
// store.ErrConflict. Errors never include the hash.
func (db *DB) CreateJoinToken(ctx context.Context, jt *store.JoinToken) error {
	if len(jt.Hash) == 0 {
		return errors.New("create join token: empty hash")
	}
	ts, err := timeArgs(jt.CreatedAt, jt.ExpiresAt, jt.UsedAt)
	if err != nil {
		return fmt.Errorf("create join token for %s: %w", jt.Connector, err)
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO join_tokens (hash, connector, created_at,
		expires_at, used_at) VALUES (?, ?, ?, ?, ?)`, jt.Hash, jt.Connector, ts[0], ts[1], ts[2])
	if isConstraint(err) {
		return fmt.Errorf("create join token for %s: %w", jt.Connector, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create join token for %s: %w", jt.Connector, err)
	}
	return nil
}

// ConsumeJoinToken marks the token used at now and returns it. Of two
// concurrent calls exactly one succeeds. It fails with store.ErrNotFound for
// an unknown hash, store.ErrUsed for a used token (checked first) and
// store.ErrExpired when now is at or after ExpiresAt.
func (db *DB) ConsumeJoinToken(ctx context.Context, hash []byte, now time.Time) (*store.JoinToken, error) {
	if now.IsZero() {
		return nil, errors.New("consume join token: zero time")
	}
	at, err := nanos(now)
	if err != nil {
		return nil, fmt.Errorf("consume join token: %w", err)
	}
	var jt *store.JoinToken
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `UPDATE join_tokens SET used_at = ?1
			WHERE hash = ?2 AND used_at IS NULL AND (expires_at IS NULL OR expires_at > ?1)
			RETURNING hash, connector, created_at, expires_at, used_at`, at, hash)
		t, err := scanJoinToken(row)
		if err == nil {
			jt = t
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Nothing updated: say why.
		t, err = scanJoinToken(tx.QueryRowContext(ctx, `SELECT hash, connector, created_at,
			expires_at, used_at FROM join_tokens WHERE hash = ?`, hash))
		if err != nil {
			return notFound(err)
		}
		if !t.UsedAt.IsZero() {
			return store.ErrUsed
		}
		return store.ErrExpired
	})
	if err != nil {
		return nil, fmt.Errorf("consume join token: %w", err)
	}
	return jt, nil
}

func scanJoinToken(sc scanner) (*store.JoinToken, error) {
	var (
		jt                     store.JoinToken
		created, expires, used sql.NullInt64
	)
	if err := sc.Scan(&jt.Hash, &jt.Connector, &created, &expires, &used); err != nil {
		return nil, err
	}
	jt.CreatedAt, jt.ExpiresAt, jt.UsedAt = timeOf(created), timeOf(expires), timeOf(used)
	return &jt, nil
}

// UpsertConnector creates the connector or replaces its certificate serial
// and join time. A zero LastSeen keeps the stored one.
func (db *DB) UpsertConnector(ctx context.Context, c *store.Connector) error {
	if c.Name == "" {
		return errors.New("upsert connector: empty name")
	}
	ts, err := timeArgs(c.JoinedAt, c.LastSeen)
	if err != nil {
		return fmt.Errorf("upsert connector %s: %w", c.Name, err)
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO connectors (name, cert_serial, joined_at, last_seen)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			cert_serial = excluded.cert_serial,
			joined_at = excluded.joined_at,
			last_seen = coalesce(excluded.last_seen, last_seen)`,
		c.Name, c.CertSerial, ts[0], ts[1])
	if err != nil {
		return fmt.Errorf("upsert connector %s: %w", c.Name, err)
	}
	return nil
}

// GetConnector returns the named connector, or store.ErrNotFound.
func (db *DB) GetConnector(ctx context.Context, name string) (*store.Connector, error) {
	c, err := scanConnector(db.r.QueryRowContext(ctx,
		`SELECT name, cert_serial, joined_at, last_seen FROM connectors WHERE name = ?`, name))
	if err != nil {
		return nil, fmt.Errorf("get connector %s: %w", name, notFound(err))
	}
	return c, nil
}

// ListConnectors returns every connector ordered by name.
func (db *DB) ListConnectors(ctx context.Context) ([]store.Connector, error) {
	out, err := queryAll(ctx, db.r, scanConnector,
		`SELECT name, cert_serial, joined_at, last_seen FROM connectors ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list connectors: %w", err)
	}
	return out, nil
}

// TouchConnector records that the connector was seen at at. LastSeen only
// moves forward, so late or reordered touches do not rewind it. A missing
// connector fails with store.ErrNotFound.
func (db *DB) TouchConnector(ctx context.Context, name string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("touch connector %s: zero time", name)
	}
	when, err := nanos(at)
	if err != nil {
		return fmt.Errorf("touch connector %s: %w", name, err)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE connectors SET last_seen = max(coalesce(last_seen, ?1), ?1)
		WHERE name = ?2`, when, name)
	if err != nil {
		return fmt.Errorf("touch connector %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("touch connector %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("touch connector %s: %w", name, store.ErrNotFound)
	}
	return nil
}

func scanConnector(sc scanner) (*store.Connector, error) {
	var (
		c              store.Connector
		joined, seenAt sql.NullInt64
	)
	if err := sc.Scan(&c.Name, &c.CertSerial, &joined, &seenAt); err != nil {
		return nil, err
	}
	c.JoinedAt, c.LastSeen = timeOf(joined), timeOf(seenAt)
	return &c, nil
}
