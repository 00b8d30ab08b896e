package sqlite

import (
	"context"
	"fmt"
)

// SchemaVersion returns the database's PRAGMA user_version.
func SchemaVersion(ctx context.Context, db *DB) (int, error) {
	var v int
	err := db.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

// SetSchemaVersion overwrites PRAGMA user_version.
func SetSchemaVersion(ctx context.Context, db *DB, v int) error {
	_, err := db.w.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v))
	return err
}

// Pragma reads a pragma on the writer connection.
func Pragma(ctx context.Context, db *DB, name string) (string, error) {
	var v string
	err := db.w.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}

// ChunkRange is an event_chunks row's seq range and event count.
type ChunkRange struct{ First, Last, N int64 }

// ChunkRanges returns the session's chunks in first_seq order.
func ChunkRanges(ctx context.Context, db *DB, session string) ([]ChunkRange, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT first_seq, last_seq, n FROM event_chunks
		WHERE session = ? ORDER BY first_seq`, session)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ChunkRange
	for rows.Next() {
		var c ChunkRange
		if err := rows.Scan(&c.First, &c.Last, &c.N); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SetChunkData overwrites the blob of the session's chunk starting at first.
func SetChunkData(ctx context.Context, db *DB, session string, first int64, data []byte) error {
	_, err := db.w.ExecContext(ctx, `UPDATE event_chunks SET data = ? WHERE session = ? AND first_seq = ?`, data, session, first)
	return err
}

// ErrCorrupt is wrapped by errors for chunks that do not decode.
var ErrCorrupt = errCorrupt
