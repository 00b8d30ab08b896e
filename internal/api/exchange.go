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

// ErrExchangeRefused wraps the reason a sign-in was refused; the reason
// (never a token) is shown to the client.
var ErrExchangeRefused = errors.New("token not accepted")

// maxExchangeToken bounds the token in an exchange request.
const maxExchangeToken = 16 << 10

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

// AuthorizeRequest is the body of POST /api/v1/auth/authorize.
type AuthorizeRequest struct {
	Provider    string `json:"provider,omitempty"`
	RedirectURI string `json:"redirect_uri"`
}

// AuthorizeStart answers POST /api/v1/auth/authorize and
// /api/v1/auth/saml/start.
type AuthorizeStart struct {
	URL   string `json:"url"`
	State string `json:"state"`
}

// AuthorizeTokenRequest is the body of POST /api/v1/auth/authorize/token
// and /api/v1/auth/saml/token.
type AuthorizeTokenRequest struct {
	State string `json:"state"`
	Code  string `json:"code"`
}

// SAMLStartRequest is the body of POST /api/v1/auth/saml/start.
type SAMLStartRequest struct {
	RedirectURI string `json:"redirect_uri"`
}

// signInHandler serves one step of a sign-in: the caller has no token
// yet. It is given the client's address.
type signInHandler func(w http.ResponseWriter, r *http.Request, src string) error

// signIn wraps a sign-in route: 501 when its hook is not set; when
// limited, 429 for an address with too many failed sign-ins; and a refusal
// (ErrExchangeRefused) shown with status refused.
func (s *Server) signIn(hook, limited bool, refused int, h signInHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		src := sourceOf(r)
		var err error
		switch {
		case !hook:
			err = errNotImplemented
		case limited && s.SignInBlocked != nil && s.SignInBlocked(src):
			err = errRateLimited
		default:
			err = h(w, r, src)
		}
		if errors.Is(err, ErrExchangeRefused) {
			err = &httpError{refused, err.Error()}
		}
		if err != nil {
			s.fail(w, r, err)
		}
	}
}

// writeIssued answers with a token issued by a sign-in.
func writeIssued(w http.ResponseWriter, status int, secret string, t *store.Token) {
	groups := t.Groups
	if groups == nil {
		groups = []string{}
	}
	writeJSON(w, status, IssuedToken{Token: secret, ID: t.ID, Identity: t.Identity, Groups: groups, Kind: t.Kind, ExpiresAt: t.ExpiresAt})
}

func (s *Server) exchange(w http.ResponseWriter, r *http.Request, src string) error {
	var req ExchangeRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Token == "" || len(req.Token) > maxExchangeToken {
		return badRequest("token must be an OIDC token (a JWT) of at most %d bytes", maxExchangeToken)
	}
	secret, t, err := s.Exchange(r.Context(), src, req.Token)
	if err != nil {
		return fmt.Errorf("exchange: %w", err)
	}
	writeIssued(w, http.StatusOK, secret, t)
	return nil
}

func (s *Server) deviceStart(w http.ResponseWriter, r *http.Request, src string) error {
	var req DeviceStartRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	out, err := s.DeviceStart(r.Context(), src, req.Provider)
	if err != nil {
		return fmt.Errorf("device sign-in: %w", err)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) deviceToken(w http.ResponseWriter, r *http.Request, _ string) error {
	var req DeviceTokenRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	secret, t, pending, err := s.DeviceToken(r.Context(), req.Handle)
	switch {
	case err != nil:
		return fmt.Errorf("device sign-in: %w", err)
	case pending:
		writeJSON(w, http.StatusAccepted, DevicePending{Status: "pending"})
		return nil
	}
	writeIssued(w, http.StatusOK, secret, t)
	return nil
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request, src string) error {
	var req AuthorizeRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	u, state, err := s.Authorize(r.Context(), src, req.Provider, req.RedirectURI)
	if err != nil {
		return fmt.Errorf("browser sign-in: %w", err)
	}
	writeJSON(w, http.StatusOK, AuthorizeStart{URL: u, State: state})
	return nil
}

func (s *Server) authorizeToken(w http.ResponseWriter, r *http.Request, src string) error {
	var req AuthorizeTokenRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	secret, t, err := s.AuthorizeToken(r.Context(), src, req.State, req.Code)
	if err != nil {
		return fmt.Errorf("browser sign-in: %w", err)
	}
	writeIssued(w, http.StatusOK, secret, t)
	return nil
}

func (s *Server) samlMetadata(w http.ResponseWriter, r *http.Request, _ string) error {
	md, err := s.SAMLMetadata()
	if err != nil {
		return fmt.Errorf("SAML metadata: %w", err)
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	_, err = w.Write(md)
	return err
}

func (s *Server) samlStart(w http.ResponseWriter, r *http.Request, src string) error {
	var req SAMLStartRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	u, state, err := s.SAMLStart(r.Context(), src, req.RedirectURI)
	if err != nil {
		return fmt.Errorf("SAML sign-in: %w", err)
	}
	writeJSON(w, http.StatusOK, AuthorizeStart{URL: u, State: state})
	return nil
}

// samlACS receives the identity provider's response through the browser
// and sends the browser on to the CLI.
func (s *Server) samlACS(w http.ResponseWriter, r *http.Request, src string) error {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	to, err := s.SAMLACS(r, src)
	if err != nil {
		return fmt.Errorf("SAML response: %w", err)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

func (s *Server) samlToken(w http.ResponseWriter, r *http.Request, src string) error {
	var req AuthorizeTokenRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	secret, t, err := s.SAMLToken(r.Context(), src, req.State, req.Code)
	if err != nil {
		return fmt.Errorf("SAML sign-in: %w", err)
	}
	writeIssued(w, http.StatusOK, secret, t)
	return nil
}
