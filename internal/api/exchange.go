package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

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

// DeviceStartRequest is the body of POST /api/v1/auth/device.
type DeviceStartRequest struct {
	// Provider names an auth.oidc provider; empty means the first.
	Provider string `json:"provider,omitempty"`
}

// DeviceStart answers POST /api/v1/auth/device: what to show the user, and
// the handle to poll POST /api/v1/auth/device/token with.
type DeviceStart struct {
	Handle                  string    `json:"handle"`
	UserCode                string    `json:"user_code"`
	VerificationURI         string    `json:"verification_uri"`
	VerificationURIComplete string    `json:"verification_uri_complete,omitempty"`
	ExpiresAt               time.Time `json:"expires_at"`
}

// DeviceTokenRequest is the body of POST /api/v1/auth/device/token.
type DeviceTokenRequest struct {
	Handle string `json:"handle"`
}

// DevicePending is the 202 answer while the user has not signed in yet.
type DevicePending struct {
	Status string `json:"status"` // "pending"
}

func (s *Server) deviceStart(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		if s.DeviceStart == nil {
			return errNotImplemented
		}
		src := sourceOf(r)
		if s.SignInBlocked != nil && s.SignInBlocked(src) {
			return errRateLimited
		}
		var req DeviceStartRequest
		if err := decodeBody(w, r, &req); err != nil {
			return err
		}
		out, err := s.DeviceStart(r.Context(), src, req.Provider)
		if errors.Is(err, ErrExchangeRefused) {
			return &httpError{http.StatusBadRequest, err.Error()}
		}
		if err != nil {
			return fmt.Errorf("device sign-in: %w", err)
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}()
	if err != nil {
		s.fail(w, r, err)
	}
}

func (s *Server) deviceToken(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		if s.DeviceToken == nil {
			return errNotImplemented
		}
		var req DeviceTokenRequest
		if err := decodeBody(w, r, &req); err != nil {
			return err
		}
		secret, t, pending, err := s.DeviceToken(r.Context(), req.Handle)
		switch {
		case errors.Is(err, ErrExchangeRefused):
			return &httpError{http.StatusUnauthorized, err.Error()}
		case err != nil:
			return fmt.Errorf("device sign-in: %w", err)
		case pending:
			writeJSON(w, http.StatusAccepted, DevicePending{Status: "pending"})
			return nil
		}
		writeJSON(w, http.StatusOK, IssuedToken{Token: secret, ID: t.ID, Identity: t.Identity, Groups: groupsOrEmpty(t), Kind: t.Kind, ExpiresAt: t.ExpiresAt})
		return nil
	}()
	if err != nil {
		s.fail(w, r, err)
	}
}

// AuthorizeRequest is the body of POST /api/v1/auth/authorize.
type AuthorizeRequest struct {
	Provider    string `json:"provider,omitempty"`
	RedirectURI string `json:"redirect_uri"`
}

// AuthorizeStart answers POST /api/v1/auth/authorize.
type AuthorizeStart struct {
	URL   string `json:"url"`
	State string `json:"state"`
}

// AuthorizeTokenRequest is the body of POST /api/v1/auth/authorize/token.
type AuthorizeTokenRequest struct {
	State string `json:"state"`
	Code  string `json:"code"`
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		if s.Authorize == nil {
			return errNotImplemented
		}
		src := sourceOf(r)
		if s.SignInBlocked != nil && s.SignInBlocked(src) {
			return errRateLimited
		}
		var req AuthorizeRequest
		if err := decodeBody(w, r, &req); err != nil {
			return err
		}
		u, state, err := s.Authorize(r.Context(), src, req.Provider, req.RedirectURI)
		if errors.Is(err, ErrExchangeRefused) {
			return &httpError{http.StatusBadRequest, err.Error()}
		}
		if err != nil {
			return fmt.Errorf("browser sign-in: %w", err)
		}
		writeJSON(w, http.StatusOK, AuthorizeStart{URL: u, State: state})
		return nil
	}()
	if err != nil {
		s.fail(w, r, err)
	}
}

func (s *Server) authorizeToken(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		if s.AuthorizeToken == nil {
			return errNotImplemented
		}
		var req AuthorizeTokenRequest
		if err := decodeBody(w, r, &req); err != nil {
			return err
		}
		secret, t, err := s.AuthorizeToken(r.Context(), sourceOf(r), req.State, req.Code)
		if errors.Is(err, ErrExchangeRefused) {
			return &httpError{http.StatusUnauthorized, err.Error()}
		}
		if err != nil {
			return fmt.Errorf("browser sign-in: %w", err)
		}
		writeJSON(w, http.StatusOK, IssuedToken{Token: secret, ID: t.ID, Identity: t.Identity, Groups: groupsOrEmpty(t), Kind: t.Kind, ExpiresAt: t.ExpiresAt})
		return nil
	}()
	if err != nil {
		s.fail(w, r, err)
	}
}

// SAMLStartRequest is the body of POST /api/v1/auth/saml/start.
type SAMLStartRequest struct {
	RedirectURI string `json:"redirect_uri"`
}

func (s *Server) samlMetadata(w http.ResponseWriter, r *http.Request) {
	if s.SAMLMetadata == nil {
		s.fail(w, r, errNotImplemented)
		return
	}
	md, err := s.SAMLMetadata()
	if err != nil {
		s.fail(w, r, fmt.Errorf("SAML metadata: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Write(md)
}

func (s *Server) samlStart(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		if s.SAMLStart == nil {
			return errNotImplemented
		}
		src := sourceOf(r)
		if s.SignInBlocked != nil && s.SignInBlocked(src) {
			return errRateLimited
		}
		var req SAMLStartRequest
		if err := decodeBody(w, r, &req); err != nil {
			return err
		}
		u, state, err := s.SAMLStart(r.Context(), src, req.RedirectURI)
		if errors.Is(err, ErrExchangeRefused) {
			return &httpError{http.StatusBadRequest, err.Error()}
		}
		if err != nil {
			return fmt.Errorf("SAML sign-in: %w", err)
		}
		writeJSON(w, http.StatusOK, AuthorizeStart{URL: u, State: state})
		return nil
	}()
	if err != nil {
		s.fail(w, r, err)
	}
}

// samlACS receives the identity provider's response through the browser
// and sends the browser on to the CLI.
func (s *Server) samlACS(w http.ResponseWriter, r *http.Request) {
	if s.SAMLACS == nil {
		s.fail(w, r, errNotImplemented)
		return
	}
	if s.SignInBlocked != nil && s.SignInBlocked(sourceOf(r)) {
		s.fail(w, r, errRateLimited)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	to, err := s.SAMLACS(r)
	if errors.Is(err, ErrExchangeRefused) {
		s.fail(w, r, &httpError{http.StatusUnauthorized, err.Error()})
		return
	}
	if err != nil {
		s.fail(w, r, fmt.Errorf("SAML response: %w", err))
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (s *Server) samlToken(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		if s.SAMLToken == nil {
			return errNotImplemented
		}
		var req AuthorizeTokenRequest
		if err := decodeBody(w, r, &req); err != nil {
			return err
		}
		secret, t, err := s.SAMLToken(r.Context(), sourceOf(r), req.State, req.Code)
		if errors.Is(err, ErrExchangeRefused) {
			return &httpError{http.StatusUnauthorized, err.Error()}
		}
		if err != nil {
			return fmt.Errorf("SAML sign-in: %w", err)
		}
		writeJSON(w, http.StatusOK, IssuedToken{Token: secret, ID: t.ID, Identity: t.Identity, Groups: groupsOrEmpty(t), Kind: t.Kind, ExpiresAt: t.ExpiresAt})
		return nil
	}()
	if err != nil {
		s.fail(w, r, err)
	}
}
