package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// ExchangeRequest is the body of POST /api/v1/auth/exchange: an identity
// provider's token (a CI system's OIDC token) to trade for a gatehouse
// token.
type ExchangeRequest struct {
	Token string `json:"token"`
}

// ErrExchangeRefused wraps the reason an exchange was refused; the reason
// (never the token) is shown to the client.
var ErrExchangeRefused = errors.New("token not accepted")

// maxExchangeToken bounds the token in an exchange request.
const maxExchangeToken = 16 << 10

// exchange is unauthenticated: the body's token is the credential.
func (s *Server) exchange(w http.ResponseWriter, r *http.Request) {
	if err := s.doExchange(w, r); err != nil {
		s.fail(w, r, err)
	}
}

func (s *Server) doExchange(w http.ResponseWriter, r *http.Request) error {
	if s.Exchange == nil {
		return errNotImplemented
	}
	src := sourceOf(r)
	if s.SignInBlocked != nil && s.SignInBlocked(src) {
		return errRateLimited
	}
	var req ExchangeRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Token == "" || len(req.Token) > maxExchangeToken {
		return badRequest("token must be an OIDC token (a JWT) of at most %d bytes", maxExchangeToken)
	}
	secret, t, err := s.Exchange(r.Context(), src, req.Token)
	if errors.Is(err, ErrExchangeRefused) {
		return &httpError{http.StatusUnauthorized, err.Error()}
	}
	if err != nil {
		return fmt.Errorf("exchange: %w", err)
	}
	writeJSON(w, http.StatusOK, IssuedToken{Token: secret, ID: t.ID, Identity: t.Identity, Groups: groupsOrEmpty(t), Kind: t.Kind, ExpiresAt: t.ExpiresAt})
	return nil
}

func groupsOrEmpty(t *store.Token) []string {
	if t.Groups == nil {
		return []string{}
	}
	return t.Groups
}
