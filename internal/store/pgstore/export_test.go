package pgstore

import (
	"context"
	"testing/fstest"
)

// ResetPool closes every idle connection of the store's pool, so that the
// next query connects again.
func ResetPool(s *Store) { s.pool.Reset() }

// Migrate applies the migrations in files (a map from name to SQL, as in
// migrations/) to the store's database, as Open does with the embedded
// ones, and returns how many it applied.
func Migrate(ctx context.Context, s *Store, files map[string]string) (int, error) {
	fsys := fstest.MapFS{}
	for name, sql := range files {
		fsys["m/"+name] = &fstest.MapFile{Data: []byte(sql)}
	}
	ms, err := loadMigrations(fsys, "m")
	if err != nil {
		return 0, err
	}
	return migrate(ctx, s.pool, ms)
}

// EmbeddedMigrations returns the embedded migration files by name.
func EmbeddedMigrations() (map[string]string, error) {
	ms, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.name] = m.sql
	}
	return out, nil
}
