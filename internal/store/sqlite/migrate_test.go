package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-dev/gatehouse/internal/store"
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

func TestLoadMigrationsStepWithoutFile(t *testing.T) {
	fsys := fstest.MapFS{"m/0001_a.sql": {Data: []byte("SELECT 1;")}}
	step := func(context.Context, *sql.Tx) error { return nil }
	if _, err := loadMigrations(fsys, "m", map[int]migrationStep{2: step}); err == nil {
		t.Error("loadMigrations with a step for a missing version succeeded, want an error")
	}
}

func TestMigrationStepFailureRollsBack(t *testing.T) {
	ctx := t.Context()
	db := openRaw(t)
	ms, err := loadMigrations(fstest.MapFS{"m/0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")}}, "m",
		map[int]migrationStep{1: func(context.Context, *sql.Tx) error { return errors.New("step failed") }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate(ctx, db, ms); err == nil || !strings.Contains(err.Error(), "step failed") {
		t.Fatalf("migrate = %v, want the step's error", err)
	}
	if userVersion(t, db) != 0 || tableExists(t, db, "a") {
		t.Error("failed migration step was not rolled back")
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

// TestMigrateEventsToChunks builds a database at schema version 2 holding
// rows of the old events table, opens it, and reads the events back.
func TestMigrateEventsToChunks(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	old.SetMaxOpenConns(1)
	defer old.Close()
	ms, err := loadMigrations(migrationFiles, "migrations", migrationSteps())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate(ctx, old, ms[:2]); err != nil {
		t.Fatal(err)
	}

	at := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	hash := func(seq uint64) string { return fmt.Sprintf("%064x", seq) }
	var want []store.Event
	for seq := uint64(1); seq <= 300; seq++ {
		want = append(want, store.Event{Session: "a", Seq: seq, Time: at.Add(time.Duration(seq)), Type: "statement",
			Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, seq)), Prev: hash(seq - 1), Hash: hash(seq)})
	}
	want = append(want,
		// Sparse seqs, no time, empty data, hashes that are not hex.
		store.Event{Session: "b", Seq: 2, Type: "x", Hash: "h2"},
		store.Event{Session: "b", Seq: 5, Time: at, Type: "y", Data: json.RawMessage(`"\u0000"`), Prev: "h4", Hash: "H5"},
		store.Event{Session: "b", Seq: 9, Time: time.Unix(0, -1).UTC(), Type: "y", Data: json.RawMessage(`{}`), Prev: "H5", Hash: "h9"},
	)
	for _, e := range want {
		var tm sql.NullInt64
		if !e.Time.IsZero() {
			tm = sql.NullInt64{Int64: e.Time.UnixNano(), Valid: true}
		}
		data := []byte(e.Data)
		if data == nil {
			data = []byte{} // the column is NOT NULL
		}
		if _, err := old.ExecContext(ctx, `INSERT INTO events (session, seq, time, type, data, prev, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, e.Session, int64(e.Seq), tm, e.Type, data, e.Prev, e.Hash); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.ExecContext(ctx, `INSERT INTO session_stats VALUES ('a', 300, 300, ?), ('b', 0, 9, 'h9')`, hash(300)); err != nil {
		t.Fatal(err)
	}
	old.Close()

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if v, err := SchemaVersion(ctx, db); err != nil || v < 3 {
		t.Fatalf("schema version = %d, %v; want at least 3", v, err)
	}
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'events'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("events table still there (%d, %v)", n, err)
	}
	var got []store.Event
	for _, s := range []string{"a", "b"} {
		evs, err := db.ListEvents(ctx, s, 0, 0)
		if err != nil {
			t.Fatalf("ListEvents(%s): %v", s, err)
		}
		got = append(got, evs...)
	}
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("events after migration (-want +got):\n%s", d)
	}
	chunks, err := ChunkRanges(ctx, db, "a")
	if err != nil || len(chunks) != 2 || chunks[0] != (ChunkRange{1, 256, 256}) || chunks[1] != (ChunkRange{257, 300, 44}) {
		t.Errorf("chunks of a = %v, %v; want 1-256 and 257-300", chunks, err)
	}
	// Appending continues after the migrated events, and a resend of
	// migrated ones is ignored.
	next := store.Event{Session: "b", Seq: 10, Type: "statement", Prev: "h9", Hash: "h10"}
	if err := db.AppendEvents(ctx, []store.Event{want[len(want)-1], next}); err != nil {
		t.Fatal(err)
	}
	s := store.Session{ID: "b", Identity: "x", Connection: "c", Connector: "e", Protocol: "postgres"}
	if err := db.CreateSession(ctx, &s); err != nil {
		t.Fatal(err)
	}
	if got, err := db.GetSession(ctx, "b"); err != nil || got.LastSeq != 10 || got.Statements != 1 || got.LastHash != "h10" {
		t.Errorf("session b after append = %+v, %v; want last seq 10, 1 statement, hash h10", got, err)
	}
}
