package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/review"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// maxReviewLimit caps ?limit= on GET /api/v1/reviews.
const maxReviewLimit = 1000

// ReviewInfo is a review as the API shows it: store.Review with AccessFor
// as a Go duration string ("1h30m0s"), and whether the caller may vote.
type ReviewInfo struct {
	store.Review
	AccessFor string `json:"access_for,omitempty"`
	// CanVote is true when the caller may approve or reject the review
	// now: it is pending and not past ExpiresAt, the caller did not request it, is an approver or
	// an admin, and has not voted yet.
	CanVote bool `json:"can_vote"`
}

// VoteRequest is the body of POST /api/v1/reviews/{id}/approve and
// /reject.
type VoteRequest struct {
	Reason string `json:"reason"`
}

func reviewInfo(r *store.Review, p *auth.Principal) ReviewInfo {
	ri := ReviewInfo{Review: *r}
	if ri.RequesterGroups == nil {
		ri.RequesterGroups = []string{}
	}
	if ri.Approvers == nil {
		ri.Approvers = []string{}
	}
	if ri.Votes == nil {
		ri.Votes = []store.Vote{}
	}
	if r.AccessFor > 0 {
		ri.AccessFor = r.AccessFor.String()
	}
	ri.CanVote = r.Status == store.ReviewPending && time.Now().Before(r.ExpiresAt) &&
		p.Identity != r.Requester && review.MayApprove(p, r)
	for _, v := range r.Votes {
		if v.Identity == p.Identity {
			ri.CanVote = false
		}
	}
	return ri
}

// canSee reports whether p may see r: admins see every review, others the
// ones they requested or may approve.
func canSee(p *auth.Principal, r *store.Review) bool {
	return p.IsAdmin() || r.Requester == p.Identity || review.MayApprove(p, r)
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if s.Reviews == nil {
		return errNotImplemented
	}
	q := r.URL.Query()
	f := store.ReviewFilter{
		Status:     q.Get("status"),
		Connection: q.Get("connection"),
		Requester:  q.Get("requester"),
	}
	switch f.Status {
	case "", store.ReviewPending, store.ReviewApproved, store.ReviewRejected, store.ReviewExpired:
	default:
		return badRequest("invalid status %q: want pending, approved, rejected or expired", f.Status)
	}
	limit, err := intParam(q.Get("limit"), "limit", maxReviewLimit)
	if err != nil {
		return err
	}
	f.Limit = limit
	want := limit
	if want == 0 {
		want = 100
	}
	if !p.IsAdmin() {
		// Visibility is decided here, not in the query: read the most
		// the store gives and keep what p may see.
		f.Limit = maxReviewLimit
	}
	list, err := s.Reviews.Store.ListReviews(r.Context(), f)
	if err != nil {
		return fmt.Errorf("list reviews: %w", err)
	}
	out := []ReviewInfo{}
	for i := range list {
		if len(out) == want {
			break
		}
		if canSee(p, &list[i]) {
			out = append(out, reviewInfo(&list[i], p))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// review returns the review with the path's ID if p may see it; an
// invisible review is reported exactly like an unknown one.
func (s *Server) review(r *http.Request, p *auth.Principal) (*store.Review, error) {
	id := r.PathValue("id")
	rv, err := s.Reviews.Store.GetReview(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("review")
	}
	if err != nil {
		return nil, fmt.Errorf("get review %s: %w", id, err)
	}
	if !canSee(p, rv) {
		return nil, notFound("review")
	}
	return rv, nil
}

func (s *Server) getReview(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if s.Reviews == nil {
		return errNotImplemented
	}
	rv, err := s.review(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reviewInfo(rv, p))
	return nil
}

func (s *Server) approveReview(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	return s.voteReview(w, r, p, true)
}

func (s *Server) rejectReview(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	return s.voteReview(w, r, p, false)
}

func (s *Server) voteReview(w http.ResponseWriter, r *http.Request, p *auth.Principal, approve bool) error {
	if s.Reviews == nil {
		return errNotImplemented
	}
	var req VoteRequest
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, &req); err != nil {
			return err
		}
	}
	if len(req.Reason) > 1000 {
		return badRequest("reason too long: at most 1000 characters")
	}
	// A review p may not see is unknown to p, exactly as for GET.
	if _, err := s.review(r, p); err != nil {
		return err
	}
	id := r.PathValue("id")
	vote := s.Reviews.Approve
	if !approve {
		vote = s.Reviews.Reject
	}
	rv, err := vote(r.Context(), id, p, req.Reason)
	if err != nil {
		return reviewError(id, err)
	}
	writeJSON(w, http.StatusOK, reviewInfo(rv, p))
	return nil
}

// reviewError maps the review service's errors onto HTTP.
func reviewError(id string, err error) error {
	var (
		fe *review.ForbiddenError
		de *review.DecidedError
	)
	switch {
	case errors.As(err, &fe):
		return &httpError{http.StatusForbidden, fe.Error()}
	case errors.As(err, &de):
		return &httpError{http.StatusConflict, de.Error()}
	case errors.Is(err, review.ErrAlreadyVoted):
		return &httpError{http.StatusConflict, err.Error()}
	case errors.Is(err, store.ErrNotFound):
		return notFound("review")
	}
	return fmt.Errorf("vote on review %s: %w", id, err)
}

// AccessRequest asks for time-bound access to a connection whose policy
// says access: review.
type AccessRequest struct {
	Connection string `json:"connection"`
	For        string `json:"for"` // a duration, e.g. "1h"
	Reason     string `json:"reason"`
}

func (s *Server) requestAccess(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if s.RequestAccess == nil {
		return errNotImplemented
	}
	var req AccessRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	d, err := time.ParseDuration(req.For)
	if err != nil || d <= 0 {
		return badRequest(`"for" must be a positive duration such as "1h"`)
	}
	if req.Connection == "" || len(req.Reason) > 1000 {
		return badRequest("a request needs a connection and a reason of at most 1000 characters")
	}
	rv, err := s.RequestAccess(r.Context(), p, req.Connection, d, req.Reason)
	if err != nil {
		var he *httpError
		if errors.As(err, &he) {
			return he
		}
		return reviewError("", err)
	}
	writeJSON(w, http.StatusCreated, reviewInfo(rv, p))
	return nil
}

// AccessError is a refusal of an access request that the client may see.
func AccessError(msg string) error { return &httpError{http.StatusForbidden, msg} }
