package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/review"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// maxBodyBytes caps every request body.
const maxBodyBytes = 1 << 20

// Server is the HTTP API. Fill in the fields, then serve Handler. Store and
// Authenticate are required; a nil action func makes its routes answer 501.
type Server struct {
	Store store.Store
	// Authenticate resolves a bearer token. It returns an error wrapping
	// auth.ErrInvalidToken for a bad token; any other error is treated as
	// an outage (500), not as a bad token.
	Authenticate func(ctx context.Context, bearer string) (*auth.Principal, error)
	// IssueToken issues a token for identity and groups on behalf of by.
	// The API has already checked that by is an admin. It returns the
	// secret, which the API shows once.
	IssueToken func(ctx context.Context, by *auth.Principal, identity string, groups []string, ttl time.Duration) (string, *store.Token, error)
	// MaxTokenTTL is the longest ttl POST /api/v1/tokens accepts; zero
	// means 24 hours.
	MaxTokenTTL time.Duration
	// RevokeToken revokes a token by ID for by, ending the sessions it
	// opened; an unknown ID wraps store.ErrNotFound.
	RevokeToken func(ctx context.Context, by *auth.Principal, id string) error
	// DisableIdentity disables an identity for by: its tokens are revoked
	// and its live sessions end. EnableIdentity undoes the disabling (an
	// identity that is not disabled wraps store.ErrNotFound).
	DisableIdentity func(ctx context.Context, by *auth.Principal, name, reason string) error
	EnableIdentity  func(ctx context.Context, by *auth.Principal, name string) error
	// Exchange trades an identity provider's token, presented from
	// source, for a gatehouse token. A refusal wraps ErrExchangeRefused
	// with a reason safe to show.
	Exchange func(ctx context.Context, source, token string) (string, *store.Token, error)
	// DeviceStart begins a device sign-in with an identity provider for
	// a client at source; DeviceToken waits a while for it to finish,
	// reporting pending when it has not. Refusals wrap ErrExchangeRefused.
	DeviceStart func(ctx context.Context, source, provider string) (*DeviceStart, error)
	DeviceToken func(ctx context.Context, handle string) (secret string, t *store.Token, pending bool, err error)
	// Authorize begins a browser sign-in that redirects to redirectURI (a
	// loopback address of the CLI) and returns the provider's URL and the
	// state; AuthorizeToken finishes it with the code the browser brought.
	Authorize      func(ctx context.Context, source, provider, redirectURI string) (authURL, state string, err error)
	AuthorizeToken func(ctx context.Context, source, state, code string) (string, *store.Token, error)
	// SAML sign-in of people: the service provider's metadata; the start
	// of a sign-in whose browser ends at the CLI's loopback redirectURI
	// (the IdP's URL and the state); the assertion consumer, which returns
	// where to send the browser; and the one-time collection of the token.
	// Nil hooks make the routes answer 501.
	SAMLMetadata func() ([]byte, error)
	SAMLStart    func(ctx context.Context, source, redirectURI string) (authURL, state string, err error)
	SAMLACS      func(r *http.Request, source string) (redirect string, err error)
	SAMLToken    func(ctx context.Context, source, state, code string) (string, *store.Token, error)
	// SignInBlocked, if set, reports whether sign-ins from the client
	// address source are refused for now (too many failures): bad tokens
	// then get 429, and sign-in endpoints refuse before any work. A valid
	// bearer token is always accepted.
	SignInBlocked func(source string) bool
	// SignInFailed, if set, is told of every refused bearer token, with
	// the client address and the error from Authenticate (an
	// *auth.TokenError says whose revoked or expired token it was), for
	// the audit log and rate limiting.
	SignInFailed func(ctx context.Context, source string, err error)
	// JoinToken creates a one-time connector join token.
	JoinToken func(ctx context.Context, connector string, ttl time.Duration) (string, error)
	// ConnectorOnline reports whether a connector has a live tunnel; nil
	// means none is online.
	ConnectorOnline func(name string) bool
	// SessionSignature returns the gateway's signature over a session's
	// final event, or "" while the session is not closed and signed.
	SessionSignature func(ctx context.Context, id string) (string, error)
	// Reviews runs the approval workflow behind /api/v1/reviews; nil
	// makes those routes answer 501.
	Reviews *review.Service
	// Connections lists the connections p may reach and where the
	// listeners are.
	Connections func(ctx context.Context, p *auth.Principal) (*ConnectionList, error)
	// RequestAccess creates an access review for p on a connection whose
	// policy says access: review. Errors from AccessError are shown as-is.
	RequestAccess func(ctx context.Context, p *auth.Principal, connection string, d time.Duration, reason string) (*store.Review, error)
	// ApplyPolicies replaces the gateway's policies with those in a YAML
	// document and returns the new policy digest (admin only).
	ApplyPolicies func(ctx context.Context, doc []byte) (string, error)
	// PublicKey verifies session signatures.
	PublicKey ed25519.PublicKey
	// Console, if set, serves the web console under /console/, and a
	// browser asking for / is sent there.
	Console http.Handler
	// Logger receives internal errors; nil discards them.
	Logger *slog.Logger
}

// Default and maximum TTLs for what the API issues.
const (
	defaultTokenTTL    = time.Hour
	defaultMaxTokenTTL = 24 * time.Hour
	defaultJoinTTL     = time.Hour
)

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /api/v1/whoami", s.authed(s.whoami))
	// Sign-in routes: the caller has no token yet.
	unauthorized, badReq := http.StatusUnauthorized, http.StatusBadRequest
	mux.Handle("POST /api/v1/auth/exchange", s.signIn(s.Exchange != nil, true, unauthorized, s.exchange))
	mux.Handle("POST /api/v1/auth/device", s.signIn(s.DeviceStart != nil, true, badReq, s.deviceStart))
	mux.Handle("POST /api/v1/auth/device/token", s.signIn(s.DeviceToken != nil, false, unauthorized, s.deviceToken))
	mux.Handle("POST /api/v1/auth/authorize", s.signIn(s.Authorize != nil, true, badReq, s.authorize))
	mux.Handle("POST /api/v1/auth/authorize/token", s.signIn(s.AuthorizeToken != nil, false, unauthorized, s.authorizeToken))
	mux.Handle("GET /api/v1/auth/saml/metadata", s.signIn(s.SAMLMetadata != nil, false, badReq, s.samlMetadata))
	mux.Handle("POST /api/v1/auth/saml/start", s.signIn(s.SAMLStart != nil, true, badReq, s.samlStart))
	mux.Handle("POST /api/v1/auth/saml/acs", s.signIn(s.SAMLACS != nil, true, unauthorized, s.samlACS))
	mux.Handle("POST /api/v1/auth/saml/token", s.signIn(s.SAMLToken != nil, false, unauthorized, s.samlToken))
	mux.Handle("GET /api/v1/connections", s.authed(s.listConnections))
	mux.Handle("GET /api/v1/sessions", s.authed(s.listSessions))
	mux.Handle("GET /api/v1/sessions/{id}", s.authed(s.getSession))
	mux.Handle("GET /api/v1/sessions/{id}/events", s.authed(s.listEvents))
	mux.Handle("GET /api/v1/sessions/{id}/verify", s.authed(s.verifySession))
	mux.Handle("GET /api/v1/reviews", s.authed(s.listReviews))
	mux.Handle("POST /api/v1/requests", s.authed(s.requestAccess))
	mux.Handle("PUT /api/v1/policies", s.admin(s.applyPolicies))
	mux.Handle("GET /api/v1/reviews/{id}", s.authed(s.getReview))
	mux.Handle("POST /api/v1/reviews/{id}/approve", s.authed(s.approveReview))
	mux.Handle("POST /api/v1/reviews/{id}/reject", s.authed(s.rejectReview))
	mux.Handle("POST /api/v1/tokens", s.admin(s.issueToken))
	mux.Handle("GET /api/v1/tokens", s.admin(s.listTokens))
	mux.Handle("POST /api/v1/tokens/{id}/revoke", s.admin(s.revokeToken))
	mux.Handle("POST /api/v1/connectors/join-tokens", s.admin(s.joinToken))
	mux.Handle("GET /api/v1/identities", s.admin(s.listIdentities))
	mux.Handle("POST /api/v1/identities/{name}/disable", s.admin(s.disableIdentity))
	mux.Handle("POST /api/v1/identities/{name}/enable", s.admin(s.enableIdentity))
	mux.Handle("GET /api/v1/audit/events", s.admin(s.listAudit))
	mux.Handle("GET /api/v1/connectors", s.admin(s.listConnectors))
	if s.Console != nil {
		mux.Handle("/console/", s.Console)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s.Console != nil && r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
			strings.Contains(r.Header.Get("Accept"), "text/html") {
			http.Redirect(w, r, "/console/", http.StatusFound)
			return
		}
		s.fail(w, r, &httpError{status: http.StatusNotFound, msg: "not found"})
	})
	return mux
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// handlerFunc is a route that has an authenticated caller. A returned error
// is turned into the JSON error shape by fail.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error

// authed requires a valid bearer token.
func (s *Server) authed(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.principal(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := h(w, r, p); err != nil {
			s.fail(w, r, err)
		}
	})
}

// admin requires a valid bearer token of an admin.
func (s *Server) admin(h handlerFunc) http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
		if !p.IsAdmin() {
			return errForbidden
		}
		return h(w, r, p)
	})
}

func (s *Server) principal(r *http.Request) (*auth.Principal, error) {
	scheme, bearer, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	bearer = strings.TrimSpace(bearer)
	if !ok || !strings.EqualFold(scheme, "Bearer") || bearer == "" {
		return nil, errUnauthenticated
	}
	if s.Authenticate == nil {
		return nil, errors.New("api: Server.Authenticate is nil")
	}
	src := sourceOf(r)
	p, err := s.Authenticate(r.Context(), bearer)
	if errors.Is(err, auth.ErrInvalidToken) {
		// A valid token works from any address, so that failures from a
		// shared address cannot lock an admin out.
		if s.SignInBlocked != nil && s.SignInBlocked(src) {
			return nil, errRateLimited
		}
		if s.SignInFailed != nil {
			s.SignInFailed(r.Context(), src, err)
		}
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if p == nil {
		return nil, errors.New("authenticate: no principal")
	}
	return p, nil
}

// httpError is an error whose message may be shown to the client.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

var (
	errUnauthenticated = &httpError{http.StatusUnauthorized, "missing, invalid or expired token"}
	errForbidden       = &httpError{http.StatusForbidden, "this action needs an admin token"}
	errNotImplemented  = &httpError{http.StatusNotImplemented, "not available on this gateway"}
)

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(what string) error {
	return &httpError{http.StatusNotFound, what + " not found"}
}

type errorBody struct {
	Error string `json:"error"`
	Ref   string `json:"ref"`
}

// fail writes err as the JSON error shape. Errors that are not an
// *httpError are internal: the client sees only a generic message and the
// ref under which the cause was logged.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	ref := newRef()
	var he *httpError
	if !errors.As(err, &he) {
		s.logger().ErrorContext(r.Context(), "api request failed",
			"ref", ref, "method", r.Method, "path", r.URL.Path, "err", err)
		he = &httpError{http.StatusInternalServerError, "internal error"}
	} else {
		s.logger().DebugContext(r.Context(), "api request refused",
			"ref", ref, "method", r.Method, "path", r.URL.Path, "status", he.status, "err", he.msg)
	}
	if he.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
	}
	writeJSON(w, he.status, errorBody{Error: he.msg, Ref: ref})
}

func newRef() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	// Recorded event data goes out byte for byte as it was hashed.
	enc.SetEscapeHTML(false)
	// The status line is sent: a failure here is a gone client, and there
	// is nothing left to tell it.
	_ = enc.Encode(v)
}

// decodeBody reads one JSON object of at most maxBodyBytes into v,
// rejecting unknown fields and trailing data.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &httpError{http.StatusRequestEntityTooLarge, "request body too large"}
		}
		if errors.Is(err, io.EOF) {
			return badRequest("request body must be a JSON object")
		}
		return badRequest("invalid request body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("invalid request body: unexpected data after the JSON object")
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	writeJSON(w, http.StatusOK, p)
	return nil
}

// parseTTL parses a duration such as "15m"; empty means def.
func parseTTL(v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, badRequest("invalid ttl %q: want a positive duration such as 15m or 1h", v)
	}
	return d, nil
}

// fmtDuration prints d as a person would write it: 24h, 90m as 1h30m.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
