package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// storeReviewSample stores reviews with fixed IDs and times for the golden
// files: one pending statement review with a vote, one rejected access
// review.
func storeReviewSample(tb testing.TB, e *apitest.Env) {
	tb.Helper()
	ctx := context.Background()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	reviews := []store.Review{{
		ID: "r_8f2c0001", Kind: store.ReviewStatement, Requester: "alice", RequesterGroups: []string{"eng"},
		Connection: "prod-db", Session: "s_alice", Policy: "ci-deploy", Rule: "rules[3]",
		Statement:     "update customers\n   set email = 'x\x1b[2J'\n where id = 7 and the rest of a long condition",
		StatementHash: "5d41402abc4b2a76b9719d911017c592", Reason: "fix a typo",
		Approvers: []string{"group:dba"}, MinApprovals: 2, CreatedAt: at, ExpiresAt: at.Add(10 * time.Minute),
	}, {
		ID: "r_8f2c0002", Kind: store.ReviewAccess, Requester: "bob", Connection: "staging-db",
		AccessFor: time.Hour, Reason: "incident 42", Approvers: []string{"identity:carol"}, MinApprovals: 1,
		CreatedAt: at.Add(time.Minute), ExpiresAt: at.Add(11 * time.Minute),
	}}
	for _, r := range reviews {
		if err := e.Store.CreateReview(ctx, &r); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := e.Store.AddVote(ctx, "r_8f2c0001", store.Vote{Identity: "dan", Approve: true, Reason: "where clause ok", At: at.Add(2 * time.Minute)}); err != nil {
		tb.Fatal(err)
	}
	if _, err := e.Store.AddVote(ctx, "r_8f2c0002", store.Vote{Identity: "carol", Approve: false, Reason: "use the runbook", At: at.Add(3 * time.Minute)}); err != nil {
		tb.Fatal(err)
	}
}

func TestReviewsListAndShow(t *testing.T) {
	e := apitest.Start(t)
	storeReviewSample(t, e)
	admin := asUser(e, e.AdminToken)
	golden(t, "reviews-list.txt", mustRun(t, admin, "reviews", "list"))
	golden(t, "reviews-show.txt", mustRun(t, asUser(e, e.Token(t, "erin", auth.KindPerson, "dba")), "reviews", "show", "r_8f2c0001"))

	pending := mustRun(t, admin, "reviews", "list", "--status", "pending")
	if !strings.Contains(pending, "r_8f2c0001") || strings.Contains(pending, "r_8f2c0002") {
		t.Errorf("list --status pending:\n%s", pending)
	}
	var list []api.ReviewInfo
	if err := json.Unmarshal([]byte(mustRun(t, admin, "reviews", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].AccessFor != "1h0m0s" {
		t.Errorf("list --json: got %+v", list)
	}
	// bob sees only his own request.
	if out := mustRun(t, asUser(e, e.Token(t, "bob", auth.KindPerson)), "reviews", "list"); strings.Contains(out, "r_8f2c0001") || !strings.Contains(out, "r_8f2c0002") {
		t.Errorf("bob's list:\n%s", out)
	}
	wantErr(t, asUser(e, e.Token(t, "bob", auth.KindPerson)), `review "r_8f2c0001" not found: list the reviews you can see with "gatehouse reviews list"`, "reviews", "show", "r_8f2c0001")
	wantErr(t, admin, "invalid status", "reviews", "list", "--status", "done")
}

func TestReviewsApproveReject(t *testing.T) {
	e := apitest.Start(t)
	rv := e.Review(t, store.Review{MinApprovals: 2})
	alice := asUser(e, e.Token(t, "alice", auth.KindPerson, "eng"))
	dan := asUser(e, e.Token(t, "dan", auth.KindPerson, "dba"))
	erin := asUser(e, e.Token(t, "erin", auth.KindPerson, "dba"))
	mallory := asUser(e, e.Token(t, "mallory", auth.KindPerson, "eng"))

	wantErr(t, alice, "you requested review "+rv.ID+": another approver must decide it", "reviews", "approve", rv.ID)
	wantErr(t, mallory, "not found", "reviews", "approve", rv.ID)

	out := mustRun(t, dan, "reviews", "approve", rv.ID, "--reason", "checked")
	if want := "approval recorded for " + rv.ID + ": 1 of 2 approvals, another approver must approve too\n"; out != want {
		t.Errorf("first approve printed %q, want %q", out, want)
	}
	wantErr(t, dan, "you already voted on this review: another approver must decide it", "reviews", "approve", rv.ID)
	if out := mustRun(t, erin, "reviews", "approve", rv.ID); out != "approved "+rv.ID+"\n" {
		t.Errorf("second approve printed %q", out)
	}
	wantErr(t, erin, "review "+rv.ID+" is already approved and cannot change", "reviews", "reject", rv.ID)

	show := mustRun(t, dan, "reviews", "show", rv.ID)
	for _, want := range []string{"Status:", "approved", "2 of 2", "dan", "checked", "erin"} {
		if !strings.Contains(show, want) {
			t.Errorf("show does not contain %q:\n%s", want, show)
		}
	}

	rej := e.Review(t, store.Review{Requester: "bob"})
	if out := mustRun(t, asUser(e, e.AdminToken), "reviews", "reject", rej.ID, "--reason", "freeze"); out != "rejected "+rej.ID+"\n" {
		t.Errorf("reject printed %q", out)
	}
	got, err := e.Store.GetReview(context.Background(), rej.ID)
	if err != nil || got.Status != store.ReviewRejected || got.Votes[0].Reason != "freeze" {
		t.Errorf("after reject: got %+v, %v", got, err)
	}
}
