package oidc

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// ClockSkew is the tolerance applied to "exp", "nbf" and "iat".
const ClockSkew = 60 * time.Second

// MaxTokenBytes is the size of the largest token Verify looks at.
const MaxTokenBytes = 64 << 10

// algorithms are the signature algorithms Verify accepts. HMAC algorithms
// and "none" are never accepted: an issuer's tokens are verified with its
// public keys only.
var algorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA,
}

// Reasons a token is rejected. Verify returns them wrapped in a *TokenError;
// their text is the short reason suitable for an audit log.
var (
	ErrMalformed    = errors.New("malformed")
	ErrAlgorithm    = errors.New("algorithm not allowed")
	ErrUnknownKey   = errors.New("unknown key")
	ErrBadSignature = errors.New("bad signature")
	ErrIssuer       = errors.New("wrong issuer")
	ErrAudience     = errors.New("wrong audience")
	ErrExpired      = errors.New("expired")
	ErrNotYetValid  = errors.New("not yet valid")
)

// TokenError is a token rejected by Verify. It never contains the token;
// Detail may quote short values taken from it (a kid, an issuer).
type TokenError struct {
	Err    error  // one of the Err sentinels above
	Detail string // what exactly was wrong, for logs
}

func (e *TokenError) Error() string {
	if e.Detail == "" {
		return "oidc: token rejected: " + e.Err.Error()
	}
	return "oidc: token rejected: " + e.Err.Error() + ": " + e.Detail
}

func (e *TokenError) Unwrap() error { return e.Err }

// Reason returns the short reason ("expired", "wrong audience", ...).
func (e *TokenError) Reason() string { return e.Err.Error() }

func reject(sentinel error, format string, args ...any) *TokenError {
	return &TokenError{Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

// Verify checks rawToken as described in the package documentation and
// returns its claims. audience must be non-empty; it is what this gatehouse
// expects in "aud" (a client ID for people, the configured audience for
// workloads). An error that is not a *TokenError means the provider could
// not be reached or ctx ended: the token was not judged.
func (p *Provider) Verify(ctx context.Context, rawToken, audience string) (*Claims, error) {
	if audience == "" {
		return nil, errors.New("oidc: verify: empty audience")
	}
	hdr, err := parseHeader(rawToken)
	if err != nil {
		return nil, err
	}
	jws, err := jose.ParseSignedCompact(rawToken, algorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, reject(ErrMalformed, "not a compact JWS")
	}
	// The header was decoded twice; refuse a token the two decoders read
	// differently (duplicate keys, for one).
	if h := jws.Signatures[0].Protected; string(h.Algorithm) != hdr.alg || h.KeyID != hdr.kid {
		return nil, reject(ErrMalformed, "ambiguous header")
	}
	alg := jose.SignatureAlgorithm(hdr.alg)
	keys, err := p.keysFor(ctx, hdr.kid, alg)
	if err != nil {
		return nil, err
	}
	var payload []byte
	for _, k := range keys {
		if payload, err = jws.Verify(k.Key); err == nil {
			break
		}
	}
	if payload == nil {
		return nil, reject(ErrBadSignature, "kid %q alg %s", truncate(hdr.kid), alg)
	}
	c, err := parseClaims(payload)
	if err != nil {
		return nil, err
	}
	if err := p.check(c, audience); err != nil {
		return nil, err
	}
	return c, nil
}

// check validates the registered claims of a verified token.
func (p *Provider) check(c *Claims, audience string) error {
	if c.Issuer != p.issuer {
		return reject(ErrIssuer, "got %q, want %q", truncate(c.Issuer), p.issuer)
	}
	if !slices.Contains(c.Audience, audience) {
		return reject(ErrAudience, "%q not among %d audience values", audience, len(c.Audience))
	}
	now := p.now()
	if c.Expiry.IsZero() {
		return reject(ErrMalformed, "no exp")
	}
	if now.After(c.Expiry.Add(ClockSkew)) {
		return reject(ErrExpired, "exp %s is before %s (skew %s)", stamp(c.Expiry), stamp(now), ClockSkew)
	}
	if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(ClockSkew)) {
		return reject(ErrNotYetValid, "nbf %s is after %s (skew %s)", stamp(c.NotBefore), stamp(now), ClockSkew)
	}
	if !c.IssuedAt.IsZero() && c.IssuedAt.After(now.Add(ClockSkew)) {
		return reject(ErrNotYetValid, "iat %s is after %s (skew %s)", stamp(c.IssuedAt), stamp(now), ClockSkew)
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

type header struct {
	alg string
	kid string
}

// parseHeader checks the compact structure strictly and reads the
// protected header, before go-jose looks at the token, so that rejections
// can say why.
func parseHeader(raw string) (header, error) {
	if len(raw) > MaxTokenBytes {
		return header{}, reject(ErrMalformed, "longer than %d bytes", MaxTokenBytes)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return header{}, reject(ErrMalformed, "%d dot-separated parts, want 3", len(parts))
	}
	// Strict decoding refuses non-zero padding bits, so that exactly one
	// string encodes a given token: an accepted token is one its issuer
	// signed, not a variant of it.
	for i, part := range parts {
		if part == "" && i != 2 {
			return header{}, reject(ErrMalformed, "empty part %d", i+1)
		}
		if _, err := base64.RawURLEncoding.Strict().DecodeString(part); err != nil {
			return header{}, reject(ErrMalformed, "part %d is not base64url", i+1)
		}
	}
	js, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(js, &fields); err != nil || fields == nil {
		return header{}, reject(ErrMalformed, "header is not a JSON object")
	}
	var h header
	if err := json.Unmarshal(fields["alg"], &h.alg); err != nil {
		return header{}, reject(ErrMalformed, "header has no alg string")
	}
	if kid, ok := fields["kid"]; ok {
		if err := json.Unmarshal(kid, &h.kid); err != nil {
			return header{}, reject(ErrMalformed, "kid is not a string")
		}
	}
	if !slices.Contains(algorithms, jose.SignatureAlgorithm(h.alg)) {
		return header{}, reject(ErrAlgorithm, "%q", truncate(h.alg))
	}
	for _, name := range []string{"crit", "b64"} {
		if _, ok := fields[name]; ok {
			return header{}, reject(ErrMalformed, "header parameter %q not supported", name)
		}
	}
	return h, nil
}

// parseClaims decodes a verified payload.
func parseClaims(payload []byte) (*Claims, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, reject(ErrMalformed, "payload is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, reject(ErrMalformed, "data after the payload object")
	}
	c := &Claims{Raw: raw}
	var err error
	if c.Issuer, err = optString(raw, "iss"); err != nil {
		return nil, err
	}
	if c.Subject, err = optString(raw, "sub"); err != nil {
		return nil, err
	}
	switch aud := raw["aud"].(type) {
	case nil:
	case string:
		c.Audience = []string{aud}
	case []any:
		for _, a := range aud {
			s, ok := a.(string)
			if !ok {
				return nil, reject(ErrMalformed, "aud holds a non-string")
			}
			c.Audience = append(c.Audience, s)
		}
	default:
		return nil, reject(ErrMalformed, "aud is neither a string nor an array")
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"exp", &c.Expiry}, {"nbf", &c.NotBefore}, {"iat", &c.IssuedAt}} {
		if *t.dst, err = optTime(raw, t.name); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func optString(raw map[string]any, name string) (string, error) {
	v, ok := raw[name]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", reject(ErrMalformed, "%s is not a string", name)
	}
	return s, nil
}

// optTime reads a NumericDate: seconds since the epoch, possibly with a
// fraction.
func optTime(raw map[string]any, name string) (time.Time, error) {
	v, ok := raw[name]
	if !ok {
		return time.Time{}, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, reject(ErrMalformed, "%s is not a number", name)
	}
	f, err := n.Float64()
	// Bound to years 1970..9999 so the conversion below cannot overflow.
	if err != nil || f < 0 || f > 253402300799 {
		return time.Time{}, reject(ErrMalformed, "%s is out of range", name)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
}
