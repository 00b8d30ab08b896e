package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/console"
	"github.com/gatehouse-dev/gatehouse/internal/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// maxDeviceLogins bounds the device sign-ins in flight.
const maxDeviceLogins = 1000

// deviceWait is how long one poll of a device sign-in waits for it to
// finish before answering "pending".
const deviceWait = 20 * time.Second

// person is an identity provider people sign in with.
type person struct {
	cfg      config.OIDCProvider
	provider *oidc.Provider

	mu     sync.Mutex
	client *oidc.Client // after discovery
}

// deviceLogin is a device sign-in the gateway runs for a CLI.
type deviceLogin struct {
	expiry time.Time
	done   chan struct{}
	secret string
	token  *store.Token
	err    error // a refusal wrapping api.ErrExchangeRefused, or another error
}

type people struct {
	byName  map[string]*person
	order   []string
	mu      sync.Mutex
	devices map[string]*deviceLogin
	codes   map[string]*codeLogin // by state
}

func newPeople(cfgs []config.OIDCProvider) (*people, error) {
	pp := &people{byName: map[string]*person{}, devices: map[string]*deviceLogin{}}
	for _, c := range cfgs {
		u, err := url.Parse(c.Issuer)
		if err != nil {
			return nil, err
		}
		p, err := oidc.New(oidc.Config{Issuer: c.Issuer, AllowLoopbackHTTP: config.IsLoopbackHost(u.Hostname())})
		if err != nil {
			return nil, err
		}
		pp.byName[c.Name] = &person{cfg: c, provider: p}
		pp.order = append(pp.order, c.Name)
	}
	return pp, nil
}

func (p *person) oidcClient(ctx context.Context) (*oidc.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		return p.client, nil
	}
	c, err := oidc.NewClient(ctx, p.provider, oidc.ClientConfig{ClientID: p.cfg.ClientID, ClientSecret: string(p.cfg.ClientSecret), Scopes: p.cfg.Scopes})
	if err != nil {
		return nil, err
	}
	p.client = c
	return c, nil
}

// deviceStart begins a device sign-in with the named provider ("" is the
// first) and polls the provider in the background until it ends.
func (g *Gateway) deviceStart(ctx context.Context, source, name string) (*api.DeviceStart, error) {
	if g.people == nil || len(g.people.order) == 0 {
		return nil, fmt.Errorf("%w: no identity provider is configured (auth.oidc)", api.ErrExchangeRefused)
	}
	if name == "" {
		name = g.people.order[0]
	}
	p := g.people.byName[name]
	if p == nil {
		return nil, fmt.Errorf("%w: no identity provider named %q", api.ErrExchangeRefused, name)
	}
	client, err := p.oidcClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("identity provider %s: %w", name, err)
	}
	dc, err := client.DeviceAuth(ctx)
	if err != nil {
		return nil, fmt.Errorf("identity provider %s: %w", name, err)
	}
	var h [16]byte
	rand.Read(h[:])
	handle := "dev_" + hex.EncodeToString(h[:])
	dl := &deviceLogin{expiry: dc.Expiry, done: make(chan struct{})}
	g.people.mu.Lock()
	now := time.Now()
	for k, d := range g.people.devices {
		if now.After(d.expiry.Add(time.Minute)) {
			delete(g.people.devices, k)
		}
	}
	if len(g.people.devices) >= maxDeviceLogins {
		g.people.mu.Unlock()
		return nil, errors.New("too many sign-ins in progress")
	}
	g.people.devices[handle] = dl
	g.people.mu.Unlock()

	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer close(dl.done)
		pctx, cancel := context.WithDeadline(g.baseCtx, dc.Expiry)
		defer cancel()
		tok, err := client.PollDeviceToken(pctx, dc)
		if err != nil {
			reason := "the sign-in did not complete: " + err.Error()
			if errors.Is(err, oidc.ErrAccessDenied) {
				reason = "the sign-in was denied at the identity provider"
			}
			dl.err = g.refuseLogin(pctx, source, "", reason)
			return
		}
		dl.secret, dl.token, dl.err = g.signInPerson(pctx, source, p, tok.IDToken)
	}()
	return &api.DeviceStart{Handle: handle, UserCode: dc.UserCode, VerificationURI: dc.VerificationURI,
		VerificationURIComplete: dc.VerificationURIComplete, ExpiresAt: dc.Expiry}, nil
}

// deviceToken waits a while for a device sign-in to finish.
func (g *Gateway) deviceToken(ctx context.Context, handle string) (string, *store.Token, bool, error) {
	if g.people == nil {
		return "", nil, false, fmt.Errorf("%w: unknown sign-in", api.ErrExchangeRefused)
	}
	g.people.mu.Lock()
	dl := g.people.devices[handle]
	g.people.mu.Unlock()
	if dl == nil {
		return "", nil, false, fmt.Errorf("%w: unknown or finished sign-in", api.ErrExchangeRefused)
	}
	t := time.NewTimer(deviceWait)
	defer t.Stop()
	select {
	case <-dl.done:
	case <-t.C:
		return "", nil, true, nil
	case <-ctx.Done():
		return "", nil, true, nil
	}
	g.people.mu.Lock()
	delete(g.people.devices, handle) // a token is handed out once
	g.people.mu.Unlock()
	return dl.secret, dl.token, false, dl.err
}

// signInPerson verifies an ID token from provider p and issues a person
// token for its user.
func (g *Gateway) signInPerson(ctx context.Context, source string, p *person, idToken string) (string, *store.Token, error) {
	claims, err := p.provider.Verify(ctx, idToken, p.cfg.ClientID)
	var te *oidc.TokenError
	if errors.As(err, &te) {
		return "", nil, g.refuseLogin(ctx, source, "", "ID token: "+te.Reason())
	}
	if err != nil {
		return "", nil, fmt.Errorf("verify ID token: %w", err)
	}
	identity := claims.Email()
	if len(p.cfg.AllowedDomains) > 0 {
		_, domain, _ := strings.Cut(identity, "@")
		if identity == "" || !claims.EmailVerified() || !slices.Contains(p.cfg.AllowedDomains, strings.ToLower(domain)) {
			return "", nil, g.refuseLogin(ctx, source, identity, "email not verified or not in an allowed domain")
		}
	}
	if identity == "" {
		identity = claims.Subject
	}
	if !auth.ValidIdentity(identity) {
		return "", nil, g.refuseLogin(ctx, source, "", "the provider gave no usable email or subject")
	}
	if g.limiter.blocked("id:" + identity) {
		return "", nil, g.refuseLogin(ctx, source, identity, "too many failed sign-ins for this identity; try again later")
	}
	var groups []string
	if p.cfg.GroupsClaim != "" {
		for _, grp := range claims.Strings(p.cfg.GroupsClaim) {
			if auth.ValidIdentity(grp) {
				groups = append(groups, grp)
			}
		}
	}
	secret, t, err := g.issuer.Issue(ctx, auth.IssueRequest{Identity: identity, Groups: groups, Kind: auth.KindPerson,
		TTL: g.Config.Auth.TokenTTL, IssuedBy: "oidc:" + p.cfg.Name})
	if errors.Is(err, auth.ErrDisabled) {
		return "", nil, g.refuseLogin(ctx, source, identity, "identity is disabled")
	}
	if err != nil {
		return "", nil, err
	}
	g.audit(ctx, &store.AuditEvent{Type: store.AuditExchange, OK: true, Identity: identity, Source: source, TokenID: t.ID,
		Reason: "signed in with " + p.cfg.Name})
	return secret, t, nil
}

// refuseLogin records a refused sign-in and returns the error to show.
func (g *Gateway) refuseLogin(ctx context.Context, source, identity, reason string) error {
	g.limiter.fail("src:" + source)
	if identity != "" {
		g.limiter.fail("id:" + identity)
	}
	g.audit(ctx, &store.AuditEvent{Type: store.AuditLoginFailed, Identity: identity, Source: source, Reason: reason})
	g.Logger.Info("sign-in refused", "source", source, logIdentity, identity, "reason", reason)
	return fmt.Errorf("%w: %s", api.ErrExchangeRefused, reason)
}

// authCodeTTL bounds how long a browser sign-in may take.
const authCodeTTL = 10 * time.Minute

// codeLogin is a browser sign-in in progress: the PKCE verifier stays on
// the gateway, tied to the state the browser carries.
type codeLogin struct {
	person      *person
	verifier    string
	redirectURI string
	expiry      time.Time
}

// authorize begins a browser sign-in (authorization code with PKCE) whose
// redirect goes to the CLI's loopback listener or to the web console's
// callback on this gateway.
func (g *Gateway) authorize(ctx context.Context, source, name, redirectURI string) (string, string, error) {
	if g.people == nil || len(g.people.order) == 0 {
		return "", "", fmt.Errorf("%w: no identity provider is configured (auth.oidc)", api.ErrExchangeRefused)
	}
	u, err := url.Parse(redirectURI)
	cli := err == nil && u.Scheme == "http" && config.IsLoopbackHost(u.Hostname())
	if !cli && (err != nil || !console.AllowedCallback(ctx, u, g.Config.Gateway.PublicURL, g.Config.Gateway.TLS != nil)) {
		return "", "", fmt.Errorf("%w: the redirect must go to http on a loopback address, or to this gateway's console", api.ErrExchangeRefused)
	}
	if name == "" {
		name = g.people.order[0]
	}
	p := g.people.byName[name]
	if p == nil {
		return "", "", fmt.Errorf("%w: no identity provider named %q", api.ErrExchangeRefused, name)
	}
	client, err := p.oidcClient(ctx)
	if err != nil {
		return "", "", fmt.Errorf("identity provider %s: %w", name, err)
	}
	state, verifier := oidc.NewState(), oidc.NewCodeVerifier()
	authURL, err := client.AuthCodeURL(state, verifier, redirectURI)
	if err != nil {
		return "", "", err
	}
	g.people.mu.Lock()
	defer g.people.mu.Unlock()
	if g.people.codes == nil {
		g.people.codes = map[string]*codeLogin{}
	}
	now := time.Now()
	for k, c := range g.people.codes {
		if now.After(c.expiry) {
			delete(g.people.codes, k)
		}
	}
	if len(g.people.codes) >= maxDeviceLogins {
		return "", "", errors.New("too many sign-ins in progress")
	}
	g.people.codes[state] = &codeLogin{person: p, verifier: verifier, redirectURI: redirectURI, expiry: now.Add(authCodeTTL)}
	return authURL, state, nil
}

// authorizeToken finishes a browser sign-in with the code the provider
// sent to the CLI's listener or the console.
func (g *Gateway) authorizeToken(ctx context.Context, source, state, code string) (string, *store.Token, error) {
	if g.people == nil {
		return "", nil, fmt.Errorf("%w: unknown sign-in", api.ErrExchangeRefused)
	}
	g.people.mu.Lock()
	cl := g.people.codes[state]
	delete(g.people.codes, state) // one try per state
	g.people.mu.Unlock()
	if cl == nil || time.Now().After(cl.expiry) {
		return "", nil, g.refuseLogin(ctx, source, "", "unknown or expired sign-in state")
	}
	client, err := cl.person.oidcClient(ctx)
	if err != nil {
		return "", nil, err
	}
	tok, err := client.ExchangeCode(ctx, code, cl.verifier, cl.redirectURI)
	if err != nil {
		return "", nil, g.refuseLogin(ctx, source, "", "the provider refused the code: "+err.Error())
	}
	return g.signInPerson(ctx, source, cl.person, tok.IDToken)
}
