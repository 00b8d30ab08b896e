// Package review is gatehouse's just-in-time approval workflow: it creates
// reviews for held statements and access requests, records approvers'
// votes under the rules (the requester never votes on their own review,
// only listed approvers or an admin vote, MinApprovals distinct people, a
// decided review never changes), expires reviews nobody decided in time,
// and wakes the callers waiting on a review as soon as it is decided.
//
// The store is the source of truth: votes are decided atomically there, so
// several gateway replicas may share it. A decision made in this process
// wakes its waiters at once; one made by another replica is seen by a slow
// store poll.
package review

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Events passed to Service.Notify.
const (
	EventCreated  = "review.created"
	EventApproved = "review.approved"
	EventRejected = "review.rejected"
	EventExpired  = "review.expired"
)

// Defaults for the Service's zero fields.
const (
	DefaultTimeout      = 10 * time.Minute
	DefaultPollInterval = 2 * time.Second
)

// ErrAlreadyVoted is returned when a principal votes twice on one review.
var ErrAlreadyVoted = errors.New("you already voted on this review: another approver must decide it")

// ForbiddenError says why a principal may not vote on a review. Its
// message is meant for that principal.
type ForbiddenError struct {
	Review string
	Reason string
}

func (e *ForbiddenError) Error() string { return e.Reason }

// DecidedError is returned for a vote on a review that is no longer
// pending. It matches store.ErrDecided with errors.Is.
type DecidedError struct {
	Review string
	Status string
}

func (e *DecidedError) Error() string {
	return fmt.Sprintf("review %s is already %s and cannot change", e.Review, e.Status)
}

// Is makes errors.Is(err, store.ErrDecided) true.
func (e *DecidedError) Is(target error) bool { return target == store.ErrDecided }

// Service runs the review workflow. Store is required; the other fields
// have defaults. A Service must not be copied after first use.
type Service struct {
	Store store.Reviews
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Notify is called after every state change: EventCreated,
	// EventApproved, EventRejected, EventExpired. It may be nil. It runs on
	// the caller's goroutine and should not block for long.
	Notify func(ctx context.Context, r *store.Review, event string)
	// Logger receives state changes; nil discards them.
	Logger *slog.Logger
	// Timeout is how long a review created without ExpiresAt stays
	// pending; zero means DefaultTimeout.
	Timeout time.Duration
	// PollInterval is how often Wait rereads the store, to see decisions
	// made by other gateway replicas; zero means DefaultPollInterval.
	PollInterval time.Duration

	mu      sync.Mutex
	waiters map[string]*waiter
}

// waiter is a broadcast for one review: ch is closed when it changes.
type waiter struct {
	ch chan struct{}
	n  int // Wait calls holding it
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// StatementHash returns the hash a statement review is bound to: SHA-256
// over the text and each parameter, length-prefixed so that no two
// different statements share an encoding. A nil parameter (SQL NULL) is
// distinct from an empty one.
func StatementHash(text string, params [][]byte) string {
	h := sha256.New()
	var n [8]byte
	put := func(b []byte, null bool) {
		if null {
			binary.BigEndian.PutUint64(n[:], ^uint64(0))
		} else {
			binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		}
		h.Write(n[:])
		h.Write(b)
	}
	put([]byte(text), false)
	for _, p := range params {
		put(p, p == nil)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Create validates r, assigns its ID, Status, CreatedAt and (when zero)
// ExpiresAt, stores it and notifies EventCreated. A zero MinApprovals
// means 1. It returns the stored review.
func (s *Service) Create(ctx context.Context, r *store.Review) (*store.Review, error) {
	if err := validate(r); err != nil {
		return nil, fmt.Errorf("create review: %w", err)
	}
	nr := *r
	nr.Approvers = slices.Clone(r.Approvers)
	nr.RequesterGroups = slices.Clone(r.RequesterGroups)
	nr.Votes = nil
	nr.Status = store.ReviewPending
	nr.DecidedAt = time.Time{}
	if nr.MinApprovals == 0 {
		nr.MinApprovals = 1
	}
	nr.CreatedAt = s.now().UTC()
	if nr.ExpiresAt.IsZero() {
		timeout := s.Timeout
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		nr.ExpiresAt = nr.CreatedAt.Add(timeout)
	}
	if !nr.ExpiresAt.After(nr.CreatedAt) {
		return nil, fmt.Errorf("create review: expiry %s is not in the future", nr.ExpiresAt.Format(time.RFC3339))
	}
	// Four random bytes collide rarely; a few attempts make it never.
	var err error
	for range 5 {
		nr.ID, err = newID()
		if err != nil {
			return nil, err
		}
		err = s.Store.CreateReview(ctx, &nr)
		if !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create review: %w", err)
	}
	s.logger().InfoContext(ctx, "review created", "review", nr.ID, "kind", nr.Kind,
		"requester", nr.Requester, "connection", nr.Connection, "session", nr.Session)
	s.notify(ctx, &nr, EventCreated)
	return &nr, nil
}

func validate(r *store.Review) error {
	switch r.Kind {
	case store.ReviewStatement:
		if r.Statement == "" || r.StatementHash == "" {
			return errors.New("a statement review needs the statement and its hash")
		}
	case store.ReviewAccess:
		if r.AccessFor <= 0 {
			return fmt.Errorf("an access review needs a positive duration, got %s", r.AccessFor)
		}
	default:
		return fmt.Errorf("kind %q is not %q or %q", r.Kind, store.ReviewStatement, store.ReviewAccess)
	}
	if r.Requester == "" {
		return errors.New("no requester")
	}
	if r.MinApprovals < 0 {
		return fmt.Errorf("min approvals %d is negative", r.MinApprovals)
	}
	if len(r.Approvers) == 0 {
		return errors.New("no approvers")
	}
	// Approvers named one by one, none of them the requester, must be
	// enough to reach MinApprovals; a group may have any number of members.
	var people []string
	groups := false
	for _, a := range r.Approvers {
		kind, name, ok := strings.Cut(a, ":")
		if !ok || name == "" || (kind != "group" && kind != "identity") {
			return fmt.Errorf("approver %q: want group:NAME or identity:NAME", a)
		}
		if kind == "group" {
			groups = true
		} else if name != r.Requester && !slices.Contains(people, name) {
			people = append(people, name)
		}
	}
	if min := max(r.MinApprovals, 1); !groups && len(people) < min {
		return fmt.Errorf("%d approvals needed but only %d approvers other than the requester are named", min, len(people))
	}
	return nil
}

func newID() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate review id: %w", err)
	}
	return "r_" + hex.EncodeToString(b[:]), nil
}

// MayApprove reports whether p is one of r's approvers or an admin. The
// requester may approve nothing of their own, whatever this says; Approve
// checks both.
func MayApprove(p *auth.Principal, r *store.Review) bool {
	if p == nil {
		return false
	}
	if p.IsAdmin() {
		return true
	}
	for _, a := range r.Approvers {
		kind, name, _ := strings.Cut(a, ":")
		switch kind {
		case "identity":
			if name == p.Identity {
				return true
			}
		case "group":
			if slices.Contains(p.Groups, name) {
				return true
			}
		}
	}
	return false
}

// Approve records by's approval. The review is approved once MinApprovals
// distinct approvers approved it. Errors: *ForbiddenError when by is the
// requester or not an approver, ErrAlreadyVoted, *DecidedError when the
// review is no longer pending (an expired one included), and errors
// wrapping store.ErrNotFound.
func (s *Service) Approve(ctx context.Context, id string, by *auth.Principal, reason string) (*store.Review, error) {
	return s.vote(ctx, id, by, true, reason)
}

// Reject records by's rejection, which rejects the review. It fails like
// Approve.
func (s *Service) Reject(ctx context.Context, id string, by *auth.Principal, reason string) (*store.Review, error) {
	return s.vote(ctx, id, by, false, reason)
}

func (s *Service) vote(ctx context.Context, id string, by *auth.Principal, approve bool, reason string) (*store.Review, error) {
	if by == nil || by.Identity == "" {
		return nil, errors.New("vote: no principal")
	}
	r, err := s.Store.GetReview(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Status != store.ReviewPending {
		return nil, &DecidedError{Review: id, Status: r.Status}
	}
	if by.Identity == r.Requester {
		return nil, &ForbiddenError{Review: id, Reason: fmt.Sprintf("you requested review %s: another approver must decide it", id)}
	}
	if !MayApprove(by, r) {
		return nil, &ForbiddenError{Review: id, Reason: fmt.Sprintf("you are not an approver of review %s: ask one of %s", id, strings.Join(r.Approvers, ", "))}
	}
	now := s.now().UTC()
	got, err := s.Store.AddVote(ctx, id, store.Vote{Identity: by.Identity, Approve: approve, Reason: reason, At: now})
	switch {
	case errors.Is(err, store.ErrConflict):
		return nil, ErrAlreadyVoted
	case errors.Is(err, store.ErrExpired):
		exp, err := s.expire(ctx, id, now)
		if err != nil {
			return nil, err
		}
		return nil, &DecidedError{Review: id, Status: exp.Status}
	case errors.Is(err, store.ErrDecided):
		cur, gerr := s.Store.GetReview(ctx, id)
		if gerr != nil {
			return nil, gerr
		}
		return nil, &DecidedError{Review: id, Status: cur.Status}
	case err != nil:
		return nil, err
	}
	s.logger().InfoContext(ctx, "review vote", "review", id, "by", by.Identity, "approve", approve, "status", got.Status)
	switch got.Status {
	case store.ReviewApproved:
		s.decided(ctx, got, EventApproved)
	case store.ReviewRejected:
		s.decided(ctx, got, EventRejected)
	}
	return got, nil
}

// expire marks a pending review expired and returns it; one that was
// decided meanwhile is returned as it is.
func (s *Service) expire(ctx context.Context, id string, at time.Time) (*store.Review, error) {
	r, err := s.Store.ExpireReview(ctx, id, at)
	if errors.Is(err, store.ErrDecided) {
		return s.Store.GetReview(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	s.logger().InfoContext(ctx, "review expired", "review", id)
	s.decided(ctx, r, EventExpired)
	return r, nil
}

// Withdraw ends a pending review whose statement will not run (its
// client canceled it or went away, its session ended): it is marked
// expired, so a later approval cannot seem to let anything run. A review
// decided meanwhile is returned as it is.
func (s *Service) Withdraw(ctx context.Context, id string) (*store.Review, error) {
	return s.expire(ctx, id, s.now().UTC())
}

func (s *Service) decided(ctx context.Context, r *store.Review, event string) {
	s.wake(r.ID)
	s.notify(ctx, r, event)
}

func (s *Service) notify(ctx context.Context, r *store.Review, event string) {
	if s.Notify != nil {
		cp := *r
		cp.Votes = slices.Clone(r.Votes)
		s.Notify(ctx, &cp, event)
	}
}

// Wait blocks until the review is decided and returns it. A review still
// pending at ExpiresAt is marked expired and returned. Wait returns ctx's
// error when ctx ends first; the review stays as it is.
func (s *Service) Wait(ctx context.Context, id string) (*store.Review, error) {
	poll := s.PollInterval
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	for {
		// Subscribe before reading, so a decision between the read and
		// the select still wakes us.
		w := s.subscribe(id)
		r, err := s.Store.GetReview(ctx, id)
		if err != nil {
			s.release(id, w)
			return nil, err
		}
		if r.Status != store.ReviewPending {
			s.release(id, w)
			return r, nil
		}
		left := r.ExpiresAt.Sub(s.now())
		if left <= 0 {
			s.release(id, w)
			return s.expire(ctx, id, s.now().UTC())
		}
		t := time.NewTimer(min(left, poll))
		select {
		case <-ctx.Done():
			t.Stop()
			s.release(id, w)
			return nil, fmt.Errorf("wait for review %s: %w", id, ctx.Err())
		case <-w.ch:
		case <-t.C:
		}
		t.Stop()
		s.release(id, w)
	}
}

func (s *Service) subscribe(id string) *waiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiters == nil {
		s.waiters = map[string]*waiter{}
	}
	w := s.waiters[id]
	if w == nil {
		w = &waiter{ch: make(chan struct{})}
		s.waiters[id] = w
	}
	w.n++
	return w
}

func (s *Service) release(id string, w *waiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.n--
	if w.n == 0 && s.waiters[id] == w {
		delete(s.waiters, id)
	}
}

// wake wakes every Wait on id.
func (s *Service) wake(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.waiters[id]; w != nil {
		close(w.ch)
		delete(s.waiters, id)
	}
}
