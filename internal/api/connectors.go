package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// JoinTokenRequest is the body of POST /api/v1/connectors/join-tokens.
type JoinTokenRequest struct {
	Name string `json:"name"`
	// TTL is a Go duration such as "1h"; empty means one hour.
	TTL string `json:"ttl"`
}

// JoinTokenResponse carries a one-time connector join token.
type JoinTokenResponse struct {
	Token string `json:"token"`
}

// ConnectorInfo describes a connector in GET /api/v1/connectors.
type ConnectorInfo struct {
	Name     string    `json:"name"`
	Online   bool      `json:"online"`
	JoinedAt time.Time `json:"joined_at"`
	LastSeen time.Time `json:"last_seen,omitzero"`
}

func (s *Server) joinToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if s.JoinToken == nil {
		return errNotImplemented
	}
	var req JoinTokenRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if !auth.ValidIdentity(req.Name) {
		return badRequest("invalid connector name %q: want 1 to 128 letters, digits or ._@:/+-", req.Name)
	}
	ttl, err := parseTTL(req.TTL, defaultJoinTTL)
	if err != nil {
		return err
	}
	tok, err := s.JoinToken(r.Context(), req.Name, ttl)
	if err != nil {
		return fmt.Errorf("join token for connector %s: %w", req.Name, err)
	}
	s.logger().InfoContext(r.Context(), "connector join token created", "connector", req.Name, "by", p.Identity)
	writeJSON(w, http.StatusCreated, JoinTokenResponse{Token: tok})
	return nil
}

func (s *Server) listConnectors(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	list, err := s.Store.ListConnectors(r.Context())
	if err != nil {
		return fmt.Errorf("list connectors: %w", err)
	}
	out := make([]ConnectorInfo, 0, len(list))
	for _, c := range list {
		out = append(out, ConnectorInfo{
			Name:     c.Name,
			Online:   s.ConnectorOnline != nil && s.ConnectorOnline(c.Name),
			JoinedAt: c.JoinedAt,
			LastSeen: c.LastSeen,
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
