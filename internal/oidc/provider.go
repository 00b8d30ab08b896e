package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Defaults for the zero values of Config fields.
const (
	DefaultRefetchInterval  = 10 * time.Second
	DefaultKeysMaxAge       = time.Hour
	DefaultMaxResponseBytes = 1 << 20
	DefaultHTTPTimeout      = 10 * time.Second
)

// Config configures a Provider.
type Config struct {
	// Issuer is the issuer URL. The discovery document's "issuer" and every
	// token's "iss" must equal it exactly, trailing slash included.
	Issuer string

	// AllowLoopbackHTTP permits an http:// issuer, and then http://
	// endpoints, when their host is a loopback IP address or "localhost".
	// Without it, or with an https issuer, every URL must be https. It
	// exists for tests and for identity providers on the same machine.
	AllowLoopbackHTTP bool

	// HTTPClient fetches discovery, keys and tokens. The zero value uses a
	// client with a DefaultHTTPTimeout timeout that follows redirects only
	// to URLs allowed by the rules above.
	HTTPClient *http.Client

	// RefetchInterval is the least time between two fetches of the key set
	// (or of a failed discovery). Zero means DefaultRefetchInterval.
	RefetchInterval time.Duration

	// KeysMaxAge is how long a fetched key set is used before it is fetched
	// again. If that fetch fails, the old keys stay in use. Zero means
	// DefaultKeysMaxAge.
	KeysMaxAge time.Duration

	// MaxResponseBytes caps every response body read from the provider.
	// Zero means DefaultMaxResponseBytes.
	MaxResponseBytes int64

	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Provider verifies the tokens of one issuer. It is safe for concurrent use.
type Provider struct {
	issuer    string
	loopback  bool
	client    *http.Client
	refetch   time.Duration
	maxAge    time.Duration
	maxBody   int64
	now       func() time.Time
	meta      atomic.Pointer[metadata]
	keys      atomic.Pointer[keySet]
	fetchSem  chan struct{} // held while fetching; guards the fields below
	lastFetch time.Time
	lastErr   error
}

// metadata is the part of the discovery document gatehouse uses.
type metadata struct {
	Issuer                      string   `json:"issuer"`
	JWKSURI                     string   `json:"jwks_uri"`
	AuthorizationEndpoint       string   `json:"authorization_endpoint"`
	TokenEndpoint               string   `json:"token_endpoint"`
	DeviceAuthorizationEndpoint string   `json:"device_authorization_endpoint"`
	TokenEndpointAuthMethods    []string `json:"token_endpoint_auth_methods_supported"`
}

type keySet struct {
	keys    []jose.JSONWebKey // public signing keys only
	fetched time.Time
}

// New returns a Provider for cfg.Issuer. It does no I/O: discovery happens
// on first use or in Discover.
func New(cfg Config) (*Provider, error) {
	if err := checkURL(cfg.Issuer, cfg.AllowLoopbackHTTP); err != nil {
		return nil, fmt.Errorf("oidc: issuer: %w", err)
	}
	u, _ := url.Parse(cfg.Issuer)
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("oidc: issuer %q: must not have a query, fragment or user info", cfg.Issuer)
	}
	p := &Provider{
		issuer: cfg.Issuer,
		// An https issuer has no business sending us to plain http, even
		// on loopback.
		loopback: cfg.AllowLoopbackHTTP && u.Scheme == "http",
		client:   cfg.HTTPClient,
		refetch:  cfg.RefetchInterval,
		maxAge:   cfg.KeysMaxAge,
		maxBody:  cfg.MaxResponseBytes,
		now:      cfg.Now,
		fetchSem: make(chan struct{}, 1),
	}
	if p.client == nil {
		p.client = &http.Client{
			Timeout: DefaultHTTPTimeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 5 {
					return errors.New("too many redirects")
				}
				return checkURL(req.URL.String(), p.loopback)
			},
		}
	}
	if p.refetch <= 0 {
		p.refetch = DefaultRefetchInterval
	}
	if p.maxAge <= 0 {
		p.maxAge = DefaultKeysMaxAge
	}
	if p.maxBody <= 0 {
		p.maxBody = DefaultMaxResponseBytes
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// Issuer returns the issuer URL the Provider was configured with.
func (p *Provider) Issuer() string { return p.issuer }

// Discover fetches the discovery document unless it already has. Verify
// and NewClient call it as needed; call it directly to fail early.
func (p *Provider) Discover(ctx context.Context) error {
	if p.meta.Load() != nil {
		return nil
	}
	if err := p.lock(ctx); err != nil {
		return err
	}
	defer p.unlock()
	_, err := p.discover(ctx)
	return err
}

func (p *Provider) lock(ctx context.Context) error {
	select {
	case p.fetchSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Provider) unlock() { <-p.fetchSem }

// discover returns the cached metadata or fetches it. Callers hold fetchSem.
func (p *Provider) discover(ctx context.Context) (*metadata, error) {
	if m := p.meta.Load(); m != nil {
		return m, nil
	}
	var m metadata
	u := strings.TrimSuffix(p.issuer, "/") + "/.well-known/openid-configuration"
	if err := p.getJSON(ctx, u, &m); err != nil {
		return nil, fmt.Errorf("oidc: discovery: %w", err)
	}
	if m.Issuer != p.issuer {
		return nil, fmt.Errorf("oidc: discovery: issuer %q does not match the configured %q", truncate(m.Issuer), p.issuer)
	}
	if err := checkURL(m.JWKSURI, p.loopback); err != nil {
		return nil, fmt.Errorf("oidc: discovery: jwks_uri: %w", err)
	}
	for name, e := range map[string]string{
		"authorization_endpoint":        m.AuthorizationEndpoint,
		"token_endpoint":                m.TokenEndpoint,
		"device_authorization_endpoint": m.DeviceAuthorizationEndpoint,
	} {
		if e == "" {
			continue // checked when a flow needs it
		}
		if err := checkURL(e, p.loopback); err != nil {
			return nil, fmt.Errorf("oidc: discovery: %s: %w", name, err)
		}
	}
	p.meta.Store(&m)
	return &m, nil
}

// keysFor returns the cached keys that may have signed a token with the
// given kid and alg, fetching the key set when it is missing, stale, or
// lacks the kid, at most once per refetch interval.
func (p *Provider) keysFor(ctx context.Context, kid string, alg jose.SignatureAlgorithm) ([]jose.JSONWebKey, error) {
	if ks := p.keys.Load(); ks != nil && !p.stale(ks) {
		if c := candidates(ks, kid, alg); len(c) > 0 {
			return c, nil
		}
		if kid != "" && hasKID(ks, kid) {
			// The key exists but is not for this algorithm: refetching
			// would not help.
			return nil, reject(ErrAlgorithm, "%s cannot be verified with key %q", alg, truncate(kid))
		}
	}
	if err := p.lock(ctx); err != nil {
		return nil, err
	}
	defer p.unlock()

	// Another caller may have fetched while this one waited.
	ks := p.keys.Load()
	var cached []jose.JSONWebKey
	if ks != nil {
		cached = candidates(ks, kid, alg)
		if len(cached) > 0 && !p.stale(ks) {
			return cached, nil
		}
	}
	if !p.lastFetch.IsZero() && p.now().Sub(p.lastFetch) < p.refetch {
		switch {
		case len(cached) > 0:
			return cached, nil // stale, but the last refresh failed
		case ks != nil && kid != "" && hasKID(ks, kid):
			return nil, reject(ErrAlgorithm, "%s cannot be verified with key %q", alg, truncate(kid))
		case ks != nil:
			return nil, unknownKey(kid, "not in the key set, refetched less than %s ago", p.refetch)
		default:
			return nil, fmt.Errorf("oidc: keys unavailable (retrying after %s): %w", p.refetch, p.lastErr)
		}
	}
	p.lastFetch = p.now()
	// The fetch outlives a caller that gives up, so that a client
	// cancelling its requests cannot leave gatehouse without keys until
	// the next allowed fetch.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultHTTPTimeout)
	defer cancel()
	fresh, err := p.fetchKeys(fctx)
	if err != nil {
		p.lastErr = err
		if len(cached) > 0 {
			return cached, nil
		}
		return nil, err
	}
	p.lastErr = nil
	p.keys.Store(fresh)
	if c := candidates(fresh, kid, alg); len(c) > 0 {
		return c, nil
	}
	if kid != "" && hasKID(fresh, kid) {
		return nil, reject(ErrAlgorithm, "%s cannot be verified with key %q", alg, truncate(kid))
	}
	return nil, unknownKey(kid, "not in the key set")
}

func hasKID(ks *keySet, kid string) bool {
	for _, k := range ks.keys {
		if k.KeyID == kid {
			return true
		}
	}
	return false
}

func unknownKey(kid, format string, args ...any) error {
	return &TokenError{Err: ErrUnknownKey, Detail: fmt.Sprintf("kid %q ", truncate(kid)) + fmt.Sprintf(format, args...)}
}

func (p *Provider) stale(ks *keySet) bool { return p.now().Sub(ks.fetched) >= p.maxAge }

// fetchKeys discovers if needed and fetches the key set. Callers hold
// fetchSem.
func (p *Provider) fetchKeys(ctx context.Context) (*keySet, error) {
	m, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := p.getJSON(ctx, m.JWKSURI, &set); err != nil {
		return nil, fmt.Errorf("oidc: fetch keys: %w", err)
	}
	ks := &keySet{fetched: p.now()}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			ks.keys = append(ks.keys, k)
		case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
			// A provider that publishes private keys is broken; use only
			// the public half rather than keep private material around.
			ks.keys = append(ks.keys, k.Public())
		}
		// Symmetric and unknown keys are never used for verification.
	}
	return ks, nil
}

// candidates returns the keys of ks that may verify a token signed with alg
// and naming kid (any key, when kid is empty).
func candidates(ks *keySet, kid string, alg jose.SignatureAlgorithm) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range ks.keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != string(alg) {
			continue
		}
		if !keyFits(k.Key, alg) {
			continue
		}
		out = append(out, k)
	}
	return out
}

func keyFits(key any, alg jose.SignatureAlgorithm) bool {
	switch alg {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256:
		_, ok := key.(*rsa.PublicKey)
		return ok
	case jose.ES256:
		k, ok := key.(*ecdsa.PublicKey)
		return ok && k.Curve == elliptic.P256()
	case jose.ES384:
		k, ok := key.(*ecdsa.PublicKey)
		return ok && k.Curve == elliptic.P384()
	case jose.EdDSA:
		_, ok := key.(ed25519.PublicKey)
		return ok
	}
	return false
}

// getJSON fetches u and decodes its JSON body into v.
func (p *Provider) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := p.readBody(resp)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: decode: %w", u, err)
	}
	return nil
}

// readBody reads a response body of at most maxBody bytes.
func (p *Provider) readBody(resp *http.Response) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.maxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > p.maxBody {
		return nil, fmt.Errorf("response exceeds %d bytes", p.maxBody)
	}
	return body, nil
}

// checkURL accepts https URLs, and http URLs on a loopback host when
// loopback is set.
func checkURL(raw string, loopback bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if loopback && isLoopback(u.Hostname()) {
			return nil
		}
		if loopback {
			return fmt.Errorf("%q: http is allowed only on loopback addresses", raw)
		}
		return fmt.Errorf("%q: must be https", raw)
	}
	return fmt.Errorf("%q: must be https", raw)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// truncate shortens attacker-controlled text before it goes into an error.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
