package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Run runs the conformance suite. open must return a new empty store for
// each call and close it when t ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open) })
	t.Run("ListSessions", func(t *testing.T) { testListSessions(t, open) })
	t.Run("Events", func(t *testing.T) { testEvents(t, open) })
	t.Run("ConcurrentAppend", func(t *testing.T) { testConcurrentAppend(t, open(t)) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, open) })
	t.Run("JoinTokens", func(t *testing.T) { testJoinTokens(t, open) })
	t.Run("Connectors", func(t *testing.T) { testConnectors(t, open) })
	t.Run("Reviews", func(t *testing.T) { testReviews(t, open) })
	t.Run("Identities", func(t *testing.T) { testIdentities(t, open) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
}

// base is a time with nanoseconds in a non-UTC zone, so drivers must keep
// the instant, not the wall clock or the zone.
var base = time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("UTC+1", 3600))

// cmpOpts compares times by instant and treats nil and empty slices alike.
var cmpOpts = []cmp.Option{
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
	cmpopts.EquateEmpty(),
}

// Diff reports the difference between want and got as `-want +got`, with
// times compared by instant.
func Diff(want, got any) string { return cmp.Diff(want, got, cmpOpts...) }

// NewSession returns a complete session with the given ID started at
// base+offset. Tests change the fields they care about.
func NewSession(id string, offset time.Duration) store.Session {
	return store.Session{
		ID:           id,
		Identity:     "alice@example.com",
		Groups:       []string{"dba", "eng"},
		Connection:   "prod-db",
		Connector:    "embedded",
		Protocol:     "postgres",
		Database:     "app",
		ClientAddr:   "127.0.0.1:50000",
		Policy:       "ci-deploy",
		PolicyDigest: "sha256:abc",
		TokenID:      "tok_1",
		StartedAt:    base.Add(offset),
		Status:       store.StatusActive,
	}
}

// NewEvents returns events seq first..last for session, chained by hash;
// every even seq is a "statement".
func NewEvents(session string, first, last uint64) []store.Event {
	evs := make([]store.Event, 0, last-first+1)
	for seq := first; seq <= last; seq++ {
		typ := "result"
		if seq%2 == 0 {
			typ = "statement"
		}
		evs = append(evs, store.Event{
			Session: session,
			Seq:     seq,
			Time:    base.Add(time.Duration(seq) * time.Millisecond),
			Type:    typ,
			Data:    json.RawMessage(fmt.Sprintf(`{"sql": "select %d",  "n":%d}`, seq, seq)),
			Prev:    fmt.Sprintf("h%d", seq-1),
			Hash:    fmt.Sprintf("h%d", seq),
		})
	}
	return evs
}

// MustCreateSession creates s in st or fails the test.
func MustCreateSession(tb testing.TB, st store.Store, s store.Session) {
	tb.Helper()
	if err := st.CreateSession(context.Background(), &s); err != nil {
		tb.Fatalf("CreateSession(%s): %v", s.ID, err)
	}
}

// MustAppend appends evs to st or fails the test.
func MustAppend(tb testing.TB, st store.Store, evs []store.Event) {
	tb.Helper()
	if err := st.AppendEvents(context.Background(), evs); err != nil {
		tb.Fatalf("AppendEvents: %v", err)
	}
}

func mustGetSession(tb testing.TB, st store.Store, id string) *store.Session {
	tb.Helper()
	s, err := st.GetSession(context.Background(), id)
	if err != nil {
		tb.Fatalf("GetSession(%s): %v", id, err)
	}
	return s
}

func wantErr(tb testing.TB, what string, err, want error) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func testSessions(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()

	t.Run("RoundTrip", func(t *testing.T) {
		st := open(t)
		want := NewSession("s1", 0)
		want.Error = "none yet"
		MustCreateSession(t, st, want)
		got := mustGetSession(t, st, "s1")
		if d := Diff(&want, got); d != "" {
			t.Errorf("GetSession (-want +got):\n%s", d)
		}
		if !got.EndedAt.IsZero() {
			t.Errorf("EndedAt = %v, want zero for an active session", got.EndedAt)
		}
	})

	t.Run("EmptyStatusMeansActive", func(t *testing.T) {
		st := open(t)
		s := NewSession("s1", 0)
		s.Status = ""
		s.Groups = nil
		MustCreateSession(t, st, s)
		if got := mustGetSession(t, st, "s1"); got.Status != store.StatusActive {
			t.Errorf("Status = %q, want %q", got.Status, store.StatusActive)
		}
	})

	t.Run("Duplicate", func(t *testing.T) {
		st := open(t)
		s := NewSession("s1", 0)
		MustCreateSession(t, st, s)
		s.Identity = "mallory"
		wantErr(t, "second CreateSession", st.CreateSession(ctx, &s), store.ErrConflict)
		if got := mustGetSession(t, st, "s1"); got.Identity != "alice@example.com" {
			t.Errorf("Identity = %q after a rejected duplicate, want the first", got.Identity)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		st := open(t)
		_, err := st.GetSession(ctx, "nope")
		wantErr(t, "GetSession", err, store.ErrNotFound)
		wantErr(t, "EndSession", st.EndSession(ctx, "nope", base, store.StatusEnded, ""), store.ErrNotFound)
		wantErr(t, "SignSession", st.SignSession(ctx, "nope", 3, "sig"), store.ErrNotFound)
	})

	t.Run("EndOnce", func(t *testing.T) {
		for _, status := range []string{store.StatusEnded, store.StatusFailed} {
			t.Run(status, func(t *testing.T) {
				st := open(t)
				MustCreateSession(t, st, NewSession("s1", 0))
				end := base.Add(time.Minute)
				if err := st.EndSession(ctx, "s1", end, status, "client went away"); err != nil {
					t.Fatalf("EndSession: %v", err)
				}
				if err := st.EndSession(ctx, "s1", end.Add(time.Hour), store.StatusEnded, "again"); err != nil {
					t.Fatalf("second EndSession: got %v, want nil", err)
				}
				got := mustGetSession(t, st, "s1")
				if got.Status != status || got.Error != "client went away" || !got.EndedAt.Equal(end) {
					t.Errorf("got status %q, error %q, ended %v; want %q, %q, %v (the first call's)",
						got.Status, got.Error, got.EndedAt, status, "client went away", end)
				}
			})
		}
	})

	t.Run("Sign", func(t *testing.T) {
		st := open(t)
		MustCreateSession(t, st, NewSession("s1", 0))
		if got := mustGetSession(t, st, "s1"); got.SignedSeq != 0 || got.Signature != "" {
			t.Fatalf("new session signed: seq %d sig %q", got.SignedSeq, got.Signature)
		}
		if err := st.SignSession(ctx, "s1", 7, "sig-7"); err != nil {
			t.Fatalf("SignSession: %v", err)
		}
		if err := st.SignSession(ctx, "s1", 7, "sig-7"); err != nil {
			t.Fatalf("repeated SignSession: got %v, want nil", err)
		}
		wantErr(t, "different SignSession", st.SignSession(ctx, "s1", 9, "sig-9"), store.ErrConflict)
		got := mustGetSession(t, st, "s1")
		if got.SignedSeq != 7 || got.Signature != "sig-7" {
			t.Errorf("got seq %d sig %q, want 7 %q", got.SignedSeq, got.Signature, "sig-7")
		}
	})
}

func testListSessions(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	st := open(t)
	// s0..s5 start a minute apart, inserted out of order.
	specs := []struct {
		id, identity, connection string
		offset                   time.Duration
		end                      string
	}{
		{"s3", "bob", "prod-db", 3 * time.Minute, ""},
		{"s0", "alice", "prod-db", 0, store.StatusEnded},
		{"s5", "alice", "staging-db", 5 * time.Minute, ""},
		{"s1", "bob", "staging-db", 1 * time.Minute, store.StatusFailed},
		{"s4", "alice", "prod-db", 4 * time.Minute, store.StatusEnded},
		{"s2", "alice", "prod-db", 2 * time.Minute, ""},
	}
	for _, sp := range specs {
		s := NewSession(sp.id, sp.offset)
		s.Identity, s.Connection = sp.identity, sp.connection
		MustCreateSession(t, st, s)
		if sp.end != "" {
			if err := st.EndSession(ctx, sp.id, base.Add(time.Hour), sp.end, ""); err != nil {
				t.Fatalf("EndSession(%s): %v", sp.id, err)
			}
		}
	}
	tests := []struct {
		name   string
		filter store.SessionFilter
		want   []string
	}{
		{"all newest first", store.SessionFilter{}, []string{"s5", "s4", "s3", "s2", "s1", "s0"}},
		{"identity", store.SessionFilter{Identity: "alice"}, []string{"s5", "s4", "s2", "s0"}},
		{"connection", store.SessionFilter{Connection: "staging-db"}, []string{"s5", "s1"}},
		{"status active", store.SessionFilter{Status: store.StatusActive}, []string{"s5", "s3", "s2"}},
		{"status failed", store.SessionFilter{Status: store.StatusFailed}, []string{"s1"}},
		{"combined", store.SessionFilter{Identity: "alice", Connection: "prod-db", Status: store.StatusEnded}, []string{"s4", "s0"}},
		{"limit", store.SessionFilter{Limit: 2}, []string{"s5", "s4"}},
		{"filter and limit", store.SessionFilter{Identity: "bob", Limit: 1}, []string{"s3"}},
		{"no match", store.SessionFilter{Identity: "carol"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.ListSessions(ctx, tt.filter)
			if err != nil {
				t.Fatalf("ListSessions: %v", err)
			}
			var ids []string
			for _, s := range got {
				ids = append(ids, s.ID)
			}
			if d := Diff(tt.want, ids); d != "" {
				t.Errorf("ListSessions(%+v) IDs (-want +got):\n%s", tt.filter, d)
			}
		})
	}

	t.Run("counters", func(t *testing.T) {
		MustAppend(t, st, NewEvents("s2", 1, 4))
		got, err := st.ListSessions(ctx, store.SessionFilter{Limit: 4})
		if err != nil {
			t.Fatalf("ListSessions: %v", err)
		}
		for _, s := range got {
			if s.ID == "s2" && (s.Statements != 2 || s.LastSeq != 4 || s.LastHash != "h4") {
				t.Errorf("s2 listed with statements %d, last seq %d, hash %q; want 2, 4, h4", s.Statements, s.LastSeq, s.LastHash)
			}
		}
	})

	t.Run("default limit 100", func(t *testing.T) {
		st := open(t)
		for i := range 105 {
			MustCreateSession(t, st, NewSession(fmt.Sprintf("s%03d", i), time.Duration(i)*time.Second))
		}
		got, err := st.ListSessions(ctx, store.SessionFilter{})
		if err != nil {
			t.Fatalf("ListSessions: %v", err)
		}
		if len(got) != 100 {
			t.Fatalf("got %d sessions, want 100", len(got))
		}
		if got[0].ID != "s104" || got[99].ID != "s005" {
			t.Errorf("got first %s last %s, want s104 and s005", got[0].ID, got[99].ID)
		}
	})
}

func testEvents(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()

	t.Run("RoundTripInOrder", func(t *testing.T) {
		st := open(t)
		MustCreateSession(t, st, NewSession("s1", 0))
		all := NewEvents("s1", 1, 10)
		// Out of order within and across batches.
		MustAppend(t, st, []store.Event{all[6], all[9], all[7], all[8]})
		MustAppend(t, st, []store.Event{all[2], all[0], all[5], all[1], all[4], all[3]})
		got, err := st.ListEvents(ctx, "s1", 0, 0)
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		if d := Diff(all, got); d != "" {
			t.Errorf("ListEvents (-want +got):\n%s", d)
		}
		for i := range got {
			if string(got[i].Data) != string(all[i].Data) {
				t.Errorf("seq %d: data %q, want the exact bytes %q", got[i].Seq, got[i].Data, all[i].Data)
			}
		}
	})

	t.Run("AfterAndLimit", func(t *testing.T) {
		st := open(t)
		MustAppend(t, st, NewEvents("s1", 1, 10))
		MustAppend(t, st, NewEvents("s2", 1, 3))
		tests := []struct {
			name         string
			after        uint64
			limit        int
			wantFirst    uint64
			wantCount    int
			wantLastSeen uint64
		}{
			{"all", 0, 0, 1, 10, 10},
			{"after", 4, 0, 5, 6, 10},
			{"limit", 0, 3, 1, 3, 3},
			{"after and limit", 7, 2, 8, 2, 9},
			{"after the end", 10, 0, 0, 0, 0},
			{"negative limit means all", 8, -1, 9, 2, 10},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := st.ListEvents(ctx, "s1", tt.after, tt.limit)
				if err != nil {
					t.Fatalf("ListEvents: %v", err)
				}
				if len(got) != tt.wantCount {
					t.Fatalf("got %d events, want %d", len(got), tt.wantCount)
				}
				if tt.wantCount == 0 {
					return
				}
				if got[0].Seq != tt.wantFirst || got[len(got)-1].Seq != tt.wantLastSeen {
					t.Errorf("got seqs %d..%d, want %d..%d", got[0].Seq, got[len(got)-1].Seq, tt.wantFirst, tt.wantLastSeen)
				}
				for _, e := range got {
					if e.Session != "s1" {
						t.Errorf("event of session %q in s1's list", e.Session)
					}
				}
			})
		}
		got, err := st.ListEvents(ctx, "unknown", 0, 0)
		if err != nil || len(got) != 0 {
			t.Errorf("ListEvents(unknown) = %d events, %v; want none, nil", len(got), err)
		}
	})

	t.Run("DuplicatesIgnored", func(t *testing.T) {
		st := open(t)
		MustCreateSession(t, st, NewSession("s1", 0))
		batch := NewEvents("s1", 1, 6)
		MustAppend(t, st, batch)
		MustAppend(t, st, batch) // a resend after a lost ack
		forged := NewEvents("s1", 5, 8)
		forged[0].Data = json.RawMessage(`{"forged":true}`)
		forged[0].Hash = "forged"
		MustAppend(t, st, forged)
		// Duplicates inside one batch, too.
		MustAppend(t, st, append(NewEvents("s1", 9, 10), NewEvents("s1", 9, 10)...))

		got, err := st.ListEvents(ctx, "s1", 0, 0)
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		if d := Diff(NewEvents("s1", 1, 10), got); d != "" {
			t.Errorf("ListEvents (-want +got):\n%s", d)
		}
		s := mustGetSession(t, st, "s1")
		if s.Statements != 5 || s.LastSeq != 10 || s.LastHash != "h10" {
			t.Errorf("got statements %d, last seq %d, hash %q; want 5, 10, h10", s.Statements, s.LastSeq, s.LastHash)
		}
	})

	t.Run("Counters", func(t *testing.T) {
		st := open(t)
		MustCreateSession(t, st, NewSession("s1", 0))
		s := mustGetSession(t, st, "s1")
		if s.Statements != 0 || s.LastSeq != 0 || s.LastHash != "" {
			t.Fatalf("new session counters: %d %d %q, want zero", s.Statements, s.LastSeq, s.LastHash)
		}
		steps := []struct {
			name           string
			first, last    uint64
			wantStatements int64
			wantLastSeq    uint64
		}{
			{"first batch", 1, 4, 2, 4},
			{"gap", 10, 12, 4, 12},
			// Filling the gap later must not move LastSeq back.
			{"fill the gap", 5, 9, 6, 12},
		}
		for _, step := range steps {
			MustAppend(t, st, NewEvents("s1", step.first, step.last))
			s := mustGetSession(t, st, "s1")
			wantHash := fmt.Sprintf("h%d", step.wantLastSeq)
			if s.Statements != step.wantStatements || s.LastSeq != step.wantLastSeq || s.LastHash != wantHash {
				t.Errorf("after %s: got statements %d, last seq %d, hash %q; want %d, %d, %q",
					step.name, s.Statements, s.LastSeq, s.LastHash, step.wantStatements, step.wantLastSeq, wantHash)
			}
		}
	})

	t.Run("ResendAcrossGap", func(t *testing.T) {
		// A batch with a hole, then a resend that fills it, repeats stored
		// events (one with other content: the stored one stays) and adds
		// new ones.
		st := open(t)
		MustCreateSession(t, st, NewSession("s1", 0))
		MustAppend(t, st, append(NewEvents("s1", 1, 2), NewEvents("s1", 5, 6)...))
		resend := NewEvents("s1", 2, 8)
		resend[0].Data = json.RawMessage(`{"forged":true}`)
		MustAppend(t, st, resend)
		got, err := st.ListEvents(ctx, "s1", 0, 0)
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		if d := Diff(NewEvents("s1", 1, 8), got); d != "" {
			t.Errorf("ListEvents (-want +got):\n%s", d)
		}
		got, err = st.ListEvents(ctx, "s1", 2, 3)
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		if d := Diff(NewEvents("s1", 3, 5), got); d != "" {
			t.Errorf("ListEvents after 2, limit 3 (-want +got):\n%s", d)
		}
		s := mustGetSession(t, st, "s1")
		if s.Statements != 4 || s.LastSeq != 8 || s.LastHash != "h8" {
			t.Errorf("got statements %d, last seq %d, hash %q; want 4, 8, h8", s.Statements, s.LastSeq, s.LastHash)
		}
	})

	t.Run("BeforeSession", func(t *testing.T) {
		st := open(t)
		MustAppend(t, st, NewEvents("early", 1, 5))
		_, err := st.GetSession(ctx, "early")
		wantErr(t, "GetSession before CreateSession", err, store.ErrNotFound)
		s := NewSession("early", 0)
		s.Statements, s.LastSeq, s.LastHash = 99, 99, "bogus" // ignored
		MustCreateSession(t, st, s)
		got := mustGetSession(t, st, "early")
		if got.Statements != 2 || got.LastSeq != 5 || got.LastHash != "h5" {
			t.Errorf("got statements %d, last seq %d, hash %q; want 2, 5, h5", got.Statements, got.LastSeq, got.LastHash)
		}
		MustAppend(t, st, NewEvents("early", 6, 6))
		if got := mustGetSession(t, st, "early"); got.Statements != 3 || got.LastSeq != 6 {
			t.Errorf("after more events: statements %d, last seq %d; want 3, 6", got.Statements, got.LastSeq)
		}
		evs, err := st.ListEvents(ctx, "early", 0, 0)
		if err != nil || len(evs) != 6 {
			t.Errorf("ListEvents = %d events, %v; want 6, nil", len(evs), err)
		}
	})

	t.Run("ManySessionsOneBatch", func(t *testing.T) {
		st := open(t)
		MustCreateSession(t, st, NewSession("a", 0))
		MustCreateSession(t, st, NewSession("b", time.Second))
		var batch []store.Event
		a, b := NewEvents("a", 1, 4), NewEvents("b", 1, 7)
		for i := range b {
			if i < len(a) {
				batch = append(batch, a[i])
			}
			batch = append(batch, b[i])
		}
		MustAppend(t, st, batch)
		for _, w := range []struct {
			id   string
			seq  uint64
			stmt int64
		}{{"a", 4, 2}, {"b", 7, 3}} {
			s := mustGetSession(t, st, w.id)
			if s.LastSeq != w.seq || s.Statements != w.stmt || s.LastHash != fmt.Sprintf("h%d", w.seq) {
				t.Errorf("%s: got last seq %d, statements %d, hash %q; want %d, %d", w.id, s.LastSeq, s.Statements, s.LastHash, w.seq, w.stmt)
			}
		}
	})

	t.Run("EmptyBatch", func(t *testing.T) {
		st := open(t)
		if err := st.AppendEvents(ctx, nil); err != nil {
			t.Errorf("AppendEvents(nil) = %v, want nil", err)
		}
	})

	t.Run("PayloadBytesKept", func(t *testing.T) {
		st := open(t)
		payloads := []string{
			`{"b":1,"a":2}`,
			"{\n  \"sql\" : \"select '\u00e9\u4e2d\U0001F600'\"\n}",
			`{"n":1.50000000000000000001}`,
			`"\u0000"`,
		}
		var evs []store.Event
		for i, p := range payloads {
			evs = append(evs, store.Event{Session: "p", Seq: uint64(i + 1), Time: base, Type: "x", Data: json.RawMessage(p)})
		}
		MustAppend(t, st, evs)
		got, err := st.ListEvents(ctx, "p", 0, 0)
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		if len(got) != len(payloads) {
			t.Fatalf("got %d events, want %d", len(got), len(payloads))
		}
		for i, p := range payloads {
			if string(got[i].Data) != p {
				t.Errorf("seq %d: got data %q, want %q", i+1, got[i].Data, p)
			}
		}
	})
}

// testConcurrentAppend has 8 goroutines append batches at once, each to its
// own session and all of them to one shared session with overlapping seqs,
// while 2 goroutines read.
func testConcurrentAppend(t *testing.T, st store.Store) {
	const (
		workers = 8
		batches = 10
		size    = 20
	)
	ctx := t.Context()
	MustCreateSession(t, st, NewSession("shared", 0))
	g, gctx := errgroup.WithContext(ctx)
	for w := range workers {
		own := fmt.Sprintf("w%d", w)
		g.Go(func() error {
			for b := range batches {
				first := uint64(b*size + 1)
				evs := NewEvents(own, first, first+size-1)
				// Every worker sends the same shared events: all but one
				// copy of each are duplicates.
				evs = append(evs, NewEvents("shared", first, first+size-1)...)
				if err := st.AppendEvents(gctx, evs); err != nil {
					return fmt.Errorf("worker %d batch %d: %w", w, b, err)
				}
			}
			return nil
		})
	}
	// Readers run alongside. Every worker sends the shared session's
	// batches in order, so readers must always see a whole number of
	// batches, seqs 1..n without holes, and counters that never go back.
	done := make(chan struct{})
	var readers errgroup.Group
	for range 2 {
		readers.Go(func() error {
			var lastSeen uint64
			for {
				select {
				case <-done:
					return nil
				default:
				}
				s, err := st.GetSession(ctx, "shared")
				if err != nil {
					return fmt.Errorf("reader: %w", err)
				}
				if s.LastSeq < lastSeen || s.LastSeq%size != 0 || uint64(s.Statements) != s.LastSeq/2 {
					return fmt.Errorf("reader saw last seq %d (before: %d), statements %d: a partial batch or counters out of step",
						s.LastSeq, lastSeen, s.Statements)
				}
				lastSeen = s.LastSeq
				evs, err := st.ListEvents(ctx, "shared", 0, 0)
				if err != nil {
					return fmt.Errorf("reader: %w", err)
				}
				if len(evs)%size != 0 || uint64(len(evs)) < lastSeen {
					return fmt.Errorf("reader saw %d events after last seq %d", len(evs), lastSeen)
				}
				for i, e := range evs {
					if e.Seq != uint64(i+1) {
						return fmt.Errorf("reader: event %d has seq %d", i, e.Seq)
					}
				}
			}
		})
	}
	err := g.Wait()
	close(done)
	if rerr := readers.Wait(); rerr != nil {
		t.Error(rerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	const total = batches * size
	for w := range workers {
		MustCreateSession(t, st, NewSession(fmt.Sprintf("w%d", w), time.Duration(w+1)*time.Second))
	}
	for w := range workers + 1 {
		id := fmt.Sprintf("w%d", w)
		if w == workers {
			id = "shared"
		}
		s := mustGetSession(t, st, id)
		if s.LastSeq != total || s.Statements != total/2 || s.LastHash != fmt.Sprintf("h%d", total) {
			t.Errorf("%s: got last seq %d, statements %d, hash %q; want %d, %d, h%d",
				id, s.LastSeq, s.Statements, s.LastHash, total, total/2, total)
		}
		evs, err := st.ListEvents(ctx, id, 0, 0)
		if err != nil {
			t.Fatalf("ListEvents(%s): %v", id, err)
		}
		if len(evs) != total {
			t.Fatalf("%s: got %d events, want %d", id, len(evs), total)
		}
		for i, e := range evs {
			if e.Seq != uint64(i+1) {
				t.Fatalf("%s: event %d has seq %d, want %d", id, i, e.Seq, i+1)
			}
		}
	}
}

func testTokens(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	newToken := func(id string, offset time.Duration) store.Token {
		return store.Token{
			ID:        id,
			Hash:      []byte("hash-of-" + id),
			Identity:  "alice@example.com",
			Groups:    []string{"dba"},
			Kind:      "person",
			IssuedBy:  "admin",
			IssuedAt:  base.Add(offset),
			ExpiresAt: base.Add(offset + time.Hour),
		}
	}

	t.Run("RoundTrip", func(t *testing.T) {
		st := open(t)
		want := newToken("t1", 0)
		if err := st.CreateToken(ctx, &want); err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
		got, err := st.GetToken(ctx, "t1")
		if err != nil {
			t.Fatalf("GetToken: %v", err)
		}
		if d := Diff(&want, got); d != "" {
			t.Errorf("GetToken (-want +got):\n%s", d)
		}
		got, err = st.TokenByHash(ctx, []byte("hash-of-t1"))
		if err != nil {
			t.Fatalf("TokenByHash: %v", err)
		}
		if d := Diff(&want, got); d != "" {
			t.Errorf("TokenByHash (-want +got):\n%s", d)
		}
	})

	t.Run("Conflicts", func(t *testing.T) {
		st := open(t)
		tok := newToken("t1", 0)
		if err := st.CreateToken(ctx, &tok); err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
		sameID := newToken("t1", 0)
		sameID.Hash = []byte("other")
		wantErr(t, "CreateToken same id", st.CreateToken(ctx, &sameID), store.ErrConflict)
		sameHash := newToken("t2", 0)
		sameHash.Hash = tok.Hash
		wantErr(t, "CreateToken same hash", st.CreateToken(ctx, &sameHash), store.ErrConflict)
	})

	t.Run("Missing", func(t *testing.T) {
		st := open(t)
		_, err := st.GetToken(ctx, "nope")
		wantErr(t, "GetToken", err, store.ErrNotFound)
		_, err = st.TokenByHash(ctx, []byte("nope"))
		wantErr(t, "TokenByHash", err, store.ErrNotFound)
		wantErr(t, "RevokeToken", st.RevokeToken(ctx, "nope", base), store.ErrNotFound)
	})

	t.Run("Revoke", func(t *testing.T) {
		st := open(t)
		tok := newToken("t1", 0)
		other := newToken("t2", time.Second)
		for _, tk := range []*store.Token{&tok, &other} {
			if err := st.CreateToken(ctx, tk); err != nil {
				t.Fatalf("CreateToken: %v", err)
			}
		}
		at := base.Add(10 * time.Minute)
		if err := st.RevokeToken(ctx, "t1", at); err != nil {
			t.Fatalf("RevokeToken: %v", err)
		}
		if err := st.RevokeToken(ctx, "t1", at.Add(time.Hour)); err != nil {
			t.Fatalf("second RevokeToken: got %v, want nil", err)
		}
		// Revoked tokens are still found by hash: callers check validity.
		got, err := st.TokenByHash(ctx, tok.Hash)
		if err != nil {
			t.Fatalf("TokenByHash: %v", err)
		}
		if !got.RevokedAt.Equal(at) {
			t.Errorf("RevokedAt = %v, want %v (the first revocation)", got.RevokedAt, at)
		}
		got, err = st.GetToken(ctx, "t2")
		if err != nil {
			t.Fatalf("GetToken: %v", err)
		}
		if !got.RevokedAt.IsZero() {
			t.Errorf("t2 RevokedAt = %v, want zero: revoking t1 touched t2", got.RevokedAt)
		}
	})

	t.Run("List", func(t *testing.T) {
		st := open(t)
		if got, err := st.ListTokens(ctx); err != nil || len(got) != 0 {
			t.Fatalf("ListTokens on empty store = %d, %v; want none, nil", len(got), err)
		}
		var want []store.Token
		for i, id := range []string{"tc", "ta", "tb"} {
			want = append(want, newToken(id, time.Duration(i)*time.Minute))
		}
		for _, i := range []int{2, 0, 1} {
			if err := st.CreateToken(ctx, &want[i]); err != nil {
				t.Fatalf("CreateToken: %v", err)
			}
		}
		got, err := st.ListTokens(ctx)
		if err != nil {
			t.Fatalf("ListTokens: %v", err)
		}
		if d := Diff(want, got); d != "" {
			t.Errorf("ListTokens, oldest issued first (-want +got):\n%s", d)
		}
	})
}

func testJoinTokens(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	newJT := func(hash string) store.JoinToken {
		return store.JoinToken{
			Hash:      []byte(hash),
			Connector: "edge-1",
			CreatedAt: base,
			ExpiresAt: base.Add(time.Hour),
		}
	}

	t.Run("ConsumeOnce", func(t *testing.T) {
		st := open(t)
		jt := newJT("j1")
		if err := st.CreateJoinToken(ctx, &jt); err != nil {
			t.Fatalf("CreateJoinToken: %v", err)
		}
		now := base.Add(time.Minute)
		got, err := st.ConsumeJoinToken(ctx, jt.Hash, now)
		if err != nil {
			t.Fatalf("ConsumeJoinToken: %v", err)
		}
		want := jt
		want.UsedAt = now
		if d := Diff(&want, got); d != "" {
			t.Errorf("ConsumeJoinToken (-want +got):\n%s", d)
		}
		_, err = st.ConsumeJoinToken(ctx, jt.Hash, now.Add(time.Second))
		wantErr(t, "second ConsumeJoinToken", err, store.ErrUsed)
	})

	t.Run("Errors", func(t *testing.T) {
		st := open(t)
		jt := newJT("j1")
		if err := st.CreateJoinToken(ctx, &jt); err != nil {
			t.Fatalf("CreateJoinToken: %v", err)
		}
		dup := newJT("j1")
		wantErr(t, "CreateJoinToken same hash", st.CreateJoinToken(ctx, &dup), store.ErrConflict)
		tests := []struct {
			name string
			hash string
			now  time.Time
			want error
		}{
			{"unknown", "nope", base, store.ErrNotFound},
			{"at expiry", "j1", base.Add(time.Hour), store.ErrExpired},
			{"after expiry", "j1", base.Add(2 * time.Hour), store.ErrExpired},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := st.ConsumeJoinToken(ctx, []byte(tt.hash), tt.now)
				wantErr(t, "ConsumeJoinToken", err, tt.want)
			})
		}
		// A failed attempt must not use the token up.
		if _, err := st.ConsumeJoinToken(ctx, jt.Hash, base.Add(time.Hour-time.Nanosecond)); err != nil {
			t.Errorf("ConsumeJoinToken just before expiry: %v", err)
		}
		_, err := st.ConsumeJoinToken(ctx, jt.Hash, base.Add(2*time.Hour))
		wantErr(t, "ConsumeJoinToken used and expired", err, store.ErrUsed)
	})

	t.Run("Concurrent", func(t *testing.T) {
		st := open(t)
		jt := newJT("j1")
		if err := st.CreateJoinToken(ctx, &jt); err != nil {
			t.Fatalf("CreateJoinToken: %v", err)
		}
		const n = 8
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := st.ConsumeJoinToken(ctx, jt.Hash, base.Add(time.Minute))
				errs <- err
			}()
		}
		var ok, used int
		for range n {
			switch err := <-errs; {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrUsed):
				used++
			default:
				t.Errorf("ConsumeJoinToken: unexpected error %v", err)
			}
		}
		if ok != 1 || used != n-1 {
			t.Errorf("got %d successes and %d ErrUsed, want 1 and %d", ok, used, n-1)
		}
	})
}

func testConnectors(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()

	t.Run("UpsertGetTouch", func(t *testing.T) {
		st := open(t)
		c := store.Connector{Name: "edge-1", CertSerial: "01", JoinedAt: base}
		if err := st.UpsertConnector(ctx, &c); err != nil {
			t.Fatalf("UpsertConnector: %v", err)
		}
		got, err := st.GetConnector(ctx, "edge-1")
		if err != nil {
			t.Fatalf("GetConnector: %v", err)
		}
		if d := Diff(&c, got); d != "" {
			t.Errorf("GetConnector (-want +got):\n%s", d)
		}

		seen := base.Add(time.Minute)
		if err := st.TouchConnector(ctx, "edge-1", seen); err != nil {
			t.Fatalf("TouchConnector: %v", err)
		}
		c2 := store.Connector{Name: "edge-1", CertSerial: "02", JoinedAt: base.Add(time.Hour)}
		if err := st.UpsertConnector(ctx, &c2); err != nil {
			t.Fatalf("second UpsertConnector: %v", err)
		}
		got, err = st.GetConnector(ctx, "edge-1")
		if err != nil {
			t.Fatalf("GetConnector: %v", err)
		}
		want := c2
		want.LastSeen = seen
		if d := Diff(&want, got); d != "" {
			t.Errorf("after re-join (-want +got):\n%s", d)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		st := open(t)
		_, err := st.GetConnector(ctx, "nope")
		wantErr(t, "GetConnector", err, store.ErrNotFound)
		wantErr(t, "TouchConnector", st.TouchConnector(ctx, "nope", base), store.ErrNotFound)
	})

	t.Run("List", func(t *testing.T) {
		st := open(t)
		if got, err := st.ListConnectors(ctx); err != nil || len(got) != 0 {
			t.Fatalf("ListConnectors on empty store = %d, %v; want none, nil", len(got), err)
		}
		for _, name := range []string{"c", "a", "b"} {
			if err := st.UpsertConnector(ctx, &store.Connector{Name: name, CertSerial: name, JoinedAt: base}); err != nil {
				t.Fatalf("UpsertConnector: %v", err)
			}
		}
		got, err := st.ListConnectors(ctx)
		if err != nil {
			t.Fatalf("ListConnectors: %v", err)
		}
		var names []string
		for _, c := range got {
			names = append(names, c.Name)
		}
		if d := Diff([]string{"a", "b", "c"}, names); d != "" {
			t.Errorf("ListConnectors names (-want +got):\n%s", d)
		}
	})
}
