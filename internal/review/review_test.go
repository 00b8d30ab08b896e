package review_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/review"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

// events records Notify calls.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) notify(_ context.Context, r *store.Review, event string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, r.ID+" "+event)
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

// MustOpenStore opens a SQLite store in a temporary directory.
func MustOpenStore(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "gatehouse.db"))
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// StartService returns a service on st whose Notify calls are recorded.
func StartService(tb testing.TB, st store.Reviews) (*review.Service, *events) {
	tb.Helper()
	ev := &events{}
	return &review.Service{Store: st, Notify: ev.notify, PollInterval: time.Hour}, ev
}

func person(identity string, groups ...string) *auth.Principal {
	return &auth.Principal{Identity: identity, Groups: groups, Kind: auth.KindPerson}
}

var (
	alice = person("alice", "eng")
	dan   = person("dan", "dba")
	erin  = person("erin", "dba")
	bob   = person("bob", "eng")
	admin = &auth.Principal{Identity: "root", Kind: auth.KindAdmin}
)

func statementReview(min int) *store.Review {
	return &store.Review{
		Kind:          store.ReviewStatement,
		Requester:     "alice",
		Connection:    "prod-db",
		Session:       "s1",
		Statement:     "delete from orders where id = $1",
		StatementHash: review.StatementHash("delete from orders where id = $1", [][]byte{[]byte("7")}),
		Approvers:     []string{"group:dba", "identity:carol"},
		MinApprovals:  min,
	}
}

func mustCreate(tb testing.TB, s *review.Service, r *store.Review) *store.Review {
	tb.Helper()
	got, err := s.Create(context.Background(), r)
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	return got
}

func TestCreate(t *testing.T) {
	s, ev := StartService(t, MustOpenStore(t))
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.Now = func() time.Time { return now }
	r := mustCreate(t, s, statementReview(0))
	if !strings.HasPrefix(r.ID, "r_") || len(r.ID) != 10 {
		t.Errorf("ID: got %q, want r_ and 8 hex digits", r.ID)
	}
	if r.Status != store.ReviewPending || r.MinApprovals != 1 || !r.CreatedAt.Equal(now) || !r.ExpiresAt.Equal(now.Add(review.DefaultTimeout)) {
		t.Errorf("got %+v, want pending, 1 approval, created now, expiring after the default timeout", r)
	}
	stored, err := s.Store.GetReview(t.Context(), r.ID)
	if err != nil || stored.Status != store.ReviewPending {
		t.Fatalf("GetReview: got %+v, %v", stored, err)
	}
	if got, want := ev.list(), []string{r.ID + " review.created"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("notified %v, want %v", got, want)
	}
}

func TestCreateValidation(t *testing.T) {
	s, _ := StartService(t, MustOpenStore(t))
	tests := []struct {
		name   string
		change func(r *store.Review)
		want   string
	}{
		{"bad kind", func(r *store.Review) { r.Kind = "other" }, "kind"},
		{"no statement", func(r *store.Review) { r.Statement = "" }, "statement"},
		{"access without duration", func(r *store.Review) { r.Kind = store.ReviewAccess }, "duration"},
		{"no requester", func(r *store.Review) { r.Requester = "" }, "requester"},
		{"no approvers", func(r *store.Review) { r.Approvers = nil }, "no approvers"},
		{"bad approver", func(r *store.Review) { r.Approvers = []string{"dba"} }, "group:NAME"},
		{"too few named approvers", func(r *store.Review) { r.Approvers = []string{"identity:alice", "identity:carol"}; r.MinApprovals = 2 }, "only 1"},
		{"expiry in the past", func(r *store.Review) { r.ExpiresAt = time.Now().Add(-time.Minute) }, "not in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := statementReview(1)
			tt.change(r)
			_, err := s.Create(t.Context(), r)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Create: got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	access := statementReview(1)
	access.Kind, access.Statement, access.StatementHash, access.AccessFor = store.ReviewAccess, "", "", time.Hour
	if _, err := s.Create(t.Context(), access); err != nil {
		t.Errorf("Create of an access review: %v", err)
	}
}

func TestVoteRules(t *testing.T) {
	s, ev := StartService(t, MustOpenStore(t))
	ctx := t.Context()
	r := mustCreate(t, s, statementReview(2))

	var fe *review.ForbiddenError
	_, err := s.Approve(ctx, r.ID, alice, "")
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "you requested review "+r.ID+": another approver must decide it") {
		t.Errorf("self-approval: got %v, want a ForbiddenError saying another approver must decide", err)
	}
	// An admin who requested a review may not approve it either.
	_, err = s.Approve(ctx, r.ID, &auth.Principal{Identity: "alice", Kind: auth.KindAdmin}, "")
	if !errors.As(err, &fe) {
		t.Errorf("self-approval by an admin: got %v, want a ForbiddenError", err)
	}
	_, err = s.Approve(ctx, r.ID, bob, "")
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "not an approver") || !strings.Contains(err.Error(), "group:dba") {
		t.Errorf("non-approver: got %v, want a ForbiddenError naming the approvers", err)
	}

	got, err := s.Approve(ctx, r.ID, dan, "ok")
	if err != nil {
		t.Fatalf("first approval: %v", err)
	}
	if got.Status != store.ReviewPending {
		t.Fatalf("after 1 of 2 approvals: status %s, want pending", got.Status)
	}
	if _, err := s.Approve(ctx, r.ID, dan, "again"); !errors.Is(err, review.ErrAlreadyVoted) {
		t.Errorf("second approval by the same person: got %v, want ErrAlreadyVoted", err)
	}
	got, err = s.Approve(ctx, r.ID, person("carol"), "")
	if err != nil {
		t.Fatalf("approval by a named identity: %v", err)
	}
	if got.Status != store.ReviewApproved || len(got.Votes) != 2 || got.DecidedAt.IsZero() {
		t.Fatalf("after 2 approvals: got %+v, want approved with 2 votes", got)
	}
	var de *review.DecidedError
	_, err = s.Reject(ctx, r.ID, erin, "too late")
	if !errors.As(err, &de) || de.Status != store.ReviewApproved || !errors.Is(err, store.ErrDecided) {
		t.Errorf("reject after approval: got %v, want a DecidedError for approved", err)
	}
	if _, err := s.Approve(ctx, "r_00000000", dan, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown review: got %v, want store.ErrNotFound", err)
	}
	want := []string{r.ID + " review.created", r.ID + " review.approved"}
	if got := ev.list(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("notified %v, want %v", got, want)
	}
}

func TestRejectWins(t *testing.T) {
	s, ev := StartService(t, MustOpenStore(t))
	ctx := t.Context()
	r := mustCreate(t, s, statementReview(2))
	if _, err := s.Approve(ctx, r.ID, dan, ""); err != nil {
		t.Fatal(err)
	}
	got, err := s.Reject(ctx, r.ID, admin, "not during the freeze")
	if err != nil {
		t.Fatalf("Reject by an admin: %v", err)
	}
	if got.Status != store.ReviewRejected {
		t.Fatalf("status %s, want rejected", got.Status)
	}
	if _, err := s.Approve(ctx, r.ID, erin, ""); !errors.Is(err, store.ErrDecided) {
		t.Errorf("approve after reject: got %v, want ErrDecided", err)
	}
	if got := ev.list(); got[len(got)-1] != r.ID+" review.rejected" {
		t.Errorf("notified %v, want review.rejected last", got)
	}
}

func TestTimeoutExpires(t *testing.T) {
	s, ev := StartService(t, MustOpenStore(t))
	r := statementReview(1)
	r.ExpiresAt = time.Now().Add(50 * time.Millisecond)
	r = mustCreate(t, s, r)
	got, err := s.Wait(t.Context(), r.ID)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if got.Status != store.ReviewExpired || got.DecidedAt.IsZero() {
		t.Fatalf("Wait returned %+v, want expired", got)
	}
	want := []string{r.ID + " review.created", r.ID + " review.expired"}
	if got := ev.list(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("notified %v, want %v", got, want)
	}
	var de *review.DecidedError
	if _, err := s.Approve(t.Context(), r.ID, dan, ""); !errors.As(err, &de) || de.Status != store.ReviewExpired {
		t.Errorf("approve after expiry: got %v, want a DecidedError for expired", err)
	}
}

func TestVoteAfterDeadlineExpires(t *testing.T) {
	s, ev := StartService(t, MustOpenStore(t))
	now := time.Now()
	s.Now = func() time.Time { return now }
	r := mustCreate(t, s, statementReview(1))
	// Nobody waited: the review is still pending in the store when the
	// approver comes too late.
	now = r.ExpiresAt.Add(time.Second)
	var de *review.DecidedError
	if _, err := s.Approve(t.Context(), r.ID, dan, ""); !errors.As(err, &de) || de.Status != store.ReviewExpired {
		t.Fatalf("late approval: got %v, want a DecidedError for expired", err)
	}
	if got := ev.list(); got[len(got)-1] != r.ID+" review.expired" {
		t.Errorf("notified %v, want review.expired last", got)
	}
}

// readSignal tells the test when a store read has happened. reads has a
// buffer of one, so the first read is always reported and later ones only
// when the test has taken the earlier report.
type readSignal struct {
	store.Reviews
	reads chan string
}

func (s *readSignal) GetReview(ctx context.Context, id string) (*store.Review, error) {
	r, err := s.Reviews.GetReview(ctx, id)
	if err == nil {
		select {
		case s.reads <- r.Status:
		default:
		}
	}
	return r, err
}

// waitResult runs Wait in a goroutine.
func waitResult(ctx context.Context, s *review.Service, id string) <-chan error {
	done := make(chan error, 1)
	go func() {
		r, err := s.Wait(ctx, id)
		if err == nil && r.Status != store.ReviewApproved {
			err = errors.New("status " + r.Status)
		}
		done <- err
	}()
	return done
}

func TestWaitWakesOnApprove(t *testing.T) {
	sig := &readSignal{Reviews: MustOpenStore(t), reads: make(chan string, 1)}
	s, _ := StartService(t, sig)
	r := statementReview(1)
	r.ExpiresAt = time.Now().Add(time.Hour)
	r = mustCreate(t, s, r)

	done := waitResult(t.Context(), s, r.ID)
	// Wait has read the review as pending and now sleeps on its channel;
	// PollInterval is an hour, so only the in-process wake-up can end it.
	if st := <-sig.reads; st != store.ReviewPending {
		t.Fatalf("Wait read status %s, want pending", st)
	}
	if _, err := s.Approve(t.Context(), r.ID, dan, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after the approval")
	}
}

func TestWaitSeesOtherReplica(t *testing.T) {
	st := MustOpenStore(t)
	sig := &readSignal{Reviews: st, reads: make(chan string, 1)}
	waiting, _ := StartService(t, sig)
	waiting.PollInterval = 10 * time.Millisecond
	other, _ := StartService(t, st)
	r := mustCreate(t, other, statementReview(1))

	done := waitResult(t.Context(), waiting, r.ID)
	if st := <-sig.reads; st != store.ReviewPending {
		t.Fatalf("Wait read status %s, want pending", st)
	}
	if _, err := other.Approve(t.Context(), r.ID, dan, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not see the other replica's approval")
	}
}

func TestWaitCanceled(t *testing.T) {
	sig := &readSignal{Reviews: MustOpenStore(t), reads: make(chan string, 1)}
	s, _ := StartService(t, sig)
	r := mustCreate(t, s, statementReview(1))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := s.Wait(ctx, r.ID)
		done <- err
	}()
	<-sig.reads
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait: got %v, want context.Canceled", err)
	}
	got, err := s.Store.GetReview(t.Context(), r.ID)
	if err != nil || got.Status != store.ReviewPending {
		t.Errorf("after a canceled Wait: got %+v, %v; want still pending", got, err)
	}
}

func TestConcurrentApprovals(t *testing.T) {
	s, ev := StartService(t, MustOpenStore(t))
	r := mustCreate(t, s, statementReview(2))
	done := waitResult(t.Context(), s, r.ID)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, p := range []*auth.Principal{dan, erin} {
		wg.Go(func() {
			_, err := s.Approve(t.Context(), r.ID, p, "")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Approve: %v", err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	approved := 0
	for _, e := range ev.list() {
		if strings.HasSuffix(e, "review.approved") {
			approved++
		}
	}
	if approved != 1 {
		t.Errorf("notified %v: %d approvals, want exactly 1", ev.list(), approved)
	}
}

func TestStatementHash(t *testing.T) {
	tests := []struct {
		name   string
		a, b   string
		pa, pb [][]byte
	}{
		{"text vs param boundary", "select $1", "select $", [][]byte{[]byte("x")}, [][]byte{[]byte("1x")}},
		{"null vs empty", "select $1", "select $1", [][]byte{nil}, [][]byte{{}}},
		{"param order", "select $1, $2", "select $1, $2", [][]byte{[]byte("a"), []byte("b")}, [][]byte{[]byte("b"), []byte("a")}},
		{"extra param", "select 1", "select 1", nil, [][]byte{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if review.StatementHash(tt.a, tt.pa) == review.StatementHash(tt.b, tt.pb) {
				t.Errorf("got equal hashes, want different")
			}
		})
	}
	if h := review.StatementHash("select 1", nil); len(h) != 64 || h != review.StatementHash("select 1", nil) {
		t.Errorf("hash %q: want 64 stable hex digits", h)
	}
}
