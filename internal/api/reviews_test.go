package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func reviewIDs(list []api.ReviewInfo) string {
	var ids []string
	for _, r := range list {
		ids = append(ids, r.ID)
	}
	return strings.Join(ids, ",")
}

func TestReviewVisibility(t *testing.T) {
	e := apitest.Start(t)
	mine := e.Review(t, store.Review{})
	other := e.Review(t, store.Review{Requester: "bob", Connection: "staging-db", Approvers: []string{"identity:carol"}})
	alice := e.Token(t, "alice", auth.KindPerson, "eng")
	dan := e.Token(t, "dan", auth.KindPerson, "dba")
	carol := e.Token(t, "carol", auth.KindPerson)
	mallory := e.Token(t, "mallory", auth.KindPerson, "eng")

	tests := []struct {
		name, token, query, want string
	}{
		{"admin sees all", e.AdminToken, "", other.ID + "," + mine.ID},
		{"requester sees own", alice, "", mine.ID},
		{"group approver", dan, "", mine.ID},
		{"identity approver", carol, "", other.ID},
		{"neither", mallory, "", ""},
		{"connection filter", e.AdminToken, "?connection=staging-db", other.ID},
		{"status filter", e.AdminToken, "?status=approved", ""},
		{"limit", e.AdminToken, "?limit=1", other.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, e, "GET", "/api/v1/reviews"+tt.query, tt.token, "")
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if got := reviewIDs(decode[[]api.ReviewInfo](t, r)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	wantError(t, call(t, e, "GET", "/api/v1/reviews?status=done", alice, ""), http.StatusBadRequest)
	wantError(t, call(t, e, "GET", "/api/v1/reviews", "", ""), http.StatusUnauthorized)

	got := decode[api.ReviewInfo](t, call(t, e, "GET", "/api/v1/reviews/"+mine.ID, dan, ""))
	if got.ID != mine.ID || got.Statement != mine.Statement || got.Status != store.ReviewPending || !got.CanVote {
		t.Errorf("GET as an approver: got %+v, want the pending review with can_vote", got)
	}
	if got := decode[api.ReviewInfo](t, call(t, e, "GET", "/api/v1/reviews/"+mine.ID, alice, "")); got.CanVote {
		t.Errorf("GET as the requester: can_vote is true")
	}
	// Another person's review is reported like an unknown one.
	a := wantError(t, call(t, e, "GET", "/api/v1/reviews/"+mine.ID, mallory, ""), http.StatusNotFound)
	b := wantError(t, call(t, e, "GET", "/api/v1/reviews/r_00000000", mallory, ""), http.StatusNotFound)
	if a.Error != b.Error {
		t.Errorf("invisible review says %q, unknown one %q", a.Error, b.Error)
	}
	wantError(t, call(t, e, "POST", "/api/v1/reviews/"+mine.ID+"/approve", mallory, `{}`), http.StatusNotFound)
}

func TestReviewVotes(t *testing.T) {
	e := apitest.Start(t)
	rv := e.Review(t, store.Review{MinApprovals: 2, Approvers: []string{"group:dba", "identity:carol"}})
	path := "/api/v1/reviews/" + rv.ID
	alice := e.Token(t, "alice", auth.KindPerson, "eng")
	dan := e.Token(t, "dan", auth.KindPerson, "dba")
	carol := e.Token(t, "carol", auth.KindPerson)
	erin := e.Token(t, "erin", auth.KindPerson, "dba")

	eb := wantError(t, call(t, e, "POST", path+"/approve", alice, `{"reason":"mine"}`), http.StatusForbidden)
	if !strings.Contains(eb.Error, "you requested review "+rv.ID+": another approver must decide it") {
		t.Errorf("self-approval: got %q", eb.Error)
	}
	wantError(t, call(t, e, "POST", path+"/approve", dan, `{"reason":`), http.StatusBadRequest)
	wantError(t, call(t, e, "POST", path+"/approve", dan, `{"why":"x"}`), http.StatusBadRequest)

	r := call(t, e, "POST", path+"/approve", dan, `{"reason":"checked the where clause"}`)
	if r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	got := decode[api.ReviewInfo](t, r)
	if got.Status != store.ReviewPending || len(got.Votes) != 1 || got.Votes[0].Reason != "checked the where clause" || got.CanVote {
		t.Errorf("after one of two approvals: got %+v", got)
	}
	eb = wantError(t, call(t, e, "POST", path+"/approve", dan, ""), http.StatusConflict)
	if !strings.Contains(eb.Error, "already voted") {
		t.Errorf("second vote: got %q", eb.Error)
	}

	// No body at all is a vote without a reason.
	r = call(t, e, "POST", path+"/approve", carol, "")
	if r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	if got := decode[api.ReviewInfo](t, r); got.Status != store.ReviewApproved || got.DecidedAt.IsZero() {
		t.Errorf("after two approvals: got %+v, want approved", got)
	}
	eb = wantError(t, call(t, e, "POST", path+"/reject", erin, `{}`), http.StatusConflict)
	if !strings.Contains(eb.Error, "already approved") {
		t.Errorf("reject after approval: got %q", eb.Error)
	}

	rej := e.Review(t, store.Review{Kind: store.ReviewAccess, AccessFor: 90 * 60e9, Requester: "bob"})
	r = call(t, e, "POST", "/api/v1/reviews/"+rej.ID+"/reject", e.AdminToken, `{"reason":"no"}`)
	if r.status != http.StatusOK {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	if got := decode[api.ReviewInfo](t, r); got.Status != store.ReviewRejected || got.AccessFor != "1h30m0s" {
		t.Errorf("admin reject: got %+v, want rejected access review for 1h30m0s", got)
	}
	wantError(t, call(t, e, "POST", "/api/v1/reviews/r_00000000/approve", e.AdminToken, `{}`), http.StatusNotFound)
}
