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
