package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// ClientID is the public client registered at start.
const ClientID = "gatehouse"

// TokenTTL is the lifetime of the ID tokens the token endpoint issues and
// of the tokens Claims describes.
const TokenTTL = time.Hour

// Provider is a running OpenID provider. Its methods are safe for
// concurrent use, also with the requests it serves.
type Provider struct {
	tb     testing.TB
	srv    *httptest.Server
	issuer string

	jwksFetches      atomic.Int64
	discoveryFetches atomic.Int64

	mu        sync.Mutex
	keys      []*signingKey // published, oldest first
	current   *signingKey
	keySeq    int
	minted    map[string]bool
	user      map[string]any
	clients   map[string]string // client ID to secret; "" for public clients
	codes     map[string]*authCode
	devices   map[string]*device // by device code
	userCodes map[string]*device
	interval  time.Duration // device polling; 0 means no slow_down
	autoUser  map[string]any
	discIss   string
	jwksPad   int
}

type signingKey struct {
	id   string
	alg  string
	priv crypto.Signer
}

// Start starts a provider with one RS256 signing key and the default user
// (SetUser). tb.Cleanup stops it.
func Start(tb testing.TB) *Provider {
	tb.Helper()
	p := &Provider{
		tb:        tb,
		minted:    map[string]bool{},
		clients:   map[string]string{ClientID: ""},
		codes:     map[string]*authCode{},
		devices:   map[string]*device{},
		userCodes: map[string]*device{},
		user: map[string]any{
			"sub":            "alice",
			"email":          "alice@example.com",
			"email_verified": true,
			"name":           "Alice",
			"groups":         []any{"engineering"},
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.serveDiscovery)
	mux.HandleFunc("GET /jwks", p.serveJWKS)
	mux.HandleFunc("GET /authorize", p.serveAuthorize)
	mux.HandleFunc("POST /token", p.serveToken)
	mux.HandleFunc("POST /device/code", p.serveDeviceAuth)
	mux.HandleFunc("GET /device", p.serveDevicePage)
	p.srv = httptest.NewServer(mux)
	tb.Cleanup(p.srv.Close)
	p.issuer = p.srv.URL
	p.RotateKey()
	return p
}

// Issuer returns the issuer URL (http on a loopback address).
func (p *Provider) Issuer() string { return p.issuer }

// JWKSFetches returns how many times the key set has been fetched.
func (p *Provider) JWKSFetches() int { return int(p.jwksFetches.Load()) }

// DiscoveryFetches returns how many times the discovery document has been
// fetched.
func (p *Provider) DiscoveryFetches() int { return int(p.discoveryFetches.Load()) }

// RegisterClient registers a client; secret "" makes it public. Calling it
// again for the same ID replaces the secret.
func (p *Provider) RegisterClient(id, secret string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients[id] = secret
}

// SetUser sets the claims of the user the authorization endpoint signs in
// (it must hold "sub"); nil makes it answer access_denied.
func (p *Provider) SetUser(claims map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = maps.Clone(claims)
}

// SetDiscoveryIssuer makes the discovery document announce iss instead of
// the real issuer; "" restores it.
func (p *Provider) SetDiscoveryIssuer(iss string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.discIss = iss
}

// PadJWKS adds an n-byte string member to the key set document, to make
// it arbitrarily large; 0 removes it.
func (p *Provider) PadJWKS(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jwksPad = n
}

// RotateKey publishes a new RS256 key and makes it the one Sign and the
// token endpoint use. The previous keys stay published until RetireKey.
// It returns the new key's ID.
func (p *Provider) RotateKey() string {
	p.tb.Helper()
	k := p.addKey("RS256")
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current = k
	return k.id
}

// AddKey publishes a new key for alg (RS256, RS384, RS512, PS256, ES256,
// ES384 or EdDSA) without making it current, and returns its ID. Sign with
// it through SignWith.
func (p *Provider) AddKey(alg string) string {
	p.tb.Helper()
	return p.addKey(alg).id
}

func (p *Provider) addKey(alg string) *signingKey {
	p.tb.Helper()
	priv := NewKey(p.tb, alg)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keySeq++
	k := &signingKey{id: fmt.Sprintf("key-%d", p.keySeq), alg: alg, priv: priv}
	p.keys = append(p.keys, k)
	return k
}

// RetireKey stops publishing the key kid. Retiring the current key leaves
// Sign using it, so tokens it makes from then on are unverifiable.
func (p *Provider) RetireKey(kid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = slices.DeleteFunc(p.keys, func(k *signingKey) bool { return k.id == kid })
}

// CurrentKey returns the ID of the key Sign uses.
func (p *Provider) CurrentKey() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current.id
}

// NewKey returns a fresh private key suited to alg, for signing tokens
// with a key the provider does not publish.
func NewKey(tb testing.TB, alg string) crypto.Signer {
	tb.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "EdDSA":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		tb.Fatalf("oidctest: no key type for alg %q", alg)
	}
	if err != nil {
		tb.Fatalf("oidctest: generate %s key: %v", alg, err)
	}
	return k
}

// Claims returns the claims of a valid token for audience, issued now and
// expiring after TokenTTL, for the default subject "alice". Change the map
// to make the token invalid in one way.
func (p *Provider) Claims(audience string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": p.issuer,
		"sub": "alice",
		"aud": audience,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(TokenTTL).Unix(),
	}
}

// Minted reports whether token is exactly a token this provider produced.
func (p *Provider) Minted(token string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.minted[token]
}

// Sign returns claims as a JWT signed with the current key.
func (p *Provider) Sign(claims map[string]any) string {
	p.tb.Helper()
	return p.SignWith(SignOptions{}, claims)
}

// SignOptions says how SignWith makes a token.
type SignOptions struct {
	// KID is the "kid" header. When Key is nil and KID names a published
	// key, that key signs; otherwise the current key signs. Empty means
	// the signing key's ID, or no kid when Key is set.
	KID string
	// NoKID leaves the "kid" header out.
	NoKID bool
	// Key signs instead of a published key (see NewKey).
	Key crypto.Signer
	// Alg is the "alg" header and the algorithm used; empty means the
	// published key's algorithm, or the usual one for Key's type.
	Alg string
	// Header holds extra protected header members ("crit", "typ", ...).
	Header map[string]any
	// Payload, when not nil, is signed as it is instead of the claims.
	Payload []byte
}

// SignWith returns a token made as o says, from claims.
func (p *Provider) SignWith(o SignOptions, claims map[string]any) string {
	p.tb.Helper()
	tok, err := p.sign(o, claims)
	if err != nil {
		p.tb.Fatalf("oidctest: sign: %v", err)
	}
	return tok
}

func (p *Provider) sign(o SignOptions, claims map[string]any) (string, error) {
	p.mu.Lock()
	key, kid, alg := o.Key, o.KID, o.Alg
	if key == nil {
		k := p.current
		for _, pk := range p.keys {
			if o.KID != "" && pk.id == o.KID {
				k = pk
			}
		}
		key = k.priv
		if kid == "" {
			kid = k.id
		}
		if alg == "" {
			alg = k.alg
		}
	}
	p.mu.Unlock()
	if alg == "" {
		alg = defaultAlg(key)
	}
	if o.NoKID {
		kid = ""
	}
	payload := o.Payload
	if payload == nil {
		var err error
		if payload, err = json.Marshal(claims); err != nil {
			return "", err
		}
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts.WithHeader("kid", kid)
	}
	for name, v := range o.Header {
		opts.WithHeader(jose.HeaderKey(name), v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key}, opts)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", err
	}
	p.mint(tok)
	return tok, nil
}

func (p *Provider) mint(tok string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.minted[tok] = true
}

func defaultAlg(key crypto.Signer) string {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P384():
			return "ES384"
		case elliptic.P521():
			return "ES512"
		}
		return "ES256"
	case ed25519.PrivateKey:
		return "EdDSA"
	}
	return "RS256"
}

// SignNone returns an unsigned token, "alg": "none", with the current
// key's kid.
func (p *Provider) SignNone(claims map[string]any) string {
	p.tb.Helper()
	return p.handMade(map[string]any{"alg": "none", "typ": "JWT", "kid": p.CurrentKey()}, claims, nil)
}

// SignHS256WithPublicKey returns a token with "alg": "HS256" whose MAC key
// is the current key's public key in PEM form: the classic attack on
// verifiers that take the algorithm from the token.
func (p *Provider) SignHS256WithPublicKey(claims map[string]any) string {
	p.tb.Helper()
	p.mu.Lock()
	pub := p.current.priv.Public()
	kid := p.current.id
	p.mu.Unlock()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		p.tb.Fatalf("oidctest: marshal public key: %v", err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return p.handMade(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, claims, func(input []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(input)
		return m.Sum(nil)
	})
}

func (p *Provider) handMade(header, claims map[string]any, mac func([]byte) []byte) string {
	p.tb.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		p.tb.Fatalf("oidctest: %v", err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		p.tb.Fatalf("oidctest: %v", err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	var sig []byte
	if mac != nil {
		sig = mac([]byte(input))
	}
	tok := input + "." + enc.EncodeToString(sig)
	p.mint(tok)
	return tok
}
