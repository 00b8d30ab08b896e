package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered schema step.
type migration struct {
	version int
	name    string
	sql     string
	// step, if not nil, runs after sql in the same transaction: for what
	// SQL cannot do, such as re-encoding rows.
	step migrationStep
}

// migrationStep is the Go part of a migration.
type migrationStep func(ctx context.Context, tx *sql.Tx) error

// migrationSteps returns the Go parts of the embedded migrations, by
// version.
func migrationSteps() map[int]migrationStep {
	return map[int]migrationStep{
		3: moveEventsToChunks,
	}
}

// loadMigrations reads dir in fsys. Files are named NNNN_description.sql;
// versions must start at 1 and have no gaps, so that user_version N always
// means "the first N files are applied". steps are attached to the files of
// their versions; a step without a file is an error.
func loadMigrations(fsys fs.FS, dir string, steps map[int]migrationStep) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		v, err := migrationVersion(e.Name())
		if err != nil {
			return nil, err
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d (versions start at 1 without gaps or repeats)", m.name, m.version, i+1)
		}
	}
	for v, step := range steps {
		if v < 1 || v > len(ms) {
			return nil, fmt.Errorf("migration step for version %d: no such migration file", v)
		}
		ms[v-1].step = step
	}
	return ms, nil
}

// migrationVersion parses the leading number of a migration file name.
func migrationVersion(name string) (int, error) {
	num, _, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
	if !ok || num == "" {
		return 0, fmt.Errorf("migration %q: name must be NNNN_description.sql", name)
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("migration %q: name must be NNNN_description.sql", name)
		}
	}
	v, err := strconv.Atoi(num)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("migration %q: version must be a positive number", name)
	}
	return v, nil
}

// migrate applies the migrations newer than the database's user_version,
// each in its own transaction together with the user_version bump, and
// returns how many it applied. conn must be the writer, so no other
// connection can interleave.
func migrate(ctx context.Context, db *sql.DB, ms []migration) (int, error) {
	var current int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if current > len(ms) {
		return 0, fmt.Errorf("schema version %d is newer than this binary knows (%d): upgrade gatehouse", current, len(ms))
	}
	applied := 0
	for _, m := range ms[current:] {
		if err := applyMigration(ctx, db, m); err != nil {
			return applied, err
		}
		applied++
	}
	return applied, nil
}

func applyMigration(ctx context.Context, db *sql.DB, m migration) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("apply migration %s: %w", m.name, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	// Another process may have migrated between our read of user_version
	// and taking the write lock; re-check inside the transaction.
	var current int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("apply migration %s: read schema version: %w", m.name, err)
	}
	if current >= m.version {
		return tx.Commit()
	}
	if current != m.version-1 {
		return fmt.Errorf("apply migration %s: schema version is %d, want %d", m.name, current, m.version-1)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("apply migration %s: %w", m.name, err)
	}
	if m.step != nil {
		if err := m.step(ctx, tx); err != nil {
			return fmt.Errorf("apply migration %s: %w", m.name, err)
		}
	}
	// PRAGMA takes no bind parameters; the version is an int we parsed.
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(m.version)); err != nil {
		return fmt.Errorf("apply migration %s: set schema version: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apply migration %s: commit: %w", m.name, err)
	}
	return nil
}
