package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// MustOpen opens a store at path and closes it when tb ends.
func MustOpen(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return MustOpen(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	})
}

func TestFileMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.db")
	db := MustOpen(t, path)
	// A write makes sure the WAL file exists too.
	storetest.MustCreateSession(t, db, storetest.NewSession("s1", 0))
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), got)
		}
	}
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	storetest.MustCreateSession(t, db, storetest.NewSession("s1", 0))
	storetest.MustAppend(t, db, storetest.NewEvents("s1", 1, 4))
	v1, err := sqlite.SchemaVersion(ctx, db)
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	if v1 < 1 {
		t.Fatalf("schema version %d after Open, want >= 1", v1)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// The migrations create tables without IF NOT EXISTS: running them
	// again would fail Open.
	db = MustOpen(t, path)
	if v2, err := sqlite.SchemaVersion(ctx, db); err != nil || v2 != v1 {
		t.Fatalf("schema version after reopen = %d, %v; want %d", v2, err, v1)
	}
	s, err := db.GetSession(ctx, "s1")
	if err != nil {
		t.Fatalf("GetSession after reopen: %v", err)
	}
	if s.LastSeq != 4 || s.Statements != 2 {
		t.Errorf("after reopen: last seq %d, statements %d; want 4, 2", s.LastSeq, s.Statements)
	}
	evs, err := db.ListEvents(ctx, "s1", 0, 0)
	if err != nil || len(evs) != 4 {
		t.Errorf("ListEvents after reopen = %d, %v; want 4, nil", len(evs), err)
	}
}

func TestJournalModeWAL(t *testing.T) {
	db := MustOpen(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	got, err := sqlite.Pragma(t.Context(), db, "journal_mode")
	if err != nil {
		t.Fatal(err)
	}
	if got != "wal" {
		t.Errorf("journal_mode = %q, want wal", got)
	}
	for _, tt := range []struct{ pragma, want string }{
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
		{"busy_timeout", "5000"},
	} {
		t.Run(tt.pragma, func(t *testing.T) {
			got, err := sqlite.Pragma(t.Context(), db, tt.pragma)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("%s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
	}{
		{"empty", ""},
		{"memory", ":memory:"},
		{"query", filepath.Join(dir, "x.db?mode=ro")},
		{"uri", "file:" + filepath.Join(dir, "x.db")},
		{"missing dir", filepath.Join(dir, "no", "such", "x.db")},
		{"directory", dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sqlite.Open(t.Context(), tt.path)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tt.path)
			}
		})
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db := MustOpen(t, path)
	if err := sqlite.SetSchemaVersion(t.Context(), db, 999); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2, err := sqlite.Open(t.Context(), path)
	if err == nil {
		db2.Close()
		t.Fatal("Open of a newer schema succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q does not say the schema is newer", err)
	}
}

func TestTimeOutOfRange(t *testing.T) {
	db := MustOpen(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	s := storetest.NewSession("s1", 0)
	s.StartedAt = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := db.CreateSession(t.Context(), &s); err == nil {
		t.Fatal("CreateSession with year 9999 succeeded, want an error")
	}
	if _, err := db.GetSession(t.Context(), "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession after rejected create: got %v, want ErrNotFound", err)
	}
}

func TestAppendEventsValidation(t *testing.T) {
	db := MustOpen(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	tests := []struct {
		name string
		ev   store.Event
	}{
		{"seq zero", store.Event{Session: "s", Seq: 0, Type: "x"}},
		{"seq too large", store.Event{Session: "s", Seq: 1 << 63, Type: "x"}},
		{"no session", store.Event{Seq: 1, Type: "x"}},
		// Found inside the transaction, after the first insert: the
		// transaction must roll back.
		{"time out of range", store.Event{Session: "s", Seq: 2, Type: "x", Time: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The good event before the bad one must not be stored either.
			evs := append(storetest.NewEvents("s", 1, 1), tt.ev)
			if err := db.AppendEvents(t.Context(), evs); err == nil {
				t.Fatal("AppendEvents succeeded, want an error")
			}
			got, err := db.ListEvents(t.Context(), "s", 0, 0)
			if err != nil || len(got) != 0 {
				t.Errorf("ListEvents = %d, %v; want none stored", len(got), err)
			}
		})
	}
}

func TestAppendEventsCanceled(t *testing.T) {
	db := MustOpen(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := db.AppendEvents(ctx, storetest.NewEvents("s", 1, 3)); !errors.Is(err, context.Canceled) {
		t.Fatalf("AppendEvents with a canceled context: got %v, want context.Canceled", err)
	}
	got, err := db.ListEvents(t.Context(), "s", 0, 0)
	if err != nil || len(got) != 0 {
		t.Errorf("ListEvents = %d, %v; want none stored", len(got), err)
	}
	// The writer connection is usable afterwards.
	storetest.MustAppend(t, db, storetest.NewEvents("s", 1, 3))
}

func TestJoinTokenWithoutExpiry(t *testing.T) {
	db := MustOpen(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	jt := store.JoinToken{Hash: []byte("h"), Connector: "edge", CreatedAt: time.Now()}
	if err := db.CreateJoinToken(t.Context(), &jt); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ConsumeJoinToken(t.Context(), jt.Hash, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Errorf("ConsumeJoinToken of a token without expiry: %v", err)
	}
}

func TestSecretsNotInErrors(t *testing.T) {
	db := MustOpen(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	ctx := t.Context()
	secret := []byte("s3cr3t-hash-value")
	tok := store.Token{ID: "t1", Hash: secret, Identity: "a", Kind: "person", IssuedAt: time.Now()}
	if err := db.CreateToken(ctx, &tok); err != nil {
		t.Fatal(err)
	}
	errs := []error{db.CreateToken(ctx, &store.Token{ID: "t2", Hash: secret, Identity: "a", Kind: "person"})}
	_, err := db.TokenByHash(ctx, []byte("s3cr3t-other"))
	errs = append(errs, err)
	_, err = db.ConsumeJoinToken(ctx, secret, time.Now())
	errs = append(errs, err)
	jt := store.JoinToken{Hash: secret, Connector: "edge"}
	errs = append(errs, db.CreateJoinToken(ctx, &jt), db.CreateJoinToken(ctx, &jt))
	for i, err := range errs {
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error %d leaks the hash: %v", i, err)
		}
	}
	if errs[0] == nil || errs[1] == nil || errs[2] == nil || errs[4] == nil {
		t.Errorf("expected errors, got %v", errs)
	}
}
