package pgstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/pgstore"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// MustOpen opens a store on dsn and closes it when tb ends.
func MustOpen(tb testing.TB, dsn string) *pgstore.Store {
	tb.Helper()
	s, err := pgstore.Open(context.Background(), dsn, nil)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// openFresh opens a store on a new database of the package's server.
func openFresh(tb testing.TB) *pgstore.Store {
	tb.Helper()
	pg := server(tb)
	return MustOpen(tb, pg.DSN(pg.CreateDatabase(tb)))
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
}

// query runs a query on the database behind dsn and returns its single
// value, for tests that look at what the store wrote.
func query[T any](tb testing.TB, dsn, sql string, args ...any) T {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var v T
	if err := conn.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return v
}

func TestTimesOutOfRange(t *testing.T) {
	st := openFresh(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"year 1", time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), true},
		{"year 9999", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), true},
		{"before 1970 with nanoseconds", time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.FixedZone("x", -7*3600)), true},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"before year 1", time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := storetest.NewSession(strings.ReplaceAll(tc.name, " ", "-"), 0)
			s.StartedAt = tc.at
			err := st.CreateSession(ctx, &s)
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), "out of range") {
					t.Fatalf("CreateSession: got %v, want an out of range error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("CreateSession: %v", err)
			}
			got, err := st.GetSession(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !got.StartedAt.Equal(tc.at) {
				t.Errorf("StartedAt: got %v, want %v", got.StartedAt, tc.at)
			}
		})
	}
}

// TestAppendEventsAllOrNothing: a batch with one bad event stores nothing,
// and one that fails in the database leaves neither events nor counters.
func TestAppendEventsAllOrNothing(t *testing.T) {
	st := openFresh(t)
	ctx := t.Context()
	storetest.MustCreateSession(t, st, storetest.NewSession("s1", 0))
	for _, tc := range []struct {
		name string
		bad  func(e *store.Event)
		want string
	}{
		{"zero seq", func(e *store.Event) { e.Seq = 0 }, "seq 0 out of range"},
		{"huge seq", func(e *store.Event) { e.Seq = 1 << 63 }, "out of range"},
		{"empty session", func(e *store.Event) { e.Session = "" }, "empty session"},
		{"time out of range", func(e *store.Event) { e.Time = time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC) }, "out of range"},
		// Accepted by Go, refused by PostgreSQL: the statement fails as a
		// whole.
		{"NUL in type", func(e *store.Event) { e.Type = "a\x00b" }, "append events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := storetest.NewEvents("s1", 1, 5)
			evs = append(evs, storetest.NewEvents("s2", 1, 3)...)
			tc.bad(&evs[6])
			err := st.AppendEvents(ctx, evs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("AppendEvents: got %v, want an error with %q", err, tc.want)
			}
			for _, id := range []string{"s1", "s2"} {
				if got, err := st.ListEvents(ctx, id, 0, 0); err != nil || len(got) != 0 {
					t.Errorf("%s: %d events stored, %v; want none", id, len(got), err)
				}
			}
			if s, _ := st.GetSession(ctx, "s1"); s.LastSeq != 0 || s.Statements != 0 {
				t.Errorf("counters moved: last seq %d, statements %d", s.LastSeq, s.Statements)
			}
		})
	}
}

// TestPasswordNeverInErrorsOrLogs opens stores with a DSN whose password
// is wrong, unparsable, for a server that is not there, for a database
// that does not exist, and right, and changes the password under an open
// store: no error and no log line shows the password in any spelling.
func TestPasswordNeverInErrorsOrLogs(t *testing.T) {
	pg := server(t)
	const (
		role     = "gh_store_secret"
		password = "Zq9:p@ss/w%rd 7f3a'x"
		wrong    = "Wr0ng:p@ss/w%rd 9c1e"
		newPW    = "N3w:p@ss/w%rd b4d0"
	)
	db := pg.CreateDatabase(t)
	pg.Exec(t, "postgres", fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'; ALTER DATABASE %s OWNER TO %s",
		role, strings.ReplaceAll(password, "'", "''"), db, role))
	host, port, err := net.SplitHostPort(pg.Addr())
	if err != nil {
		t.Fatal(err)
	}
	urlDSN := func(pw, hostport, db string) string {
		u := url.URL{Scheme: "postgres", User: url.UserPassword(role, pw), Host: hostport, Path: "/" + db, RawQuery: "sslmode=disable&connect_timeout=10"}
		return u.String()
	}
	kvQuote := func(s string) string { return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'" }
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	spellings := func(pw string) []string {
		return []string{pw, url.QueryEscape(pw), url.PathEscape(pw), url.UserPassword("", pw).String()[1:], kvQuote(pw)}
	}
	leaks := func(text string) []string {
		var out []string
		for _, pw := range []string{password, wrong, newPW} {
			for _, s := range spellings(pw) {
				if strings.Contains(text, s) {
					out = append(out, s)
				}
			}
		}
		return out
	}

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, tc := range []struct {
		name string
		dsn  string
	}{
		{"wrong password", urlDSN(wrong, pg.Addr(), db)},
		{"wrong password, key=value", fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s sslmode=disable", host, port, role, kvQuote(wrong), db)},
		{"unparsable", strings.Replace(urlDSN(password, pg.Addr(), db), port, "port", 1)},
		{"unparsable key=value", fmt.Sprintf("host=%s port=%s user=%s password=%s dbname", host, port, role, kvQuote(password))},
		{"no server", urlDSN(password, closed, db)},
		{"no database", urlDSN(password, pg.Addr(), "nope")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := pgstore.Open(t.Context(), tc.dsn, logger)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			t.Logf("error: %v", err)
			if l := leaks(err.Error()); len(l) > 0 {
				t.Errorf("error %q shows the password as %q", err, l)
			}
		})
	}

	dsn := urlDSN(password, pg.Addr(), db)
	st, err := pgstore.Open(t.Context(), dsn, logger)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer st.Close()
	logger.Info("opened", "store", st)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v", st, st, st)} {
		if l := leaks(s); len(l) > 0 {
			t.Errorf("the store prints the password as %q: %s", l, s)
		}
	}
	storetest.MustCreateSession(t, st, storetest.NewSession("s1", 0))

	// The password changes under the open store: reconnecting fails.
	pg.Exec(t, "postgres", fmt.Sprintf("ALTER ROLE %s PASSWORD '%s'", role, newPW))
	pgstore.ResetPool(st)
	_, err = st.GetSession(t.Context(), "s1")
	if err == nil {
		t.Fatal("GetSession after the password changed: got nil error")
	}
	t.Logf("error: %v", err)
	if l := leaks(err.Error()); len(l) > 0 {
		t.Errorf("error %q shows the password as %q", err, l)
	}

	if !strings.Contains(logs.String(), "store opened") {
		t.Errorf("log lacks the store's opening line:\n%s", logs.String())
	}
	if l := leaks(logs.String()); len(l) > 0 {
		t.Errorf("log shows the password as %q:\n%s", l, logs.String())
	}
}

// TestOpenCanceled: Open gives up when its context ends, with an error
// that is still a context error.
func TestOpenCanceled(t *testing.T) {
	pg := server(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := pgstore.Open(ctx, pg.DSN(pg.CreateDatabase(t)), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a canceled context: got %v, want context.Canceled", err)
	}
}

// FuzzEventPayload checks that any payload comes back byte for byte: the
// connector hashed these exact bytes.
func FuzzEventPayload(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":2}`, "\x00\xff", "", `{"n":1.50000000000000000001}`} {
		f.Add("statement", []byte(s))
	}
	st := openFresh(f)
	seq := uint64(0)
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		if strings.ContainsRune(typ, 0) || !utf8.ValidString(typ) {
			t.Skip("PostgreSQL text holds UTF-8 without NUL")
		}
		seq++
		ev := store.Event{Session: "fuzz", Seq: seq, Time: time.Unix(0, int64(seq)), Type: typ, Data: json.RawMessage(data), Hash: "h"}
		if err := st.AppendEvents(t.Context(), []store.Event{ev}); err != nil {
			t.Fatalf("AppendEvents: %v", err)
		}
		got, err := st.ListEvents(t.Context(), "fuzz", seq-1, 1)
		if err != nil || len(got) != 1 {
			t.Fatalf("ListEvents = %d, %v; want 1 event", len(got), err)
		}
		if !bytes.Equal(got[0].Data, data) || got[0].Type != typ || got[0].Seq != seq || !got[0].Time.Equal(ev.Time) {
			t.Fatalf("got type %q data %q, want %q %q", got[0].Type, got[0].Data, typ, data)
		}
	})
}

// TestCreateTokenRacesDisable issues tokens for identities while they are
// being disabled: whatever the interleaving, no token of a disabled
// identity is left unrevoked.
func TestCreateTokenRacesDisable(t *testing.T) {
	st := openFresh(t)
	ctx := t.Context()
	const identities, tokens = 40, 6
	var wg sync.WaitGroup
	for i := range identities {
		who := fmt.Sprintf("racer-%d", i)
		wg.Go(func() {
			for j := range tokens {
				tok := store.Token{ID: fmt.Sprintf("%s-%d", who, j), Hash: []byte(fmt.Sprintf("h-%s-%d", who, j)),
					Identity: who, Kind: "person", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
				if err := st.CreateToken(ctx, &tok); err != nil && !errors.Is(err, store.ErrDisabled) {
					t.Errorf("CreateToken: %v", err)
				}
			}
		})
		wg.Go(func() {
			if _, err := st.DisableIdentity(ctx, who, "admin", "race", time.Now()); err != nil {
				t.Errorf("DisableIdentity: %v", err)
			}
		})
	}
	wg.Wait()
	list, err := st.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range list {
		if tok.RevokedAt.IsZero() {
			t.Errorf("token %s of disabled identity %s is not revoked", tok.ID, tok.Identity)
		}
	}
	t.Logf("%d tokens created before their identity was disabled", len(list))
}
