package oidc_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/oidctest"
)

func newClient(t *testing.T, op *oidctest.Provider, cfg oidc.ClientConfig) (*oidc.Provider, *oidc.Client) {
	t.Helper()
	p := newProvider(t, op, nil)
	if cfg.ClientID == "" {
		cfg.ClientID = oidctest.ClientID
	}
	c, err := oidc.NewClient(context.Background(), p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

// startDevice starts a device authorization and makes the client poll
// every few milliseconds instead of every 5 seconds.
func startDevice(t *testing.T, c *oidc.Client) *oidc.DeviceCode {
	t.Helper()
	dc, err := c.DeviceAuth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dc.Interval = 5 * time.Millisecond
	return dc
}

// afterPolls runs f once the provider has seen n polls for dc.
func afterPolls(t *testing.T, op *oidctest.Provider, dc *oidc.DeviceCode, n int, f func() error) {
	go func() {
		for op.DevicePolls(dc.UserCode) < n {
			time.Sleep(time.Millisecond)
		}
		if err := f(); err != nil {
			t.Error(err)
		}
	}()
}

func TestDeviceFlowApproved(t *testing.T) {
	op := oidctest.Start(t)
	p, c := newClient(t, op, oidc.ClientConfig{})
	dc, err := c.DeviceAuth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dc.VerificationURI, op.Issuer()) || !strings.Contains(dc.VerificationURIComplete, url.QueryEscape(dc.UserCode)) ||
		dc.DeviceCode == "" || dc.Interval != 5*time.Second || dc.ExpiresIn != oidctest.DeviceCodeTTL || dc.Expiry.IsZero() {
		t.Fatalf("got device code %+v", dc)
	}
	dc.Interval = 5 * time.Millisecond
	afterPolls(t, op, dc, 3, func() error {
		return op.ApproveDevice(dc.UserCode, map[string]any{"sub": "bob", "email": "bob@example.com", "email_verified": true})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := c.PollDeviceToken(ctx, dc)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
		t.Errorf("got token %+v", tok)
	}
	claims, err := p.Verify(ctx, tok.IDToken, oidctest.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "bob" || claims.Email() != "bob@example.com" || !claims.EmailVerified() {
		t.Errorf("got claims %v, want bob's", claims.Raw)
	}
}

func TestDeviceFlowSlowDown(t *testing.T) {
	op := oidctest.Start(t)
	op.SetDeviceInterval(100 * time.Millisecond)
	_, c := newClient(t, op, oidc.ClientConfig{})
	oidc.SetSlowDown(c, 150*time.Millisecond)
	dc := startDevice(t, c)
	afterPolls(t, op, dc, 2, func() error { return op.ApproveDevice(dc.UserCode, map[string]any{"sub": "bob"}) })
	// A client that kept polling every 5 ms would be told slow_down
	// forever and run into the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := c.PollDeviceToken(ctx, dc); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("got tokens after %s, want the interval lengthened by slow_down", d)
	}
}

func TestDeviceFlowDenied(t *testing.T) {
	op := oidctest.Start(t)
	_, c := newClient(t, op, oidc.ClientConfig{})
	dc := startDevice(t, c)
	afterPolls(t, op, dc, 2, func() error { return op.DenyDevice(dc.UserCode) })
	_, err := c.PollDeviceToken(context.Background(), dc)
	var oe *oidc.OAuthError
	if !errors.Is(err, oidc.ErrAccessDenied) || !errors.As(err, &oe) || oe.Code != "access_denied" {
		t.Fatalf("got %v, want ErrAccessDenied", err)
	}
}

func TestDeviceFlowExpired(t *testing.T) {
	op := oidctest.Start(t)
	_, c := newClient(t, op, oidc.ClientConfig{})
	dc := startDevice(t, c)
	afterPolls(t, op, dc, 1, func() error { return op.ExpireDevice(dc.UserCode) })
	if _, err := c.PollDeviceToken(context.Background(), dc); !errors.Is(err, oidc.ErrDeviceCodeExpired) {
		t.Fatalf("provider says expired_token: got %v, want ErrDeviceCodeExpired", err)
	}

	// The client stops by itself at the code's expiry.
	dc = startDevice(t, c)
	dc.Expiry = time.Now()
	if _, err := c.PollDeviceToken(context.Background(), dc); !errors.Is(err, oidc.ErrDeviceCodeExpired) {
		t.Fatalf("past Expiry: got %v, want ErrDeviceCodeExpired", err)
	}
	if n := op.DevicePolls(dc.UserCode); n != 0 {
		t.Errorf("got %d polls past expiry, want 0", n)
	}
}

func TestDeviceFlowContextCancelled(t *testing.T) {
	op := oidctest.Start(t)
	_, c := newClient(t, op, oidc.ClientConfig{})
	dc := startDevice(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.PollDeviceToken(ctx, dc); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error", err)
	}
}

// authorize follows the browser's part of the code flow: it requests
// the authorization URL and returns the redirect's query.
func authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorization endpoint: got %s, want a redirect", resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc.String(), redirectURI) {
		t.Fatalf("redirected to %s, want %s", loc, redirectURI)
	}
	return loc.Query()
}

const redirectURI = "http://127.0.0.1:38111/callback"

func TestCodeFlowPKCE(t *testing.T) {
	op := oidctest.Start(t)
	op.SetUser(map[string]any{"sub": "carol", "email": "carol@example.com", "email_verified": true, "groups": []string{"dba"}})
	p, c := newClient(t, op, oidc.ClientConfig{Scopes: []string{"groups"}})
	ctx := context.Background()

	start := func() (code, verifier string) {
		t.Helper()
		state, verifier := oidc.NewState(), oidc.NewCodeVerifier()
		u, err := c.AuthCodeURL(state, verifier, redirectURI)
		if err != nil {
			t.Fatal(err)
		}
		q, _ := url.Parse(u)
		if got := q.Query().Get("scope"); got != "openid groups" {
			t.Errorf("got scope %q, want %q", got, "openid groups")
		}
		back := authorize(t, u)
		if back.Get("state") != state || back.Get("code") == "" {
			t.Fatalf("got redirect query %v, want our state and a code", back)
		}
		return back.Get("code"), verifier
	}

	t.Run("right verifier", func(t *testing.T) {
		code, verifier := start()
		tok, err := c.ExchangeCode(ctx, code, verifier, redirectURI)
		if err != nil {
			t.Fatal(err)
		}
		claims, err := p.Verify(ctx, tok.IDToken, oidctest.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if claims.Subject != "carol" || strings.Join(claims.Strings("groups"), ",") != "dba" {
			t.Errorf("got claims %v, want carol in dba", claims.Raw)
		}
		// A code is good once.
		if _, err := c.ExchangeCode(ctx, code, verifier, redirectURI); !isOAuth(err, "invalid_grant") {
			t.Errorf("second exchange: got %v, want invalid_grant", err)
		}
	})
	t.Run("wrong verifier", func(t *testing.T) {
		code, _ := start()
		if _, err := c.ExchangeCode(ctx, code, oidc.NewCodeVerifier(), redirectURI); !isOAuth(err, "invalid_grant") {
			t.Errorf("got %v, want invalid_grant", err)
		}
	})
	t.Run("no verifier", func(t *testing.T) {
		code, _ := start()
		if _, err := c.ExchangeCode(ctx, code, "", redirectURI); !isOAuth(err, "invalid_grant") {
			t.Errorf("got %v, want invalid_grant", err)
		}
	})
	t.Run("wrong redirect URI", func(t *testing.T) {
		code, verifier := start()
		if _, err := c.ExchangeCode(ctx, code, verifier, redirectURI+"x"); !isOAuth(err, "invalid_grant") {
			t.Errorf("got %v, want invalid_grant", err)
		}
	})
	t.Run("user refused", func(t *testing.T) {
		op.SetUser(nil)
		u, err := c.AuthCodeURL("s", oidc.NewCodeVerifier(), redirectURI)
		if err != nil {
			t.Fatal(err)
		}
		if back := authorize(t, u); back.Get("error") != "access_denied" || back.Get("code") != "" {
			t.Errorf("got redirect query %v, want access_denied", back)
		}
	})
}

func TestConfidentialClient(t *testing.T) {
	op := oidctest.Start(t)
	op.RegisterClient("console", "s3cret&=")
	p, c := newClient(t, op, oidc.ClientConfig{ClientID: "console", ClientSecret: "s3cret&="})
	ctx := context.Background()
	verifier := oidc.NewCodeVerifier()
	u, err := c.AuthCodeURL("s", verifier, redirectURI)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.ExchangeCode(ctx, authorize(t, u).Get("code"), verifier, redirectURI)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(ctx, tok.IDToken, "console"); err != nil {
		t.Fatal(err)
	}

	bad, err := oidc.NewClient(ctx, p, oidc.ClientConfig{ClientID: "console", ClientSecret: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.DeviceAuth(ctx); !isOAuth(err, "invalid_client") {
		t.Errorf("wrong secret: got %v, want invalid_client", err)
	}
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("client", "config", oidc.ClientConfig{ClientID: "console", ClientSecret: "s3cret&="})
	if strings.Contains(buf.String(), "s3cret") {
		t.Errorf("logged config shows its secret: %s", buf.String())
	}
}

func TestCodeChallenge(t *testing.T) {
	// RFC 7636 appendix B.
	if got := oidc.CodeChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Errorf("got %s", got)
	}
	if v := oidc.NewCodeVerifier(); len(v) != 43 || v == oidc.NewCodeVerifier() {
		t.Errorf("got verifier %q", v)
	}
}

func isOAuth(err error, code string) bool {
	var oe *oidc.OAuthError
	return errors.As(err, &oe) && oe.Code == code
}
