package oidctest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// DeviceCodeTTL is how long a device code stays valid.
const DeviceCodeTTL = 10 * time.Minute

type authCode struct {
	clientID    string
	redirectURI string
	challenge   string
	nonce       string
	user        map[string]any
	expires     time.Time
}

type deviceState int

const (
	devicePending deviceState = iota
	deviceApproved
	deviceDenied
	deviceExpired
)

type device struct {
	code     string
	userCode string
	clientID string
	state    deviceState
	user     map[string]any
	expires  time.Time
	lastPoll time.Time
	polls    int
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	p.discoveryFetches.Add(1)
	p.mu.Lock()
	iss := p.issuer
	if p.discIss != "" {
		iss = p.discIss
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                p.issuer + "/authorize",
		"token_endpoint":                        p.issuer + "/token",
		"device_authorization_endpoint":         p.issuer + "/device/code",
		"jwks_uri":                              p.issuer + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"},
		"grant_types_supported":                 []string{"authorization_code", "urn:ietf:params:oauth:grant-type:device_code"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"},
		"scopes_supported":                      []string{"openid", "profile", "email", "groups"},
	})
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	p.jwksFetches.Add(1)
	p.mu.Lock()
	var set jose.JSONWebKeySet
	for _, k := range p.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.id, Algorithm: k.alg, Use: "sig"})
	}
	pad := p.jwksPad
	p.mu.Unlock()
	doc := map[string]any{"keys": set.Keys}
	if pad > 0 {
		doc["padding"] = strings.Repeat("x", pad)
	}
	writeJSON(w, http.StatusOK, doc)
}

// serveAuthorize approves at once for the configured user.
func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	_, known := p.clients[q.Get("client_id")]
	user := maps.Clone(p.user)
	p.mu.Unlock()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if !known || err != nil || !redirect.IsAbs() || redirect.Fragment != "" {
		// Never redirect to an unverified place (RFC 6749 section 4.1.2.1).
		http.Error(w, "unknown client or bad redirect_uri", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	switch {
	case q.Get("response_type") != "code":
		back.Set("error", "unsupported_response_type")
	case q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256":
		back.Set("error", "invalid_request")
		back.Set("error_description", "PKCE with S256 is required")
	case user == nil:
		back.Set("error", "access_denied")
	default:
		code := random(24)
		p.mu.Lock()
		p.codes[code] = &authCode{
			clientID:    q.Get("client_id"),
			redirectURI: q.Get("redirect_uri"),
			challenge:   q.Get("code_challenge"),
			nonce:       q.Get("nonce"),
			user:        user,
			expires:     time.Now().Add(time.Minute),
		}
		p.mu.Unlock()
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (p *Provider) serveDeviceAuth(w http.ResponseWriter, r *http.Request) {
	clientID, ok := p.authenticateClient(w, r)
	if !ok {
		return
	}
	p.mu.Lock()
	d := &device{
		code:     random(24),
		userCode: userCode(),
		clientID: clientID,
		expires:  time.Now().Add(DeviceCodeTTL),
	}
	if p.autoUser != nil {
		d.state, d.user = deviceApproved, maps.Clone(p.autoUser)
	}
	p.devices[d.code] = d
	p.userCodes[d.userCode] = d
	interval := int((p.interval + time.Second - 1) / time.Second)
	p.mu.Unlock()
	if interval < 1 {
		interval = 5
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               d.code,
		"user_code":                 d.userCode,
		"verification_uri":          p.issuer + "/device",
		"verification_uri_complete": p.issuer + "/device?user_code=" + url.QueryEscape(d.userCode),
		"expires_in":                int(DeviceCodeTTL / time.Second),
		"interval":                  interval,
	})
}

func (p *Provider) serveDevicePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "oidctest: the test approves device codes with Provider.ApproveDevice")
}

func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	clientID, ok := p.authenticateClient(w, r)
	if !ok {
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		p.codeGrant(w, r, clientID)
	case "urn:ietf:params:oauth:grant-type:device_code":
		p.deviceGrant(w, r, clientID)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
	}
}

func (p *Provider) codeGrant(w http.ResponseWriter, r *http.Request, clientID string) {
	f := r.PostForm
	p.mu.Lock()
	c := p.codes[f.Get("code")]
	delete(p.codes, f.Get("code")) // one use, whatever its outcome
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	switch {
	case c == nil, time.Now().After(c.expires), c.clientID != clientID, c.redirectURI != f.Get("redirect_uri"):
		oauthError(w, http.StatusBadRequest, "invalid_grant")
	case subtle.ConstantTimeCompare([]byte(challenge), []byte(c.challenge)) != 1:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match code_challenge")
	default:
		p.issueTokens(w, clientID, c.user, c.nonce)
	}
}

func (p *Provider) deviceGrant(w http.ResponseWriter, r *http.Request, clientID string) {
	p.mu.Lock()
	d := p.devices[r.PostForm.Get("device_code")]
	if d == nil || d.clientID != clientID {
		p.mu.Unlock()
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	now := time.Now()
	tooSoon := p.interval > 0 && !d.lastPoll.IsZero() && now.Sub(d.lastPoll) < p.interval
	d.lastPoll = now
	d.polls++
	if now.After(d.expires) {
		d.state = deviceExpired
	}
	state, user := d.state, d.user
	if state == deviceApproved && !tooSoon {
		delete(p.devices, d.code) // the tokens are handed out once
		delete(p.userCodes, d.userCode)
	}
	p.mu.Unlock()
	switch {
	case state == deviceExpired:
		oauthError(w, http.StatusBadRequest, "expired_token")
	case state == deviceDenied:
		oauthError(w, http.StatusBadRequest, "access_denied")
	case tooSoon:
		oauthError(w, http.StatusBadRequest, "slow_down")
	case state == devicePending:
		oauthError(w, http.StatusBadRequest, "authorization_pending")
	default:
		p.issueTokens(w, clientID, user, "")
	}
}

func (p *Provider) issueTokens(w http.ResponseWriter, clientID string, user map[string]any, nonce string) {
	claims := p.Claims(clientID)
	delete(claims, "nbf")
	maps.Copy(claims, user)
	if nonce != "" {
		claims["nonce"] = nonce
	}
	idToken, err := p.sign(SignOptions{}, claims)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": random(32),
		"id_token":     idToken,
		"token_type":   "Bearer",
		"expires_in":   int(TokenTTL / time.Second),
	})
}

// authenticateClient reads the form and identifies the client by HTTP
// Basic or by client_id (and client_secret) in the form. It answers the
// request itself when it returns false.
func (p *Provider) authenticateClient(w http.ResponseWriter, r *http.Request) (string, bool) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return "", false
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, pw, ok := r.BasicAuth(); ok {
		var err1, err2 error
		id, err1 = url.QueryUnescape(u)
		secret, err2 = url.QueryUnescape(pw)
		if err := errors.Join(err1, err2); err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request")
			return "", false
		}
	}
	p.mu.Lock()
	want, known := p.clients[id]
	p.mu.Unlock()
	if !known || subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="oidctest"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return "", false
	}
	return id, true
}

// ApproveDevice approves the pending device authorization userCode for a
// user with the given claims (they must hold "sub").
func (p *Provider) ApproveDevice(userCode string, user map[string]any) error {
	return p.settle(userCode, deviceApproved, maps.Clone(user))
}

// DenyDevice makes the device authorization userCode end in access_denied.
func (p *Provider) DenyDevice(userCode string) error {
	return p.settle(userCode, deviceDenied, nil)
}

// ExpireDevice makes the device authorization userCode end in
// expired_token.
func (p *Provider) ExpireDevice(userCode string) error {
	return p.settle(userCode, deviceExpired, nil)
}

func (p *Provider) settle(userCode string, s deviceState, user map[string]any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.userCodes[userCode]
	if d == nil {
		return fmt.Errorf("oidctest: no device authorization with user code %q", userCode)
	}
	if d.state != devicePending {
		return fmt.Errorf("oidctest: device authorization %q is already settled", userCode)
	}
	d.state, d.user = s, user
	return nil
}

// AutoApproveDevices makes every later device authorization approved at
// once for user; nil turns that off.
func (p *Provider) AutoApproveDevices(user map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.autoUser = maps.Clone(user)
}

// SetDeviceInterval sets the polling interval for device authorizations.
// A client polling sooner than d after its previous poll gets slow_down.
// The advertised interval is d rounded up to whole seconds. 0 (the
// default) advertises 5 seconds and enforces nothing.
func (p *Provider) SetDeviceInterval(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.interval = d
}

// DevicePolls returns how many times the token endpoint has been polled
// for the device authorization userCode.
func (p *Provider) DevicePolls(userCode string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.userCodes[userCode]; d != nil {
		return d.polls
	}
	return 0
}

func oauthError(w http.ResponseWriter, status int, code string, description ...string) {
	body := map[string]string{"error": code}
	if len(description) > 0 {
		body["error_description"] = description[0]
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// userCode returns a code like "BCDF-GHJK" from letters that are hard to
// confuse and spell no words (RFC 8628 section 6.1).
func userCode() string {
	const alphabet = "BCDFGHJKLMNPQRSTVWXZ"
	b := make([]byte, 8)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:4]) + "-" + string(b[4:])
}
