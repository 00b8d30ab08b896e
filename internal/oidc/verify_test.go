package oidc_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/oidctest"
)

const audience = "gatehouse"

// clock is an adjustable time source for a Provider.
type clock struct{ t atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.t.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) Advance(d time.Duration) { c.t.Add(int64(d)) }

func newProvider(t testing.TB, op *oidctest.Provider, now func() time.Time) *oidc.Provider {
	t.Helper()
	p, err := oidc.New(oidc.Config{Issuer: op.Issuer(), AllowLoopbackHTTP: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// with returns a copy of claims with the given changes; a nil value
// deletes the claim.
func with(claims map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(claims))
	for k, v := range claims {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestVerify(t *testing.T) {
	op := oidctest.Start(t)
	now := time.Now()
	p := newProvider(t, op, func() time.Time { return now })
	base := op.Claims(audience)
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }

	kids := map[string]string{}
	for _, alg := range []string{"RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"} {
		kids[alg] = op.AddKey(alg)
	}
	valid := op.Sign(base)
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(
		`{"iss":%q,"sub":"admin","aud":%q,"exp":%d}`, op.Issuer(), audience, at(time.Hour)))) + "." + parts[2]
	// The last character of a 256-byte RSA signature carries 4 bits of
	// padding: flipping one of them decodes to the same bytes unless
	// decoding is strict.
	sig := []byte(parts[2])
	sig[len(sig)-1] ^= 1
	nonCanonical := parts[0] + "." + parts[1] + "." + string(sig)
	stranger := oidctest.NewKey(t, "RS256")

	tests := []struct {
		name  string
		token string
		want  error // nil: accepted
	}{
		{"valid", valid, nil},
		{"audience in an array", op.Sign(with(base, "aud", []string{"other", audience})), nil},
		{"no kid", op.SignWith(oidctest.SignOptions{NoKID: true}, base), nil},
		{"RS384", op.SignWith(oidctest.SignOptions{KID: kids["RS384"]}, base), nil},
		{"RS512", op.SignWith(oidctest.SignOptions{KID: kids["RS512"]}, base), nil},
		{"PS256", op.SignWith(oidctest.SignOptions{KID: kids["PS256"]}, base), nil},
		{"ES256", op.SignWith(oidctest.SignOptions{KID: kids["ES256"]}, base), nil},
		{"ES384", op.SignWith(oidctest.SignOptions{KID: kids["ES384"]}, base), nil},
		{"EdDSA", op.SignWith(oidctest.SignOptions{KID: kids["EdDSA"]}, base), nil},
		{"fractional times", op.Sign(with(base, "exp", float64(at(time.Hour))+0.5, "iat", float64(at(0))+0.25)), nil},

		{"wrong issuer", op.Sign(with(base, "iss", "https://evil.example.com")), oidc.ErrIssuer},
		{"issuer with a trailing slash", op.Sign(with(base, "iss", op.Issuer()+"/")), oidc.ErrIssuer},
		{"no issuer", op.Sign(with(base, "iss", nil)), oidc.ErrIssuer},
		{"wrong audience", op.Sign(with(base, "aud", "someone-else")), oidc.ErrAudience},
		{"audience array without ours", op.Sign(with(base, "aud", []string{"a", "b"})), oidc.ErrAudience},
		{"audience prefix", op.Sign(with(base, "aud", audience+"x")), oidc.ErrAudience},
		{"no audience", op.Sign(with(base, "aud", nil)), oidc.ErrAudience},
		{"expired beyond skew", op.Sign(with(base, "exp", at(-61*time.Second))), oidc.ErrExpired},
		{"expired within skew", op.Sign(with(base, "exp", at(-59*time.Second))), nil},
		{"nbf beyond skew", op.Sign(with(base, "nbf", at(61*time.Second))), oidc.ErrNotYetValid},
		{"nbf within skew", op.Sign(with(base, "nbf", at(59*time.Second))), nil},
		{"iat beyond skew", op.Sign(with(base, "iat", at(61*time.Second))), oidc.ErrNotYetValid},
		{"iat within skew", op.Sign(with(base, "iat", at(59*time.Second))), nil},
		{"no exp", op.Sign(with(base, "exp", nil)), oidc.ErrMalformed},
		{"exp a string", op.Sign(with(base, "exp", "tomorrow")), oidc.ErrMalformed},
		{"exp negative", op.Sign(with(base, "exp", -1)), oidc.ErrMalformed},
		{"exp huge", op.Sign(with(base, "exp", 1e300)), oidc.ErrMalformed},
		{"aud a number", op.Sign(with(base, "aud", 7)), oidc.ErrMalformed},
		{"iss not a string", op.Sign(with(base, "iss", []string{op.Issuer()})), oidc.ErrMalformed},
		{"payload an array", op.SignWith(oidctest.SignOptions{Payload: []byte(`[1,2]`)}, nil), oidc.ErrMalformed},
		{"payload with trailing data", op.SignWith(oidctest.SignOptions{Payload: []byte(`{"iss":"x"} {}`)}, nil), oidc.ErrMalformed},

		{"alg none", op.SignNone(base), oidc.ErrAlgorithm},
		{"HS256 with the public key as secret", op.SignHS256WithPublicKey(base), oidc.ErrAlgorithm},
		{"ES256 under an RSA key's kid", op.SignWith(oidctest.SignOptions{KID: op.CurrentKey(), Key: oidctest.NewKey(t, "ES256")}, base), oidc.ErrAlgorithm},
		{"PS256 under an RS256 key's kid", op.SignWith(oidctest.SignOptions{Alg: "PS256"}, base), oidc.ErrAlgorithm},
		{"ES512 not allowed", op.SignWith(oidctest.SignOptions{Key: oidctest.NewKey(t, "ES512"), KID: "x"}, base), oidc.ErrAlgorithm},

		{"tampered payload", tampered, oidc.ErrBadSignature},
		{"stranger's key under our kid", op.SignWith(oidctest.SignOptions{KID: op.CurrentKey(), Key: stranger}, base), oidc.ErrBadSignature},
		{"stranger's key without kid", op.SignWith(oidctest.SignOptions{Key: stranger}, base), oidc.ErrBadSignature},
		{"signature of another token", parts[0] + "." + strings.Split(op.Sign(with(base, "sub", "bob")), ".")[1] + "." + parts[2], oidc.ErrBadSignature},
		{"empty signature", parts[0] + "." + parts[1] + ".", oidc.ErrBadSignature},
		{"stranger's key, unknown kid", op.SignWith(oidctest.SignOptions{KID: "no-such-key", Key: stranger}, base), oidc.ErrUnknownKey},

		{"empty", "", oidc.ErrMalformed},
		{"garbage", "not a token", oidc.ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], oidc.ErrMalformed},
		{"four parts", valid + ".x", oidc.ErrMalformed},
		{"padding", parts[0] + "." + parts[1] + "=." + parts[2], oidc.ErrMalformed},
		{"whitespace", " " + valid, oidc.ErrMalformed},
		{"non-canonical base64", nonCanonical, oidc.ErrMalformed},
		{"JSON serialization", fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, parts[0], parts[1], parts[2]), oidc.ErrMalformed},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("{")) + "." + parts[1] + "." + parts[2], oidc.ErrMalformed},
		{"kid not a string", op.SignWith(oidctest.SignOptions{NoKID: true, Header: map[string]any{"kid": 1}}, base), oidc.ErrMalformed},
		{"crit header", op.SignWith(oidctest.SignOptions{Header: map[string]any{"crit": []string{"exp"}, "exp": 1}}, base), oidc.ErrMalformed},
		{"b64 header", op.SignWith(oidctest.SignOptions{Header: map[string]any{"b64": true}}, base), oidc.ErrMalformed},
		{"oversize", valid + strings.Repeat("A", oidc.MaxTokenBytes), oidc.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := p.Verify(context.Background(), tt.token, audience)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want the token accepted", err)
				}
				if c.Issuer != op.Issuer() || c.Subject != "alice" {
					t.Errorf("got iss %q sub %q, want %q alice", c.Issuer, c.Subject, op.Issuer())
				}
				return
			}
			if c != nil {
				t.Errorf("got claims %v with error %v", c.Raw, err)
			}
			var te *oidc.TokenError
			if !errors.As(err, &te) || !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want a TokenError for %v", err, tt.want)
			}
			if te.Reason() != tt.want.Error() {
				t.Errorf("got reason %q, want %q", te.Reason(), tt.want)
			}
			assertNoToken(t, err, tt.token)
		})
	}
}

// assertNoToken fails if err's text shows the token or a part of it.
func assertNoToken(t *testing.T, err error, token string) {
	t.Helper()
	msg := err.Error()
	for _, part := range append(strings.Split(token, "."), token) {
		if len(part) >= 16 && strings.Contains(msg, part) {
			t.Errorf("error %q contains the token", msg)
		}
	}
}

func TestUnknownKidRefetchFindsRotatedKey(t *testing.T) {
	op := oidctest.Start(t)
	clk := newClock(time.Now())
	p := newProvider(t, op, clk.Now)
	ctx := context.Background()
	if _, err := p.Verify(ctx, op.Sign(op.Claims(audience)), audience); err != nil {
		t.Fatal(err)
	}
	if got := op.JWKSFetches(); got != 1 {
		t.Fatalf("got %d key set fetches, want 1", got)
	}
	op.RotateKey()
	clk.Advance(oidc.DefaultRefetchInterval)
	if _, err := p.Verify(ctx, op.Sign(op.Claims(audience)), audience); err != nil {
		t.Fatalf("token signed with the rotated key: %v", err)
	}
	if got := op.JWKSFetches(); got != 2 {
		t.Errorf("got %d key set fetches, want 2", got)
	}
	if got := op.DiscoveryFetches(); got != 1 {
		t.Errorf("got %d discovery fetches, want 1", got)
	}
}

func TestUnknownKidRefetchIsBounded(t *testing.T) {
	op := oidctest.Start(t)
	clk := newClock(time.Now())
	p := newProvider(t, op, clk.Now)
	ctx := context.Background()
	claims := op.Claims(audience)
	if _, err := p.Verify(ctx, op.Sign(claims), audience); err != nil {
		t.Fatal(err)
	}
	stranger := oidctest.NewKey(t, "RS256")
	spray := func(n int) {
		for i := range n {
			tok := op.SignWith(oidctest.SignOptions{KID: fmt.Sprintf("random-%d-%d", clk.Now().UnixNano(), i), Key: stranger}, claims)
			if _, err := p.Verify(ctx, tok, audience); !errors.Is(err, oidc.ErrUnknownKey) {
				t.Fatalf("random kid: got %v, want ErrUnknownKey", err)
			}
		}
	}
	// The first fetch counts: no refetch within the interval after it.
	spray(20)
	if got := op.JWKSFetches(); got != 1 {
		t.Fatalf("after 20 random kids right after the first fetch: got %d key set fetches, want 1", got)
	}
	clk.Advance(oidc.DefaultRefetchInterval)
	spray(50)
	if got := op.JWKSFetches(); got != 2 {
		t.Fatalf("after 50 random kids: got %d key set fetches, want 2 (initial and one refetch)", got)
	}

	// A genuinely new key must wait for the interval too: the price of the
	// bound.
	op.RotateKey()
	fresh := op.Sign(claims)
	if _, err := p.Verify(ctx, fresh, audience); !errors.Is(err, oidc.ErrUnknownKey) {
		t.Fatalf("new key within the interval: got %v, want ErrUnknownKey", err)
	}
	clk.Advance(oidc.DefaultRefetchInterval)
	if _, err := p.Verify(ctx, fresh, audience); err != nil {
		t.Fatalf("new key after the interval: %v", err)
	}
	spray(20)
	if got := op.JWKSFetches(); got != 3 {
		t.Errorf("after the interval: got %d key set fetches, want 3", got)
	}
	clk.Advance(oidc.DefaultRefetchInterval)
	spray(20)
	if got := op.JWKSFetches(); got != 4 {
		t.Errorf("after another interval: got %d key set fetches, want 4", got)
	}
}

func TestUnknownKidConcurrent(t *testing.T) {
	op := oidctest.Start(t)
	p := newProvider(t, op, nil)
	ctx := context.Background()
	claims := op.Claims(audience)
	stranger := oidctest.NewKey(t, "ES256")
	valid := op.Sign(claims)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			tok := op.SignWith(oidctest.SignOptions{KID: fmt.Sprint("random-", i), Key: stranger}, claims)
			if _, err := p.Verify(ctx, tok, audience); !errors.Is(err, oidc.ErrUnknownKey) {
				t.Errorf("random kid: got %v, want ErrUnknownKey", err)
			}
			if _, err := p.Verify(ctx, valid, audience); err != nil {
				t.Errorf("valid token: %v", err)
			}
		})
	}
	wg.Wait()
	if got := op.JWKSFetches(); got > 2 {
		t.Errorf("got %d key set fetches, want at most 2", got)
	}
}

func TestRetiredKeyExpiresFromCache(t *testing.T) {
	op := oidctest.Start(t)
	clk := newClock(time.Now())
	p := newProvider(t, op, clk.Now)
	ctx := context.Background()
	old := op.Sign(with(op.Claims(audience), "exp", clk.Now().Add(3*time.Hour).Unix()))
	if _, err := p.Verify(ctx, old, audience); err != nil {
		t.Fatal(err)
	}
	oldKID := op.CurrentKey()
	op.RotateKey()
	op.RetireKey(oldKID)
	// Cached keys are trusted until they are refetched.
	if _, err := p.Verify(ctx, old, audience); err != nil {
		t.Fatalf("within KeysMaxAge: %v", err)
	}
	clk.Advance(oidc.DefaultKeysMaxAge)
	if _, err := p.Verify(ctx, old, audience); !errors.Is(err, oidc.ErrUnknownKey) {
		t.Fatalf("after KeysMaxAge: got %v, want ErrUnknownKey", err)
	}
}

func TestDiscoveryIssuerMismatch(t *testing.T) {
	op := oidctest.Start(t)
	op.SetDiscoveryIssuer("https://evil.example.com")
	p := newProvider(t, op, nil)
	tok := op.Sign(op.Claims(audience))
	_, err := p.Verify(context.Background(), tok, audience)
	var te *oidc.TokenError
	if err == nil || errors.As(err, &te) || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("got %v, want a discovery error about the issuer", err)
	}
	if op.JWKSFetches() != 0 {
		t.Errorf("got %d key set fetches, want none", op.JWKSFetches())
	}
	if err := p.Discover(context.Background()); err == nil {
		t.Error("Discover: got nil, want an error")
	}
}

func TestOversizeJWKS(t *testing.T) {
	op := oidctest.Start(t)
	op.PadJWKS(oidc.DefaultMaxResponseBytes)
	p := newProvider(t, op, nil)
	_, err := p.Verify(context.Background(), op.Sign(op.Claims(audience)), audience)
	if err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("got %v, want a size error", err)
	}
	// Within the limit the padding does no harm.
	op.PadJWKS(1000)
	p = newProvider(t, op, nil)
	if _, err := p.Verify(context.Background(), op.Sign(op.Claims(audience)), audience); err != nil {
		t.Fatal(err)
	}
}

func TestProviderUnreachable(t *testing.T) {
	op := oidctest.Start(t)
	tok := op.Sign(op.Claims(audience))
	p, err := oidc.New(oidc.Config{Issuer: "http://127.0.0.1:1", AllowLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err := p.Verify(context.Background(), tok, audience)
		var te *oidc.TokenError
		if err == nil || errors.As(err, &te) {
			t.Fatalf("got %v, want an error that is not a TokenError", err)
		}
		assertNoToken(t, err, tok)
	}
}

func TestNewChecksIssuer(t *testing.T) {
	tests := []struct {
		issuer   string
		loopback bool
		ok       bool
	}{
		{"https://token.actions.githubusercontent.com", false, true},
		{"https://gitlab.example.com/", false, true},
		{"http://idp.example.com", false, false},
		{"http://idp.example.com", true, false},
		{"http://127.0.0.1:5556", false, false},
		{"http://127.0.0.1:5556", true, true},
		{"http://[::1]:5556/dex", true, true},
		{"http://localhost:5556", true, true},
		{"http://127.0.0.1.example.com", true, false},
		{"ftp://idp.example.com", true, false},
		{"https://", false, false},
		{"idp.example.com", false, false},
		{"https://idp.example.com?x=1", false, false},
		{"https://idp.example.com#x", false, false},
		{"https://user@idp.example.com", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		_, err := oidc.New(oidc.Config{Issuer: tt.issuer, AllowLoopbackHTTP: tt.loopback})
		if (err == nil) != tt.ok {
			t.Errorf("New(%q, loopback %v): got %v, want ok %v", tt.issuer, tt.loopback, err, tt.ok)
		}
	}
}

func TestVerifyEmptyAudience(t *testing.T) {
	op := oidctest.Start(t)
	p := newProvider(t, op, nil)
	if _, err := p.Verify(context.Background(), op.Sign(op.Claims("")), ""); err == nil {
		t.Error("got nil, want an error for an empty audience")
	}
}

func TestClaimsHelpers(t *testing.T) {
	op := oidctest.Start(t)
	p := newProvider(t, op, nil)
	claims := with(op.Claims(audience),
		"email", "alice@example.com", "email_verified", "true",
		"groups", []any{"dba", 7, "ops"}, "role", "admin", "repository_id", 123456789012345678)
	c, err := p.Verify(context.Background(), op.Sign(claims), audience)
	if err != nil {
		t.Fatal(err)
	}
	if c.Email() != "alice@example.com" || !c.EmailVerified() {
		t.Errorf("got email %q verified %v", c.Email(), c.EmailVerified())
	}
	if got := c.Strings("groups"); strings.Join(got, ",") != "dba,ops" {
		t.Errorf("got groups %q, want dba,ops", got)
	}
	if got := c.Strings("role"); len(got) != 1 || got[0] != "admin" {
		t.Errorf("got role %q, want [admin]", got)
	}
	if got := fmt.Sprint(c.Raw["repository_id"]); got != "123456789012345678" {
		t.Errorf("got repository_id %s, want every digit kept", got)
	}
	if c.Expiry.Unix() != claims["exp"].(int64) || c.IssuedAt.Unix() != claims["iat"].(int64) || c.NotBefore.IsZero() {
		t.Errorf("got exp %v iat %v nbf %v", c.Expiry, c.IssuedAt, c.NotBefore)
	}
	if len(c.Audience) != 1 || c.Audience[0] != audience {
		t.Errorf("got aud %q", c.Audience)
	}
}

func TestDiscoveryRefusesInsecureEndpoints(t *testing.T) {
	tests := []struct {
		name    string
		tls     bool
		jwksURI string
	}{
		{"https issuer, loopback http keys", true, "http://127.0.0.1:1/jwks"},
		{"loopback issuer, remote http keys", false, "http://keys.example.com/jwks"},
		{"loopback issuer, no keys", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var issuer string
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, issuer, tt.jwksURI)
			})
			srv := httptest.NewServer(h)
			if tt.tls {
				srv.Close()
				srv = httptest.NewTLSServer(h)
			}
			defer srv.Close()
			issuer = srv.URL
			p, err := oidc.New(oidc.Config{Issuer: issuer, AllowLoopbackHTTP: true, HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Discover(context.Background()); err == nil || !strings.Contains(err.Error(), "jwks_uri") {
				t.Errorf("got %v, want jwks_uri refused", err)
			}
		})
	}
}
