package pgstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store/pgstore"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// embedded returns the embedded migrations and their count.
func embedded(t *testing.T) (map[string]string, int) {
	t.Helper()
	files, err := pgstore.EmbeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	return files, len(files)
}

// versions returns the versions recorded in schema_migrations, in order.
func versions(t *testing.T, dsn string) string {
	t.Helper()
	return query[string](t, dsn, `SELECT coalesce(string_agg(version::text, ',' ORDER BY version), '') FROM schema_migrations`)
}

func wantVersions(n int) string {
	var v []string
	for i := 1; i <= n; i++ {
		v = append(v, fmt.Sprint(i))
	}
	return strings.Join(v, ",")
}

// TestMigrationsIdempotent: opening a migrated database applies nothing
// and keeps its data.
func TestMigrationsIdempotent(t *testing.T) {
	pg := server(t)
	dsn := pg.DSN(pg.CreateDatabase(t))
	files, n := embedded(t)

	st := MustOpen(t, dsn)
	storetest.MustCreateSession(t, st, storetest.NewSession("s1", 0))
	storetest.MustAppend(t, st, storetest.NewEvents("s1", 1, 3))
	if applied, err := pgstore.Migrate(t.Context(), st, files); err != nil || applied != 0 {
		t.Fatalf("migrating again: applied %d, %v; want 0, nil", applied, err)
	}
	st.Close()

	st = MustOpen(t, dsn)
	if got := versions(t, dsn); got != wantVersions(n) {
		t.Errorf("schema_migrations after two opens: %q, want %q", got, wantVersions(n))
	}
	s, err := st.GetSession(t.Context(), "s1")
	if err != nil || s.LastSeq != 3 {
		t.Fatalf("after reopening: session %+v, %v; want last seq 3", s, err)
	}
}

// TestMigrationsConcurrentOpen starts several stores on one new database
// at once, as gateway replicas starting together would: every Open
// succeeds and each migration is applied once. The embedded migrations are
// not idempotent (CREATE TABLE without IF NOT EXISTS), so an Open that
// raced another would fail.
func TestMigrationsConcurrentOpen(t *testing.T) {
	pg := server(t)
	_, n := embedded(t)
	for round := range 3 {
		dsn := pg.DSN(pg.CreateDatabase(t))
		const replicas = 6
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		start := make(chan struct{})
		for range replicas {
			wg.Go(func() {
				<-start
				st, err := pgstore.Open(context.Background(), dsn, nil)
				if err == nil {
					err = st.Close()
				}
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Errorf("round %d: Open: %v", round, err)
			}
		}
		if got := versions(t, dsn); got != wantVersions(n) {
			t.Errorf("round %d: schema_migrations %q, want %q", round, got, wantVersions(n))
		}
	}
}

// TestMigrationRace runs a slow new migration from several stores at once:
// exactly one applies it, the others wait for the lock and find it done.
func TestMigrationRace(t *testing.T) {
	pg := server(t)
	dsn := pg.DSN(pg.CreateDatabase(t))
	files, n := embedded(t)
	files[fmt.Sprintf("%04d_race.sql", n+1)] = `CREATE TABLE race (id int); SELECT pg_sleep(0.3);`

	const replicas = 4
	stores := make([]*pgstore.Store, replicas)
	for i := range stores {
		stores[i] = MustOpen(t, dsn)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied int
	)
	for _, st := range stores {
		wg.Go(func() {
			k, err := pgstore.Migrate(context.Background(), st, files)
			if err != nil {
				t.Errorf("Migrate: %v", err)
			}
			mu.Lock()
			applied += k
			mu.Unlock()
		})
	}
	wg.Wait()
	if applied != 1 {
		t.Errorf("the new migration was applied %d times, want 1", applied)
	}
	if got := versions(t, dsn); got != wantVersions(n+1) {
		t.Errorf("schema_migrations %q, want %q", got, wantVersions(n+1))
	}
}

// TestFailedMigrationRollsBack: a migration that fails leaves no trace,
// and the error names it.
func TestFailedMigrationRollsBack(t *testing.T) {
	pg := server(t)
	dsn := pg.DSN(pg.CreateDatabase(t))
	files, n := embedded(t)
	name := fmt.Sprintf("%04d_broken.sql", n+1)
	files[name] = `CREATE TABLE half_done (id int); SELEC 1;`
	st := MustOpen(t, dsn)
	_, err := pgstore.Migrate(t.Context(), st, files)
	if err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("Migrate: got %v, want an error naming %s", err, name)
	}
	if got := query[bool](t, dsn, `SELECT to_regclass('half_done') IS NULL`); !got {
		t.Error("table half_done exists: the failed migration was not rolled back")
	}
	if got := versions(t, dsn); got != wantVersions(n) {
		t.Errorf("schema_migrations %q, want %q", got, wantVersions(n))
	}
	// The lock was released: the store's own migrations still run.
	MustOpen(t, dsn)
}

// TestNewerSchemaRefused: a database migrated by a newer gatehouse is not
// touched by an older one.
func TestNewerSchemaRefused(t *testing.T) {
	pg := server(t)
	db := pg.CreateDatabase(t)
	dsn := pg.DSN(db)
	MustOpen(t, dsn).Close()
	pg.Exec(t, db, `INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')`)
	_, err := pgstore.Open(t.Context(), dsn, nil)
	if err == nil || !strings.Contains(err.Error(), "schema version 999 is newer than this binary knows") {
		t.Fatalf("Open: got %v, want a newer schema error", err)
	}
}
