package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Errors a flow ends with that callers tell apart. An *OAuthError with the
// matching code satisfies errors.Is for them.
var (
	ErrAccessDenied      = errors.New("access denied")
	ErrDeviceCodeExpired = errors.New("device code expired")
)

// ClientConfig identifies gatehouse to a provider.
type ClientConfig struct {
	ClientID     string
	ClientSecret string   // empty for a public client
	Scopes       []string // nil means openid, profile, email; openid is always sent
}

// LogValue keeps the secret out of logs.
func (c ClientConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client_id", c.ClientID), slog.Bool("has_secret", c.ClientSecret != ""), slog.Any("scopes", c.Scopes))
}

// Client runs the device and authorization code flows against one
// provider. It is safe for concurrent use.
type Client struct {
	p        *Provider
	meta     *metadata
	cfg      ClientConfig
	scope    string
	slowDown time.Duration // added to the polling interval on slow_down
}

// NewClient discovers p's endpoints and returns a Client for cfg.
func NewClient(ctx context.Context, p *Provider, cfg ClientConfig) (*Client, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("oidc: client: empty client ID")
	}
	if err := p.Discover(ctx); err != nil {
		return nil, err
	}
	meta := p.meta.Load()
	if meta.TokenEndpoint == "" {
		return nil, fmt.Errorf("oidc: client: %s announces no token_endpoint", p.issuer)
	}
	scopes := cfg.Scopes
	if scopes == nil {
		scopes = []string{"openid", "profile", "email"}
	}
	if !slices.Contains(scopes, "openid") {
		scopes = append([]string{"openid"}, scopes...)
	}
	return &Client{p: p, meta: meta, cfg: cfg, scope: strings.Join(scopes, " "), slowDown: 5 * time.Second}, nil
}

// DeviceCode is a pending device authorization (RFC 8628 section 3.2).
// Show the user VerificationURI and UserCode (or VerificationURIComplete),
// then call PollDeviceToken.
type DeviceCode struct {
	DeviceCode              string // secret: lets its holder collect the tokens
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string        // empty when the provider sends none
	Interval                time.Duration // between polls; 5 s when the provider sends none
	ExpiresIn               time.Duration
	Expiry                  time.Time // when DeviceAuth received it plus ExpiresIn
}

// LogValue keeps the device code out of logs.
func (d DeviceCode) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user_code", d.UserCode), slog.String("verification_uri", d.VerificationURI), slog.Time("expiry", d.Expiry))
}

// Token is what a provider's token endpoint returned. Verify IDToken with
// Provider.Verify before believing any of it.
type Token struct {
	IDToken      string
	AccessToken  string
	RefreshToken string // empty when the provider sends none
	TokenType    string
	Expiry       time.Time // of the access token; zero when unknown
}

// LogValue keeps the tokens out of logs.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("token_type", t.TokenType), slog.Time("expiry", t.Expiry))
}

// OAuthError is an error response from a provider's endpoint (RFC 6749
// section 5.2).
type OAuthError struct {
	Code        string // "invalid_grant", "access_denied", ...
	Description string // error_description, if any, shortened
	StatusCode  int
}

func (e *OAuthError) Error() string {
	if e.Description == "" {
		return "oidc: provider refused: " + e.Code
	}
	return "oidc: provider refused: " + e.Code + ": " + e.Description
}

// Is makes access_denied match ErrAccessDenied and expired_token match
// ErrDeviceCodeExpired.
func (e *OAuthError) Is(target error) bool {
	return target == ErrAccessDenied && e.Code == "access_denied" ||
		target == ErrDeviceCodeExpired && e.Code == "expired_token"
}

// DeviceAuth starts the device authorization flow.
func (c *Client) DeviceAuth(ctx context.Context) (*DeviceCode, error) {
	if c.meta.DeviceAuthorizationEndpoint == "" {
		return nil, fmt.Errorf("oidc: %s announces no device_authorization_endpoint", c.p.issuer)
	}
	form := url.Values{"scope": {c.scope}}
	var r struct {
		DeviceCode              string `json:"device_code"`
		UserCode                string `json:"user_code"`
		VerificationURI         string `json:"verification_uri"`
		VerificationURL         string `json:"verification_url"` // Google's spelling
		VerificationURIComplete string `json:"verification_uri_complete"`
		ExpiresIn               int64  `json:"expires_in"`
		Interval                int64  `json:"interval"`
	}
	if err := c.post(ctx, c.meta.DeviceAuthorizationEndpoint, form, &r); err != nil {
		return nil, fmt.Errorf("oidc: device authorization: %w", err)
	}
	if r.VerificationURI == "" {
		r.VerificationURI = r.VerificationURL
	}
	if r.DeviceCode == "" || r.UserCode == "" || r.VerificationURI == "" {
		return nil, errors.New("oidc: device authorization: response lacks device_code, user_code or verification_uri")
	}
	// The user is sent there to type in their credentials.
	if err := checkURL(r.VerificationURI, c.p.loopback); err != nil {
		return nil, fmt.Errorf("oidc: device authorization: verification_uri: %w", err)
	}
	if r.VerificationURIComplete != "" {
		if err := checkURL(r.VerificationURIComplete, c.p.loopback); err != nil {
			return nil, fmt.Errorf("oidc: device authorization: verification_uri_complete: %w", err)
		}
	}
	dc := &DeviceCode{
		DeviceCode:              r.DeviceCode,
		UserCode:                r.UserCode,
		VerificationURI:         r.VerificationURI,
		VerificationURIComplete: r.VerificationURIComplete,
		Interval:                5 * time.Second,
		ExpiresIn:               time.Duration(r.ExpiresIn) * time.Second,
	}
	if r.Interval > 0 && r.Interval < 3600 {
		dc.Interval = time.Duration(r.Interval) * time.Second
	}
	if r.ExpiresIn > 0 && r.ExpiresIn < 86400 {
		dc.Expiry = time.Now().Add(dc.ExpiresIn)
	}
	return dc, nil
}

// PollDeviceToken polls the token endpoint every dc.Interval until the user
// approves (it returns the tokens), denies (ErrAccessDenied), the code
// expires (ErrDeviceCodeExpired), or ctx ends. authorization_pending makes
// it poll again; slow_down makes it wait 5 s longer from then on.
func (c *Client) PollDeviceToken(ctx context.Context, dc *DeviceCode) (*Token, error) {
	interval := dc.Interval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
		}
		if !dc.Expiry.IsZero() && !time.Now().Before(dc.Expiry) {
			return nil, fmt.Errorf("oidc: device flow: %w", ErrDeviceCodeExpired)
		}
		tok, err := c.token(ctx, url.Values{
			"grant_type":  {"urn:ietf:params:oauth:grant-type:device_code"},
			"device_code": {dc.DeviceCode},
		})
		var oe *OAuthError
		if errors.As(err, &oe) {
			switch oe.Code {
			case "authorization_pending":
				timer.Reset(interval)
				continue
			case "slow_down":
				interval += c.slowDown
				timer.Reset(interval)
				continue
			}
		}
		if err != nil {
			return nil, fmt.Errorf("oidc: device flow: %w", err)
		}
		return tok, nil
	}
}

// AuthCodeURL returns the URL to send the user's browser to for the
// authorization code flow. state is echoed back to redirectURI and must be
// checked there; verifier is the PKCE code verifier (NewCodeVerifier),
// kept until ExchangeCode.
func (c *Client) AuthCodeURL(state, verifier, redirectURI string) (string, error) {
	if c.meta.AuthorizationEndpoint == "" {
		return "", fmt.Errorf("oidc: %s announces no authorization_endpoint", c.p.issuer)
	}
	u, err := url.Parse(c.meta.AuthorizationEndpoint)
	if err != nil {
		return "", fmt.Errorf("oidc: authorization_endpoint: %w", err)
	}
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", c.cfg.ClientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("scope", c.scope)
	q.Set("state", state)
	q.Set("code_challenge", CodeChallenge(verifier))
	q.Set("code_challenge_method", "S256")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// ExchangeCode redeems an authorization code for tokens, proving with
// verifier that this is the client that started the flow.
func (c *Client) ExchangeCode(ctx context.Context, code, verifier, redirectURI string) (*Token, error) {
	tok, err := c.token(ctx, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {verifier},
	})
	if err != nil {
		return nil, fmt.Errorf("oidc: exchange code: %w", err)
	}
	return tok, nil
}

// NewCodeVerifier returns a random PKCE code verifier (RFC 7636 section
// 4.1), 43 characters long.
func NewCodeVerifier() string { return randomString(32) }

// NewState returns a random value for the state parameter.
func NewState() string { return randomString(16) }

// CodeChallenge returns the S256 code challenge for verifier.
func CodeChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails, per its documentation
	return base64.RawURLEncoding.EncodeToString(b)
}

// token calls the token endpoint.
func (c *Client) token(ctx context.Context, form url.Values) (*Token, error) {
	var r struct {
		IDToken      string `json:"id_token"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int64  `json:"expires_in"`
	}
	if err := c.post(ctx, c.meta.TokenEndpoint, form, &r); err != nil {
		return nil, err
	}
	if r.IDToken == "" {
		return nil, errors.New("token response has no id_token")
	}
	t := &Token{IDToken: r.IDToken, AccessToken: r.AccessToken, RefreshToken: r.RefreshToken, TokenType: r.TokenType}
	if r.ExpiresIn > 0 {
		t.Expiry = time.Now().Add(time.Duration(r.ExpiresIn) * time.Second)
	}
	return t, nil
}

// post sends form to endpoint with the client's credentials and decodes a
// JSON success response into v, or returns an *OAuthError.
func (c *Client) post(ctx context.Context, endpoint string, form url.Values, v any) error {
	useBasic := c.cfg.ClientSecret != "" && c.basicAuth()
	if !useBasic {
		form.Set("client_id", c.cfg.ClientID)
		if c.cfg.ClientSecret != "" {
			form.Set("client_secret", c.cfg.ClientSecret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if useBasic {
		// RFC 6749 section 2.3.1: form-encode, then Basic.
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	}
	resp, err := c.p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := c.p.readBody(resp)
	if err != nil {
		return fmt.Errorf("POST %s: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Code        string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &e) != nil || e.Code == "" {
			return fmt.Errorf("POST %s: %s", endpoint, resp.Status)
		}
		return &OAuthError{Code: truncate(e.Code), Description: truncate(e.Description), StatusCode: resp.StatusCode}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("POST %s: decode: %w", endpoint, err)
	}
	return nil
}

// basicAuth reports whether to send the client secret with HTTP Basic
// authentication, the default of RFC 6749, rather than in the form.
func (c *Client) basicAuth() bool {
	m := c.meta.TokenEndpointAuthMethods
	return len(m) == 0 || slices.Contains(m, "client_secret_basic") || !slices.Contains(m, "client_secret_post")
}
