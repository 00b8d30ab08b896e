package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// IssueTokenRequest is the body of POST /api/v1/tokens.
type IssueTokenRequest struct {
	Identity string   `json:"identity"`
	Groups   []string `json:"groups"`
	// TTL is a Go duration such as "15m"; empty means one hour. It may
	// not exceed the gateway's auth.max_token_ttl.
	TTL string `json:"ttl"`
}

// IssuedToken is the answer of POST /api/v1/tokens: the only response that
// ever carries a token's secret.
type IssuedToken struct {
	Token     string    `json:"token"`
	ID        string    `json:"id"`
	Identity  string    `json:"identity"`
	Groups    []string  `json:"groups"`
	Kind      string    `json:"kind"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Token states in TokenInfo.
const (
	TokenActive  = "active"
	TokenExpired = "expired"
	TokenRevoked = "revoked"
)

// TokenInfo describes an issued token in GET /api/v1/tokens. It never
// carries the secret or its hash.
type TokenInfo struct {
	ID        string    `json:"id"`
	Identity  string    `json:"identity"`
	Groups    []string  `json:"groups"`
	Kind      string    `json:"kind"`
	IssuedBy  string    `json:"issued_by,omitempty"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Status    string    `json:"status"`
}

func (s *Server) issueToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if s.IssueToken == nil {
		return errNotImplemented
	}
	var req IssueTokenRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if !auth.ValidIdentity(req.Identity) {
		return badRequest("invalid identity %q: want 1 to 128 letters, digits or ._@:/+-", req.Identity)
	}
	for _, g := range req.Groups {
		if !auth.ValidIdentity(g) {
			return badRequest("invalid group %q: want 1 to 128 letters, digits or ._@:/+-", g)
		}
	}
	ttl, err := parseTTL(req.TTL, defaultTokenTTL)
	if err != nil {
		return err
	}
	maxTTL := s.MaxTokenTTL
	if maxTTL <= 0 {
		maxTTL = defaultMaxTokenTTL
	}
	if ttl > maxTTL {
		return badRequest("ttl %s is longer than the maximum of %s (auth.max_token_ttl)", fmtDuration(ttl), fmtDuration(maxTTL))
	}
	secret, t, err := s.IssueToken(r.Context(), p, req.Identity, req.Groups, ttl)
	if errors.Is(err, auth.ErrDisabled) {
		return &httpError{http.StatusConflict, fmt.Sprintf("identity %s is disabled: gatehouse identities enable %s", req.Identity, req.Identity)}
	}
	if err != nil {
		return fmt.Errorf("issue token for %s: %w", req.Identity, err)
	}
	s.logger().InfoContext(r.Context(), "token issued", "token_id", t.ID, "identity", t.Identity, "by", p.Identity)
	writeIssued(w, http.StatusCreated, secret, t)
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	list, err := s.Store.ListTokens(r.Context())
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	now := time.Now()
	out := make([]TokenInfo, 0, len(list))
	for _, t := range list {
		ti := TokenInfo{
			ID: t.ID, Identity: t.Identity, Groups: t.Groups, Kind: t.Kind, IssuedBy: t.IssuedBy,
			IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt, Status: TokenActive,
		}
		if ti.Groups == nil {
			ti.Groups = []string{}
		}
		switch {
		case !t.RevokedAt.IsZero():
			ti.Status = TokenRevoked
		case !now.Before(t.ExpiresAt):
			ti.Status = TokenExpired
		}
		out = append(out, ti)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if s.RevokeToken == nil {
		return errNotImplemented
	}
	id := r.PathValue("id")
	err := s.RevokeToken(r.Context(), p, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("token")
	}
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	s.logger().InfoContext(r.Context(), "token revoked", "token_id", id, "by", p.Identity)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
