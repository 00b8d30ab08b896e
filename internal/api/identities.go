package api

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// DisableIdentityRequest is the body of POST /api/v1/identities/{name}/disable.
type DisableIdentityRequest struct {
	Reason string `json:"reason"`
}

// maxAuditLimit caps one page of GET /api/v1/audit/events.
const maxAuditLimit = 1000

var errRateLimited = &httpError{http.StatusTooManyRequests, "too many failed sign-ins from your address; try again later"}

func (s *Server) listIdentities(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	list, err := s.Store.ListIdentities(r.Context())
	if err != nil {
		return fmt.Errorf("list identities: %w", err)
	}
	if list == nil {
		list = []store.Identity{}
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) disableIdentity(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if s.DisableIdentity == nil {
		return errNotImplemented
	}
	var req DisableIdentityRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	if !auth.ValidIdentity(name) {
		return badRequest("invalid identity %q", name)
	}
	if name == p.Identity {
		return badRequest("you cannot disable your own identity")
	}
	if err := s.DisableIdentity(r.Context(), p, name, req.Reason); err != nil {
		return fmt.Errorf("disable identity %s: %w", name, err)
	}
	s.logger().InfoContext(r.Context(), "identity disabled", "identity", name, "by", p.Identity)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) enableIdentity(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if s.EnableIdentity == nil {
		return errNotImplemented
	}
	name := r.PathValue("name")
	err := s.EnableIdentity(r.Context(), p, name)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("disabled identity")
	}
	if err != nil {
		return fmt.Errorf("enable identity %s: %w", name, err)
	}
	s.logger().InfoContext(r.Context(), "identity enabled", "identity", name, "by", p.Identity)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	q := r.URL.Query()
	f := store.AuditFilter{Identity: q.Get("identity"), Type: q.Get("type"), Limit: 100}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditLimit {
			return badRequest("limit must be 1 to %d", maxAuditLimit)
		}
		f.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return badRequest("before must be an event id")
		}
		f.Before = n
	}
	list, err := s.Store.ListAudit(r.Context(), f)
	if err != nil {
		return fmt.Errorf("list audit events: %w", err)
	}
	if list == nil {
		list = []store.AuditEvent{}
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// sourceOf returns the client address of r without its port.
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
