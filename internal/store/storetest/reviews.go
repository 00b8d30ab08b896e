package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// NewReview returns a complete pending statement review with the given ID
// created at base+offset, expiring ten minutes later. Tests change the
// fields they care about.
func NewReview(id string, offset time.Duration) store.Review {
	return store.Review{
		ID:              id,
		Kind:            store.ReviewStatement,
		Status:          store.ReviewPending,
		Requester:       "alice@example.com",
		RequesterGroups: []string{"eng"},
		Connection:      "prod-db",
		Session:         "s1",
		Policy:          "ci-deploy",
		Rule:            "rules[3]",
		Statement:       "delete from orders where id = $1",
		StatementHash:   "3f1a",
		Reason:          "cleanup",
		Approvers:       []string{"group:dba", "identity:carol@example.com"},
		MinApprovals:    1,
		CreatedAt:       base.Add(offset),
		ExpiresAt:       base.Add(offset + 10*time.Minute),
	}
}

// MustCreateReview creates r in st or fails the test.
func MustCreateReview(tb testing.TB, st store.Store, r store.Review) {
	tb.Helper()
	if err := st.CreateReview(context.Background(), &r); err != nil {
		tb.Fatalf("CreateReview(%s): %v", r.ID, err)
	}
}

func mustGetReview(tb testing.TB, st store.Store, id string) *store.Review {
	tb.Helper()
	r, err := st.GetReview(context.Background(), id)
	if err != nil {
		tb.Fatalf("GetReview(%s): %v", id, err)
	}
	return r
}

func testReviews(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()

	t.Run("RoundTrip", func(t *testing.T) {
		st := open(t)
		want := NewReview("r_00000001", 0)
		MustCreateReview(t, st, want)
		access := NewReview("r_00000002", time.Second)
		access.Kind, access.Statement, access.StatementHash = store.ReviewAccess, "", ""
		access.AccessFor = 90 * time.Minute
		access.RequesterGroups, access.Status = nil, ""
		MustCreateReview(t, st, access)

		if d := Diff(&want, mustGetReview(t, st, want.ID)); d != "" {
			t.Errorf("GetReview (-want +got):\n%s", d)
		}
		access.Status = store.ReviewPending
		if d := Diff(&access, mustGetReview(t, st, access.ID)); d != "" {
			t.Errorf("GetReview of an access review (-want +got):\n%s", d)
		}
		dup := NewReview("r_00000001", time.Hour)
		wantErr(t, "CreateReview same ID", st.CreateReview(ctx, &dup), store.ErrConflict)
		_, err := st.GetReview(ctx, "r_missing")
		wantErr(t, "GetReview unknown", err, store.ErrNotFound)
	})

	t.Run("List", func(t *testing.T) {
		st := open(t)
		a := NewReview("r_a", 0)
		b := NewReview("r_b", time.Minute)
		b.Requester, b.Connection = "bob", "staging-db"
		c := NewReview("r_c", 2*time.Minute)
		for _, r := range []store.Review{a, b, c} {
			MustCreateReview(t, st, r)
		}
		if _, err := st.AddVote(ctx, "r_c", store.Vote{Identity: "dave", Approve: true, At: base.Add(3 * time.Minute)}); err != nil {
			t.Fatalf("AddVote: %v", err)
		}
		tests := []struct {
			name string
			f    store.ReviewFilter
			want []string
		}{
			{"all, newest first", store.ReviewFilter{}, []string{"r_c", "r_b", "r_a"}},
			{"status", store.ReviewFilter{Status: store.ReviewPending}, []string{"r_b", "r_a"}},
			{"requester", store.ReviewFilter{Requester: "bob"}, []string{"r_b"}},
			{"connection", store.ReviewFilter{Connection: "prod-db"}, []string{"r_c", "r_a"}},
			{"limit", store.ReviewFilter{Limit: 1}, []string{"r_c"}},
			{"none", store.ReviewFilter{Status: store.ReviewExpired}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				list, err := st.ListReviews(ctx, tt.f)
				if err != nil {
					t.Fatalf("ListReviews: %v", err)
				}
				var got []string
				for _, r := range list {
					got = append(got, r.ID)
				}
				if d := Diff(tt.want, got); d != "" {
					t.Errorf("ListReviews(%+v) (-want +got):\n%s", tt.f, d)
				}
			})
		}
		list, err := st.ListReviews(ctx, store.ReviewFilter{Limit: 1})
		if err != nil || len(list) != 1 || len(list[0].Votes) != 1 || list[0].Votes[0].Identity != "dave" {
			t.Errorf("ListReviews: got %+v, %v; want r_c with dave's vote", list, err)
		}
	})

	t.Run("Approve", func(t *testing.T) {
		st := open(t)
		r := NewReview("r_1", 0)
		r.MinApprovals = 2
		MustCreateReview(t, st, r)
		v1 := store.Vote{Identity: "dave", Approve: true, Reason: "looks fine", At: base.Add(time.Minute)}
		got, err := st.AddVote(ctx, "r_1", v1)
		if err != nil {
			t.Fatalf("first AddVote: %v", err)
		}
		if got.Status != store.ReviewPending || !got.DecidedAt.IsZero() || len(got.Votes) != 1 {
			t.Fatalf("after one of two approvals: got status %s, decided %v, %d votes; want pending, zero, 1", got.Status, got.DecidedAt, len(got.Votes))
		}
		again := v1
		again.At = base.Add(2 * time.Minute)
		_, err = st.AddVote(ctx, "r_1", again)
		wantErr(t, "second vote by the same identity", err, store.ErrConflict)

		v2 := store.Vote{Identity: "erin", Approve: true, At: base.Add(3 * time.Minute)}
		got, err = st.AddVote(ctx, "r_1", v2)
		if err != nil {
			t.Fatalf("second AddVote: %v", err)
		}
		want := r
		want.Status, want.DecidedAt, want.Votes = store.ReviewApproved, v2.At, []store.Vote{v1, v2}
		if d := Diff(&want, got); d != "" {
			t.Errorf("AddVote (-want +got):\n%s", d)
		}
		if d := Diff(&want, mustGetReview(t, st, "r_1")); d != "" {
			t.Errorf("GetReview after approval (-want +got):\n%s", d)
		}
		_, err = st.AddVote(ctx, "r_1", store.Vote{Identity: "frank", Approve: false, At: base.Add(4 * time.Minute)})
		wantErr(t, "vote on an approved review", err, store.ErrDecided)
		_, err = st.ExpireReview(ctx, "r_1", base.Add(time.Hour))
		wantErr(t, "expire an approved review", err, store.ErrDecided)
		if got := mustGetReview(t, st, "r_1"); got.Status != store.ReviewApproved || len(got.Votes) != 2 {
			t.Errorf("after refused changes: got status %s with %d votes, want approved with 2", got.Status, len(got.Votes))
		}
	})

	t.Run("RejectWins", func(t *testing.T) {
		st := open(t)
		r := NewReview("r_1", 0)
		r.MinApprovals = 2
		MustCreateReview(t, st, r)
		if _, err := st.AddVote(ctx, "r_1", store.Vote{Identity: "dave", Approve: true, At: base.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		at := base.Add(2 * time.Minute)
		got, err := st.AddVote(ctx, "r_1", store.Vote{Identity: "erin", Approve: false, Reason: "not today", At: at})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.ReviewRejected || !got.DecidedAt.Equal(at) {
			t.Errorf("got status %s decided %v, want rejected at %v", got.Status, got.DecidedAt, at)
		}
	})

	t.Run("Expire", func(t *testing.T) {
		st := open(t)
		MustCreateReview(t, st, NewReview("r_1", 0))
		_, err := st.AddVote(ctx, "r_1", store.Vote{Identity: "dave", Approve: true, At: base.Add(10 * time.Minute)})
		wantErr(t, "vote at expiry", err, store.ErrExpired)
		at := base.Add(11 * time.Minute)
		got, err := st.ExpireReview(ctx, "r_1", at)
		if err != nil {
			t.Fatalf("ExpireReview: %v", err)
		}
		if got.Status != store.ReviewExpired || !got.DecidedAt.Equal(at) || len(got.Votes) != 0 {
			t.Errorf("got status %s decided %v with %d votes, want expired at %v without votes", got.Status, got.DecidedAt, len(got.Votes), at)
		}
		_, err = st.ExpireReview(ctx, "r_1", at)
		wantErr(t, "second ExpireReview", err, store.ErrDecided)
		_, err = st.ExpireReview(ctx, "r_missing", at)
		wantErr(t, "ExpireReview unknown", err, store.ErrNotFound)
		_, err = st.AddVote(ctx, "r_missing", store.Vote{Identity: "dave", Approve: true, At: base})
		wantErr(t, "AddVote unknown", err, store.ErrNotFound)
	})

	t.Run("ConcurrentVotes", func(t *testing.T) {
		st := open(t)
		const reviews = 10
		for i := range reviews {
			r := NewReview(fmt.Sprintf("r_%d", i), time.Duration(i)*time.Second)
			r.MinApprovals = 2
			MustCreateReview(t, st, r)
		}
		// For every review two approvers vote at once, and a third
		// approver races them: exactly one vote decides each review.
		var (
			mu       sync.Mutex
			deciding = map[string]int{}
		)
		var g errgroup.Group
		for i := range reviews {
			id := fmt.Sprintf("r_%d", i)
			for _, who := range []string{"dave", "erin", "frank"} {
				g.Go(func() error {
					got, err := st.AddVote(ctx, id, store.Vote{Identity: who, Approve: true, At: base.Add(time.Minute)})
					if errors.Is(err, store.ErrDecided) {
						return nil
					}
					if err != nil {
						return fmt.Errorf("%s votes on %s: %w", who, id, err)
					}
					if got.Status == store.ReviewApproved {
						mu.Lock()
						deciding[id]++
						mu.Unlock()
					}
					return nil
				})
			}
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		for i := range reviews {
			id := fmt.Sprintf("r_%d", i)
			if deciding[id] != 1 {
				t.Errorf("%s: %d votes saw it approved, want exactly 1", id, deciding[id])
			}
			got := mustGetReview(t, st, id)
			if got.Status != store.ReviewApproved || len(got.Votes) != 2 {
				t.Errorf("%s: status %s with %d votes, want approved with 2", id, got.Status, len(got.Votes))
			}
		}
	})
}
