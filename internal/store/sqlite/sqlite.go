package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var _ store.Store = (*DB)(nil)

// readConns caps the read-only pool. Readers never block the writer in WAL
// mode; a handful covers the API and console on a 2-core gateway.
const readConns = 4

// busyTimeout is how long a connection waits for another process's lock.
const busyTimeout = 5 * time.Second

// DB is a store.Store on one SQLite file. It is safe for concurrent use.
// Create it with Open and release it with Close.
type DB struct {
	path string
	w    *sql.DB // exactly one connection: all writes, in order
	r    *sql.DB // read-only pool

	// Prepared on w, reused by every AppendEvents.
	insertChunk    *sql.Stmt
	insertNewChunk *sql.Stmt
	lastSeq        *sql.Stmt
	bumpStats      *sql.Stmt

	closeOnce sync.Once
	closeErr  error
}

// Open opens the database file at path, creating it with mode 0600 if it
// does not exist, and applies any pending schema migrations. path must be a
// file path without '?'; the directory must exist.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" || strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return nil, fmt.Errorf("open sqlite store %q: path must be a plain file path without '?'", path)
	}
	// Create the file ourselves so SQLite never picks its mode; SQLite gives
	// the -wal and -shm files the mode of the database file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}

	db := &DB{path: path}
	ok := false
	defer func() {
		if !ok {
			_ = db.Close()
		}
	}()

	timeout := fmt.Sprintf("%d", busyTimeout.Milliseconds())
	common := "_pragma=busy_timeout(" + timeout + ")&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	w, err := sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	db.w = w
	if err := w.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: read journal mode: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return nil, fmt.Errorf("open sqlite store %s: journal mode is %q, want wal", path, mode)
	}

	ms, err := loadMigrations(migrationFiles, "migrations", migrationSteps())
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	if _, err := migrate(ctx, w, ms); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}

	r, err := sql.Open("sqlite", path+"?"+common+"&_query_only=1")
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	r.SetMaxOpenConns(readConns)
	r.SetMaxIdleConns(readConns)
	db.r = r
	if err := r.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}

	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&db.insertChunk, sqlInsertChunk},
		{&db.insertNewChunk, sqlInsertNewChunk},
		{&db.lastSeq, sqlLastSeq},
		{&db.bumpStats, sqlBumpStats},
	} {
		if *p.stmt, err = w.PrepareContext(ctx, p.sql); err != nil {
			return nil, fmt.Errorf("open sqlite store %s: prepare: %w", path, err)
		}
	}
	ok = true
	return db, nil
}

// Close closes the database. It is safe to call more than once; later calls
// return the first call's result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		var errs []error
		for _, s := range []*sql.Stmt{db.insertChunk, db.insertNewChunk, db.lastSeq, db.bumpStats} {
			if s != nil {
				errs = append(errs, s.Close())
			}
		}
		if db.r != nil {
			errs = append(errs, db.r.Close())
		}
		if db.w != nil {
			errs = append(errs, db.w.Close())
		}
		if err := errors.Join(errs...); err != nil {
			db.closeErr = fmt.Errorf("close sqlite store %s: %w", db.path, err)
		}
	})
	return db.closeErr
}

// inTx runs fn in a write transaction on the writer connection and commits
// when fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// isConstraint reports whether err is a primary key or unique violation.
func isConstraint(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return true
	}
	return false
}

// Unix nanoseconds cover 1677-09-21 to 2262-04-11; times outside that range
// would silently wrap, so they are rejected.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos encodes t for a time column: NULL for the zero time.
func nanos(t time.Time) (sql.NullInt64, error) {
	if t.IsZero() {
		return sql.NullInt64{}, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return sql.NullInt64{}, fmt.Errorf("time %s out of range", t.UTC().Format(time.RFC3339))
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}, nil
}

// timeOf decodes a time column.
func timeOf(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// timeArgs encodes several times, failing on the first out of range.
func timeArgs(ts ...time.Time) ([]sql.NullInt64, error) {
	out := make([]sql.NullInt64, len(ts))
	for i, t := range ts {
		n, err := nanos(t)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

func encodeGroups(g []string) (string, error) {
	if len(g) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(g)
	if err != nil {
		return "", fmt.Errorf("encode groups: %w", err)
	}
	return string(b), nil
}

func decodeGroups(s string) ([]string, error) {
	g := []string{}
	if err := json.Unmarshal([]byte(s), &g); err != nil {
		return nil, fmt.Errorf("decode groups: %w", err)
	}
	return g, nil
}

// notFound maps sql.ErrNoRows to store.ErrNotFound and passes other errors.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}
