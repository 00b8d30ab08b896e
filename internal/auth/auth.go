// Package auth issues and checks gatehouse tokens.
//
// A gatehouse token is an opaque random string ("ght_" followed by 43
// base64url characters). The store keeps only its SHA-256 hash together with
// the identity, groups, kind and expiry it stands for, so a stolen database
// does not yield usable tokens, and revocation is a single row update. Other
// ways of signing in (OIDC, SAML, workload identity) end by calling
// Issuer.Issue: they differ only in how the identity is proven.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Token kinds.
const (
	KindAdmin    = "admin"
	KindPerson   = "person"
	KindWorkload = "workload"
	KindService  = "service"
)

const tokenPrefix = "ght_"

// ErrInvalidToken is returned for a token that is malformed, unknown,
// expired or revoked. Callers must not tell these cases apart to a client.
var ErrInvalidToken = errors.New("invalid or expired token")

// Why a known token was refused, in TokenError.Reason.
const (
	ReasonRevoked = "revoked"
	ReasonExpired = "expired"
)

// TokenError is the ErrInvalidToken of a token the store knows but that
// is revoked or expired: it says whose token it was, for the audit log.
// Its message is ErrInvalidToken's, so a client learns nothing more from
// it, and it never holds the token.
type TokenError struct {
	TokenID  string
	Identity string
	Reason   string // ReasonRevoked or ReasonExpired
}

func (e *TokenError) Error() string { return ErrInvalidToken.Error() }

func (e *TokenError) Unwrap() error { return ErrInvalidToken }

// Principal is an authenticated caller.
type Principal struct {
	TokenID  string    `json:"token_id"`
	Identity string    `json:"identity"`
	Groups   []string  `json:"groups"`
	Kind     string    `json:"kind"`
	Expires  time.Time `json:"expires_at"`
}

// IsAdmin reports whether p may administer the gateway.
func (p *Principal) IsAdmin() bool { return p != nil && p.Kind == KindAdmin }

// IssueRequest describes a token to issue.
type IssueRequest struct {
	Identity string
	Groups   []string
	Kind     string
	TTL      time.Duration
	// IssuedBy names the identity that asked for the token, if any.
	IssuedBy string
}

// ErrDisabled is returned by Issue for an identity an admin disabled.
var ErrDisabled = store.ErrDisabled

// Issuer issues and authenticates tokens backed by a store.
type Issuer struct {
	Store store.Tokens
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

var identityRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:/+-]{0,127}$`)

// ValidIdentity reports whether name can be used as an identity or group
// name: 1 to 128 characters from a conservative set, so names are safe to
// print in tables, logs and policies.
func ValidIdentity(name string) bool { return identityRE.MatchString(name) }

func (i *Issuer) now() time.Time {
	if i.Now != nil {
		return i.Now()
	}
	return time.Now()
}

// Issue creates a token and returns its secret string, which is shown once
// and never stored.
func (i *Issuer) Issue(ctx context.Context, req IssueRequest) (string, *store.Token, error) {
	if !ValidIdentity(req.Identity) {
		return "", nil, fmt.Errorf("invalid identity %q", req.Identity)
	}
	for _, g := range req.Groups {
		if !ValidIdentity(g) {
			return "", nil, fmt.Errorf("invalid group %q", g)
		}
	}
	switch req.Kind {
	case KindAdmin, KindPerson, KindWorkload, KindService:
	default:
		return "", nil, fmt.Errorf("invalid token kind %q", req.Kind)
	}
	if req.TTL <= 0 {
		return "", nil, fmt.Errorf("invalid token ttl %s: must be positive", req.TTL)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, fmt.Errorf("generate token: %w", err)
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", nil, fmt.Errorf("generate token id: %w", err)
	}
	now := i.now().UTC()
	groups := append([]string{}, req.Groups...)
	t := &store.Token{
		ID:        "tok_" + hex.EncodeToString(id[:]),
		Hash:      HashToken(secret),
		Identity:  req.Identity,
		Groups:    groups,
		Kind:      req.Kind,
		IssuedBy:  req.IssuedBy,
		IssuedAt:  now,
		ExpiresAt: now.Add(req.TTL),
	}
	if err := i.Store.CreateToken(ctx, t); err != nil {
		return "", nil, fmt.Errorf("store token: %w", err)
	}
	return secret, t, nil
}

// Authenticate returns the principal for a token, or an error wrapping
// ErrInvalidToken: a *TokenError for a revoked or expired token.
// Store failures are returned wrapped, so that an outage is not mistaken for
// a bad token.
func (i *Issuer) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if !WellFormed(token) {
		return nil, ErrInvalidToken
	}
	t, err := i.Store.TokenByHash(ctx, HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	if !t.RevokedAt.IsZero() {
		return nil, &TokenError{TokenID: t.ID, Identity: t.Identity, Reason: ReasonRevoked}
	}
	if !i.now().Before(t.ExpiresAt) {
		return nil, &TokenError{TokenID: t.ID, Identity: t.Identity, Reason: ReasonExpired}
	}
	return &Principal{
		TokenID:  t.ID,
		Identity: t.Identity,
		Groups:   t.Groups,
		Kind:     t.Kind,
		Expires:  t.ExpiresAt,
	}, nil
}

// Revoke revokes the token with the given ID.
func (i *Issuer) Revoke(ctx context.Context, id string) error {
	if err := i.Store.RevokeToken(ctx, id, i.now().UTC()); err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return nil
}

// WellFormed reports whether s has the shape of a gatehouse token. It is a
// cheap check before any store lookup.
func WellFormed(s string) bool {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok || len(rest) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

// HashToken returns the value the store keeps for a token.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
