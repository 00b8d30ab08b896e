package sqlite

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// openRaw opens a bare SQLite file on one connection, like the writer.
func openRaw(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", filepath.Join(tb.TempDir(), "m.db"))
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { db.Close() })
	return db
}

func userVersion(tb testing.TB, db *sql.DB) int {
	tb.Helper()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		tb.Fatal(err)
	}
	return v
}

func tableExists(tb testing.TB, db *sql.DB, name string) bool {
	tb.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n == 1
}

func TestMigrateAppliesOnce(t *testing.T) {
	ctx := t.Context()
	db := openRaw(t)
	fsys := fstest.MapFS{
		"m/0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);\nINSERT INTO a VALUES (1);")},
		"m/0002_b.sql": {Data: []byte("CREATE TABLE b (y INTEGER);")},
		"m/README":     {Data: []byte("not a migration")},
	}
	ms, err := loadMigrations(fsys, "m", nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := migrate(ctx, db, ms)
	if err != nil || n != 2 {
		t.Fatalf("first migrate = %d, %v; want 2, nil", n, err)
	}
	if v := userVersion(t, db); v != 2 {
		t.Fatalf("user_version = %d, want 2", v)
	}
	n, err = migrate(ctx, db, ms)
	if err != nil || n != 0 {
		t.Fatalf("second migrate = %d, %v; want 0, nil", n, err)
	}
	var rows int
	if err := db.QueryRow("SELECT count(*) FROM a").Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("table a has %d rows, %v; want 1 (migration 1 ran once)", rows, err)
	}

	// A third file applies on its own.
	fsys["m/0003_c.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE c (z INTEGER);")}
	ms, err = loadMigrations(fsys, "m", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := migrate(ctx, db, ms); err != nil || n != 1 {
		t.Fatalf("migrate with a new file = %d, %v; want 1, nil", n, err)
	}
	if !tableExists(t, db, "c") || userVersion(t, db) != 3 {
		t.Fatal("migration 3 not applied")
	}
}

func TestMigrateFailureRollsBack(t *testing.T) {
	ctx := t.Context()
	db := openRaw(t)
	ms, err := loadMigrations(fstest.MapFS{
		"m/0001_ok.sql":  {Data: []byte("CREATE TABLE ok (x INTEGER);")},
		"m/0002_bad.sql": {Data: []byte("CREATE TABLE half (x INTEGER);\nTHIS IS NOT SQL;")},
	}, "m", nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := migrate(ctx, db, ms)
	if err == nil {
		t.Fatal("migrate succeeded, want an error from 0002")
	}
	if n != 1 || !strings.Contains(err.Error(), "0002_bad.sql") {
		t.Errorf("migrate = %d, %v; want 1 applied and an error naming 0002_bad.sql", n, err)
	}
	if v := userVersion(t, db); v != 1 {
		t.Errorf("user_version = %d, want 1", v)
	}
	if tableExists(t, db, "half") {
		t.Error("table from the failed migration exists: it was not rolled back")
	}
}

func TestLoadMigrationsRejects(t *testing.T) {
	tests := []struct {
		name  string
		files []string
	}{
		{"gap", []string{"0001_a.sql", "0003_c.sql"}},
		{"repeat", []string{"0001_a.sql", "1_again.sql"}},
		{"not at one", []string{"0002_b.sql"}},
		{"zero", []string{"0000_a.sql"}},
		{"no number", []string{"init.sql"}},
		{"letters", []string{"00x1_a.sql"}},
		{"no description", []string{"0001.sql"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tt.files {
				fsys["m/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			if _, err := loadMigrations(fsys, "m", nil); err == nil {
				t.Errorf("loadMigrations(%v) succeeded, want an error", tt.files)
			}
		})
	}
}

func TestEmbeddedMigrationsLoad(t *testing.T) {
	ms, err := loadMigrations(migrationFiles, "migrations", migrationSteps())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].version != 1 {
		t.Fatalf("embedded migrations: %d, want at least 0001", len(ms))
	}
}

func FuzzMigrationVersion(f *testing.F) {
	f.Add("0001_init.sql")
	f.Fuzz(func(t *testing.T, name string) {
		v, err := migrationVersion(name)
		if err != nil {
			return
		}
		if v < 1 {
			t.Fatalf("migrationVersion(%q) = %d, want >= 1", name, v)
		}
		num, _, _ := strings.Cut(name, "_")
		if strings.TrimLeft(num, "0123456789") != "" {
			t.Fatalf("migrationVersion(%q) accepted a non-numeric prefix", name)
		}
	})
}
