package api

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/recording"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Paging limits for lists.
const (
	maxSessionLimit = 1000
	// defaultEventLimit and maxEventLimit bound one page of events; clients
	// page on with ?after= the last seq they got.
	defaultEventLimit = 1000
	maxEventLimit     = 10000
)

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	q := r.URL.Query()
	f := store.SessionFilter{
		Identity:   q.Get("identity"),
		Connection: q.Get("connection"),
		Status:     q.Get("status"),
	}
	switch f.Status {
	case "", store.StatusActive, store.StatusEnded, store.StatusFailed:
	default:
		return badRequest("invalid status %q: want active, ended or failed", f.Status)
	}
	limit, err := intParam(q.Get("limit"), "limit", maxSessionLimit)
	if err != nil {
		return err
	}
	f.Limit = limit
	if !p.IsAdmin() {
		if f.Identity != "" && f.Identity != p.Identity {
			// Another identity's sessions are invisible, as if there were none.
			writeJSON(w, http.StatusOK, []store.Session{})
			return nil
		}
		f.Identity = p.Identity
	}
	list, err := s.Store.ListSessions(r.Context(), f)
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	if list == nil {
		list = []store.Session{}
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// session returns the session with the path's ID if p may see it; an
// invisible session is reported exactly like an unknown one.
func (s *Server) session(ctx context.Context, r *http.Request, p *auth.Principal) (*store.Session, error) {
	id := r.PathValue("id")
	sess, err := s.Store.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("session")
	}
	if err != nil {
		return nil, fmt.Errorf("get session %s: %w", id, err)
	}
	if !p.IsAdmin() && sess.Identity != p.Identity {
		return nil, notFound("session")
	}
	return sess, nil
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	sess, err := s.session(r.Context(), r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sess)
	return nil
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	sess, err := s.session(r.Context(), r, p)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		after, err = strconv.ParseUint(v, 10, 64)
		if err != nil {
			return badRequest("invalid after %q: want an event sequence number", v)
		}
	}
	limit, err := intParam(q.Get("limit"), "limit", maxEventLimit)
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = defaultEventLimit
	}
	evs, err := s.Store.ListEvents(r.Context(), sess.ID, after, limit)
	if err != nil {
		return fmt.Errorf("list events of %s: %w", sess.ID, err)
	}
	if evs == nil {
		evs = []store.Event{}
	}
	writeJSON(w, http.StatusOK, evs)
	return nil
}

// Signature states in a VerifyResult.
const (
	SignatureValid   = "valid"
	SignatureInvalid = "invalid"
	SignatureMissing = "missing"
)

// VerifyResult is the answer of GET /api/v1/sessions/{id}/verify.
type VerifyResult struct {
	// OK is true when the hash chain is intact, its newest event is the
	// one the session records as its head, and the signature is not
	// invalid. A missing signature (a session not closed yet) does not
	// make OK false; Signature says so.
	OK     bool   `json:"ok"`
	Events int    `json:"events"`
	// FirstBadSeq is the first event that fails verification, when !OK
	// because of the chain.
	FirstBadSeq uint64 `json:"first_bad_seq,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Signature   string `json:"signature"`
}

func (s *Server) verifySession(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	sess, err := s.session(ctx, r, p)
	if err != nil {
		return err
	}
	evs, err := s.Store.ListEvents(ctx, sess.ID, 0, 0)
	if err != nil {
		return fmt.Errorf("list events of %s: %w", sess.ID, err)
	}
	res := VerifyResult{OK: true, Events: len(evs)}
	rec := make([]recording.Event, len(evs))
	for i, e := range evs {
		rec[i] = recording.Event{Session: e.Session, Seq: e.Seq, Time: e.Time, Type: e.Type, Data: e.Data, Prev: e.Prev, Hash: e.Hash}
	}
	if err := recording.Verify(rec); err != nil {
		res.OK = false
		var ce *recording.ChainError
		if !errors.As(err, &ce) {
			return fmt.Errorf("verify %s: %w", sess.ID, err)
		}
		res.FirstBadSeq, res.Reason = ce.Seq, ce.Reason
	} else if n := len(evs); n > 0 && (evs[n-1].Seq != sess.LastSeq || evs[n-1].Hash != sess.LastHash) {
		// The chain is consistent but is not the one the session ended
		// with: events were cut off the end or replaced wholesale.
		res.OK = false
		res.FirstBadSeq = evs[n-1].Seq
		res.Reason = fmt.Sprintf("newest event is seq %d, but the session's recorded head is seq %d", evs[n-1].Seq, sess.LastSeq)
	} else if n == 0 && sess.LastSeq != 0 {
		res.OK = false
		res.FirstBadSeq = 1
		res.Reason = fmt.Sprintf("no events stored, but the session's recorded head is seq %d", sess.LastSeq)
	}
	res.Signature, err = s.signatureState(ctx, sess)
	if err != nil {
		return err
	}
	if res.Signature == SignatureInvalid {
		res.OK = false
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) signatureState(ctx context.Context, sess *store.Session) (string, error) {
	if s.SessionSignature == nil {
		return SignatureMissing, nil
	}
	sig, err := s.SessionSignature(ctx, sess.ID)
	if err != nil {
		return "", fmt.Errorf("session signature of %s: %w", sess.ID, err)
	}
	if sig == "" {
		return SignatureMissing, nil
	}
	if len(s.PublicKey) != ed25519.PublicKeySize {
		return "", fmt.Errorf("verify signature of %s: public key has %d bytes, want %d", sess.ID, len(s.PublicKey), ed25519.PublicKeySize)
	}
	if recording.VerifySignature(s.PublicKey, sess.ID, sess.LastSeq, sess.LastHash, sig) {
		return SignatureValid, nil
	}
	return SignatureInvalid, nil
}

// intParam parses an optional non-negative integer query parameter of at
// most max; empty means zero.
func intParam(v, name string, max int) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max {
		return 0, badRequest("invalid %s %q: want a number from 0 to %d", name, v, max)
	}
	return n, nil
}
