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
	// OK is true when the hash chain is intact, ends where the session
	// record and the gateway's signature say it ends, and the signature is
	// not invalid. A missing signature makes OK false only for a session
	// that has ended (a live one is not closed yet); Signature says so.
	OK     bool `json:"ok"`
	Events int  `json:"events"`
	// FirstBadSeq is the first event that fails verification (or is
	// missing), and Reason says why, when the recording is broken.
	FirstBadSeq uint64 `json:"first_bad_seq,omitempty"`
	Reason      string `json:"reason,omitempty"`
	// Signature is SignatureValid, SignatureInvalid or SignatureMissing.
	Signature string `json:"signature"`
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
	if sess.Status == store.StatusActive {
		// A live session keeps recording: check what its head covered when
		// it was read, not events that arrived since.
		n := len(evs)
		for n > 0 && evs[n-1].Seq > sess.LastSeq {
			n--
		}
		evs = evs[:n]
	}
	res, err := s.verify(ctx, sess, evs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// verify checks a session's events: their hash chain, that the chain ends
// at the head the session record names, and the gateway's signature over
// the closing event.
func (s *Server) verify(ctx context.Context, sess *store.Session, evs []store.Event) (*VerifyResult, error) {
	res := &VerifyResult{OK: true, Events: len(evs), Signature: SignatureMissing}
	broken := func(seq uint64, format string, args ...any) {
		if res.OK {
			res.OK, res.FirstBadSeq, res.Reason = false, seq, fmt.Sprintf(format, args...)
		}
	}
	rec := make([]recording.Event, len(evs))
	for i, e := range evs {
		rec[i] = recording.Event{Session: e.Session, Seq: e.Seq, Time: e.Time, Type: e.Type, Data: e.Data, Prev: e.Prev, Hash: e.Hash}
	}
	if err := recording.Verify(rec); err != nil {
		var ce *recording.ChainError
		if !errors.As(err, &ce) {
			return nil, fmt.Errorf("verify %s: %w", sess.ID, err)
		}
		broken(ce.Seq, "%s", ce.Reason)
	}
	// The chain verified, so event i has seq i+1.
	var lastSeq uint64
	var lastHash string
	if n := len(evs); n > 0 {
		lastSeq, lastHash = evs[n-1].Seq, evs[n-1].Hash
	}

	sig := sess.Signature
	if s.SessionSignature != nil {
		var err error
		if sig, err = s.SessionSignature(ctx, sess.ID); err != nil {
			return nil, fmt.Errorf("session signature of %s: %w", sess.ID, err)
		}
	}
	if sig != "" {
		signedSeq := sess.SignedSeq
		if signedSeq == 0 {
			signedSeq = sess.LastSeq
		}
		switch {
		case lastSeq < signedSeq:
			broken(lastSeq+1, "missing: the recording ends at event %d, but the gateway signed event %d as the last", lastSeq, signedSeq)
		case lastSeq > signedSeq:
			broken(signedSeq+1, "recorded after the signed closing event %d", signedSeq)
		}
		// Check the signature against the stored event it names; with
		// that event gone, only against the session's head.
		var signedHash string
		switch {
		case signedSeq >= 1 && signedSeq <= uint64(len(evs)):
			signedHash = evs[signedSeq-1].Hash
		case signedSeq == sess.LastSeq:
			signedHash = sess.LastHash
		}
		if len(s.PublicKey) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("verify signature of %s: public key has %d bytes, want %d", sess.ID, len(s.PublicKey), ed25519.PublicKeySize)
		}
		res.Signature = SignatureInvalid
		if signedHash != "" && recording.VerifySignature(s.PublicKey, sess.ID, signedSeq, signedHash, sig) {
			res.Signature = SignatureValid
		}
	}
	switch {
	case lastSeq < sess.LastSeq:
		broken(lastSeq+1, "missing: the recording ends at event %d, but the session's head is event %d", lastSeq, sess.LastSeq)
	case lastSeq > sess.LastSeq:
		broken(sess.LastSeq+1, "not in the session's head: the session ends at event %d", sess.LastSeq)
	case lastHash != sess.LastHash:
		broken(lastSeq, "hash differs from the session's recorded head")
	}
	if sess.Status != store.StatusActive && sig == "" {
		// An ended session is closed by a signed last event; without one
		// its end was never recorded, and events may be missing.
		if len(evs) == 0 {
			broken(1, "missing: the session ended (%s) with no events recorded", sess.Status)
		} else {
			broken(lastSeq+1, "missing: the session ended (%s) but its recording was never closed and signed", sess.Status)
		}
	}
	if res.Signature == SignatureInvalid {
		res.OK = false
	}
	return res, nil
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
