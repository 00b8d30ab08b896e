package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

func newIssuer(t *testing.T, now *time.Time) *auth.Issuer {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &auth.Issuer{Store: db, Now: func() time.Time { return *now }}
}

func TestIssueAuthenticateRevoke(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	iss := newIssuer(t, &now)
	tok, rec, err := iss.Issue(ctx, auth.IssueRequest{Identity: "ci-bot", Groups: []string{"ci", "readers"}, Kind: auth.KindService, TTL: 15 * time.Minute, IssuedBy: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "ght_") || !auth.WellFormed(tok) {
		t.Fatalf("got token %q, want a well-formed ght_ token", tok)
	}
	if strings.Contains(string(rec.Hash), tok) {
		t.Fatal("stored hash contains the token")
	}
	p, err := iss.Authenticate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Identity != "ci-bot" || len(p.Groups) != 2 || p.Kind != auth.KindService || p.IsAdmin() {
		t.Errorf("got principal %+v", p)
	}

	// A known token that no longer works says whose it was, for the
	// audit log, and tells a client no more than any bad token.
	wantRefused := func(reason string) {
		t.Helper()
		_, err := iss.Authenticate(ctx, tok)
		var te *auth.TokenError
		if !errors.Is(err, auth.ErrInvalidToken) || !errors.As(err, &te) {
			t.Fatalf("%s: got %v, want a *TokenError wrapping ErrInvalidToken", reason, err)
		}
		if want := (auth.TokenError{TokenID: rec.ID, Identity: "ci-bot", Reason: reason}); *te != want {
			t.Errorf("%s: got %+v, want %+v", reason, *te, want)
		}
		if err.Error() != auth.ErrInvalidToken.Error() {
			t.Errorf("%s: error says %q, want only %q", reason, err, auth.ErrInvalidToken)
		}
	}
	now = now.Add(15 * time.Minute)
	wantRefused(auth.ReasonExpired)
	now = now.Add(-time.Minute)
	if err := iss.Revoke(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	wantRefused(auth.ReasonRevoked)
	now = now.Add(time.Hour)
	wantRefused(auth.ReasonRevoked) // revoked and expired: revoked says more
}

func TestAuthenticateRejects(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	iss := newIssuer(t, &now)
	tok, _, err := iss.Issue(ctx, auth.IssueRequest{Identity: "a", Kind: auth.KindPerson, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "ght_", "secret", tok[:len(tok)-1], tok + "x", "ght_" + strings.Repeat("A", 43), strings.ToUpper(tok)} {
		_, err := iss.Authenticate(ctx, bad)
		var te *auth.TokenError
		if !errors.Is(err, auth.ErrInvalidToken) || errors.As(err, &te) {
			t.Errorf("Authenticate(%q): got %v, want ErrInvalidToken and no identity", bad, err)
		}
	}
}

func TestIssueValidates(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	iss := newIssuer(t, &now)
	tests := []struct {
		name string
		req  auth.IssueRequest
	}{
		{"empty identity", auth.IssueRequest{Kind: auth.KindPerson, TTL: time.Hour}},
		{"identity with newline", auth.IssueRequest{Identity: "a\nb", Kind: auth.KindPerson, TTL: time.Hour}},
		{"bad group", auth.IssueRequest{Identity: "a", Groups: []string{"x y"}, Kind: auth.KindPerson, TTL: time.Hour}},
		{"bad kind", auth.IssueRequest{Identity: "a", Kind: "root", TTL: time.Hour}},
		{"zero ttl", auth.IssueRequest{Identity: "a", Kind: auth.KindPerson}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := iss.Issue(ctx, tt.req); err == nil {
				t.Error("got nil error, want a validation error")
			}
		})
	}
}
