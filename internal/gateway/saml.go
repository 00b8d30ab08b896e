package gateway

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/saml"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// samlCodeTTL bounds how long the CLI has to collect a token after the
// browser came back.
const samlCodeTTL = 2 * time.Minute

// samlLogins are the SAML sign-ins in flight: by state until the IdP
// answers, then by one-time code until the CLI collects the token.
type samlLogins struct {
	once sync.Once
	sp   *saml.SP
	err  error

	mu      sync.Mutex
	pending map[string]samlPending // by state
	done    map[string]samlDone    // by code
}

type samlPending struct {
	redirectURI string
	expiry      time.Time
}

type samlDone struct {
	state  string
	secret string
	token  *store.Token
	expiry time.Time
}

// samlSP returns the service provider, built on first use: its URLs need
// the API's address.
func (g *Gateway) samlSP() (*saml.SP, error) {
	s := &g.saml
	s.once.Do(func() {
		s.pending, s.done = map[string]samlPending{}, map[string]samlDone{}
		sc := g.Config.Auth.SAML
		md, err := os.ReadFile(sc.IdPMetadataFile)
		if err != nil {
			s.err = fmt.Errorf("auth.saml.idp_metadata_file: %w", err)
			return
		}
		cert, err := g.ca.LoadOrIssueServer(filepath.Join(g.Config.DataDir, "pki", "saml-sp.crt"),
			filepath.Join(g.Config.DataDir, "pki", "saml-sp.key"), []string{"gatehouse-saml-sp"})
		if err != nil {
			s.err = fmt.Errorf("SAML service provider key: %w", err)
			return
		}
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			s.err = err
			return
		}
		signer, ok := cert.PrivateKey.(crypto.Signer)
		if !ok {
			s.err = errors.New("SAML service provider key cannot sign")
			return
		}
		base := strings.TrimRight(g.Config.Gateway.PublicURL, "/")
		if base == "" {
			base = "http://" + g.Addrs().API
		}
		s.sp, s.err = saml.New(saml.Config{
			EntityID: base + "/api/v1/auth/saml/metadata", ACSURL: base + "/api/v1/auth/saml/acs",
			IdPMetadata: md, Key: signer, Certificate: leaf,
			GroupsAttribute: sc.GroupsAttribute, IdentityAttribute: sc.IdentityAttribute,
		})
	})
	return s.sp, s.err
}

func (g *Gateway) samlMetadata() ([]byte, error) {
	sp, err := g.samlSP()
	if err != nil {
		return nil, err
	}
	return sp.Metadata()
}

// samlStart begins a SAML sign-in whose browser ends at redirectURI, a
// loopback listener of the CLI.
func (g *Gateway) samlStart(ctx context.Context, source, redirectURI string) (string, string, error) {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Scheme != "http" || !config.IsLoopbackHost(u.Hostname()) {
		return "", "", fmt.Errorf("%w: the redirect must go to http on a loopback address", api.ErrExchangeRefused)
	}
	sp, err := g.samlSP()
	if err != nil {
		return "", "", err
	}
	state := randomHex(16)
	authURL, err := sp.AuthnRequestURL(state)
	if err != nil {
		return "", "", err
	}
	s := &g.saml
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for k, p := range s.pending {
		if now.After(p.expiry) {
			delete(s.pending, k)
		}
	}
	if len(s.pending) >= maxDeviceLogins {
		return "", "", errors.New("too many sign-ins in progress")
	}
	s.pending[state] = samlPending{redirectURI: redirectURI, expiry: now.Add(authCodeTTL)}
	return authURL, state, nil
}

// samlACS takes the IdP's response from the browser, signs the person in,
// and returns where to send the browser: the CLI's listener, with a
// one-time code.
func (g *Gateway) samlACS(r *http.Request, source string) (string, error) {
	ctx := r.Context()
	sp, err := g.samlSP()
	if err != nil {
		return "", err
	}
	a, err := sp.ParseResponse(r)
	if err != nil {
		var re *saml.ResponseError
		if errors.As(err, &re) {
			return "", g.refuseLogin(ctx, source, "", "SAML: "+re.Reason.Error())
		}
		return "", err
	}
	s := &g.saml
	s.mu.Lock()
	p, ok := s.pending[a.RelayState]
	delete(s.pending, a.RelayState)
	s.mu.Unlock()
	if !ok || time.Now().After(p.expiry) {
		return "", g.refuseLogin(ctx, source, a.Identity, "SAML: no sign-in in progress for this response")
	}
	if !auth.ValidIdentity(a.Identity) {
		return "", g.refuseLogin(ctx, source, "", "SAML: the assertion's identity is not usable")
	}
	if g.limiter.blocked("id:" + a.Identity) {
		return "", g.refuseLogin(ctx, source, a.Identity, "too many failed sign-ins for this identity; try again later")
	}
	var groups []string
	for _, grp := range a.Groups {
		if auth.ValidIdentity(grp) {
			groups = append(groups, grp)
		}
	}
	secret, t, err := g.issuer.Issue(ctx, auth.IssueRequest{Identity: a.Identity, Groups: groups, Kind: auth.KindPerson,
		TTL: g.Config.Auth.TokenTTL, IssuedBy: "saml"})
	if errors.Is(err, auth.ErrDisabled) {
		return "", g.refuseLogin(ctx, source, a.Identity, "identity is disabled")
	}
	if err != nil {
		return "", err
	}
	g.audit(ctx, &store.AuditEvent{Type: store.AuditExchange, OK: true, Identity: a.Identity, Source: source, TokenID: t.ID, Reason: "signed in with SAML"})
	code := randomHex(16)
	s.mu.Lock()
	now := time.Now()
	for k, d := range s.done {
		if now.After(d.expiry) {
			delete(s.done, k)
		}
	}
	s.done[code] = samlDone{state: a.RelayState, secret: secret, token: t, expiry: now.Add(samlCodeTTL)}
	s.mu.Unlock()
	q := url.Values{"code": {code}, "state": {a.RelayState}}
	return p.redirectURI + "?" + q.Encode(), nil
}

// samlToken hands out, once, the token of a finished SAML sign-in.
func (g *Gateway) samlToken(ctx context.Context, source, state, code string) (string, *store.Token, error) {
	s := &g.saml
	s.mu.Lock()
	d, ok := s.done[code]
	delete(s.done, code)
	s.mu.Unlock()
	if !ok || d.state != state || time.Now().After(d.expiry) {
		return "", nil, g.refuseLogin(ctx, source, "", "unknown or expired sign-in code")
	}
	return d.secret, d.token, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// The API's SAML hooks are nil when auth.saml is not configured, so the
// routes answer 501.
func (g *Gateway) samlMetadataHook() func() ([]byte, error) {
	if g.Config.Auth.SAML == nil {
		return nil
	}
	return g.samlMetadata
}

func (g *Gateway) samlStartHook() func(context.Context, string, string) (string, string, error) {
	if g.Config.Auth.SAML == nil {
		return nil
	}
	return g.samlStart
}

func (g *Gateway) samlACSHook() func(*http.Request, string) (string, error) {
	if g.Config.Auth.SAML == nil {
		return nil
	}
	return g.samlACS
}

func (g *Gateway) samlTokenHook() func(context.Context, string, string, string) (string, *store.Token, error) {
	if g.Config.Auth.SAML == nil {
		return nil
	}
	return g.samlToken
}
