package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store on a PostgreSQL database. It is safe for
// concurrent use. Create it with Open and release it with Close.
type Store struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	// where names the database for errors and logs, without secrets.
	where string

	closeOnce sync.Once
}

// Open connects to the database at dsn (a postgres:// URL or key=value
// settings, as libpq and pgx take them; pool settings such as
// pool_max_conns included), checks that it answers, and applies any
// pending schema migrations. logger may be nil. The password in dsn never
// appears in Open's errors or in the log.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts passwords on a best-effort basis only, and a string
		// that does not parse is where it may fail: say nothing of it.
		return nil, errors.New("open postgres store: cannot parse the connection string (want postgres://user:password@host:port/database?sslmode=... or key=value settings)")
	}
	sc := newScrubber(dsn, cfg.ConnConfig.Password)
	s := &Store{logger: logger, where: describe(cfg.ConnConfig)}
	fail := func(err error) error {
		return sc.scrub(fmt.Errorf("open postgres store %s: %w", s.where, err))
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fail(err)
	}
	ok := false
	defer func() {
		if !ok {
			s.pool.Close()
		}
	}()
	if err := s.pool.Ping(ctx); err != nil {
		return nil, fail(err)
	}
	ms, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		return nil, fail(err)
	}
	applied, err := migrate(ctx, s.pool, ms)
	if err != nil {
		return nil, fail(err)
	}
	logger.Info("store opened", "store", "postgres", "at", s.where, "schema_version", len(ms), "migrations_applied", applied)
	ok = true
	return s, nil
}

// describe names the database a pool connects to, without the password.
func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("%s@%s/%s", c.User, c.Host+":"+strconv.Itoa(int(c.Port)), c.Database)
}

// LogValue names the database, never the password.
func (s *Store) LogValue() slog.Value {
	return slog.GroupValue(slog.String("store", "postgres"), slog.String("at", s.where))
}

// Close closes the pool, waiting for connections in use to be released.
// It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// scrubber removes a DSN and its password from error text.
type scrubber struct{ secrets []string }

func newScrubber(dsn, password string) scrubber {
	var sc scrubber
	for _, s := range []string{dsn, password, url.QueryEscape(password), url.PathEscape(password),
		url.UserPassword("", password).String()[1:]} {
		if s != "" && s != ":" {
			sc.secrets = append(sc.secrets, s)
		}
	}
	return sc
}

// scrub returns err with every secret in its text replaced. The result
// still matches what err matched with errors.Is (a canceled context, for
// one), but does not unwrap to err, whose text may hold a secret.
func (sc scrubber) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range sc.secrets {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return &scrubbedError{msg: msg, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }

func (e *scrubbedError) Is(target error) bool { return errors.Is(e.err, target) }

// isUnique reports whether err is a unique or primary key violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// notFound maps pgx.ErrNoRows to store.ErrNotFound and passes other errors.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// Times are kept between year 1 (the zero time, stored as NULL, is its
// first instant) and year 9999, which timestamptz and pgx both hold.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// pgTime is a time as stored: the microsecond in a timestamptz column and
// the nanoseconds past it in its *_ns column.
type pgTime struct {
	at pgtype.Timestamptz
	ns int16
}

// toPG splits t for a time column pair: NULL and 0 for the zero time.
func toPG(t time.Time) (pgTime, error) {
	if t.IsZero() {
		return pgTime{}, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return pgTime{}, fmt.Errorf("time %s out of range", t.UTC().Format(time.RFC3339))
	}
	us := t.Truncate(time.Microsecond)
	return pgTime{at: pgtype.Timestamptz{Time: us, Valid: true}, ns: int16(t.Sub(us))}, nil
}

// toPGs splits several times, failing on the first out of range.
func toPGs(ts ...time.Time) ([]pgTime, error) {
	out := make([]pgTime, len(ts))
	for i, t := range ts {
		var err error
		if out[i], err = toPG(t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fromPG joins a time column pair; NULL is the zero time.
func fromPG(at pgtype.Timestamptz, ns int16) time.Time {
	if !at.Valid {
		return time.Time{}
	}
	return at.Time.Add(time.Duration(ns)).UTC()
}

// strs is a list for a text[] column: nil becomes empty, as NOT NULL wants.
func strs(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// querier is what *pgxpool.Pool and pgx.Tx have in common, so that reads
// in a transaction see its own writes.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, scan func(pgx.Row) (*T, error), sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

// defaultListLimit is the limit of ListSessions and ListReviews when the
// filter gives none.
const defaultListLimit = 100
