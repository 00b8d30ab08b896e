package oidc_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/oidctest"
)

// githubClaims are the claims of a GitHub Actions token for a push to main.
const githubClaims = `{
	"sub": "repo:acme/deploy:ref:refs/heads/main",
	"repository": "acme/deploy",
	"repository_owner": "acme",
	"repository_id": 123456789,
	"ref": "refs/heads/main",
	"ref_protected": true,
	"run_attempt": "1",
	"environment": null,
	"job_workflow_ref": "acme/deploy/.github/workflows/release.yml@refs/heads/main",
	"event_name": "push",
	"labels": ["linux", "x64"],
	"nested": {"a": "b"},
	"matrix": [["x"]]
}`

func TestMatch(t *testing.T) {
	var raw map[string]any
	dec := json.NewDecoder(strings.NewReader(githubClaims))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		t.Fatal(err)
	}
	c := &oidc.Claims{Raw: raw}
	tests := []struct {
		name string
		rule map[string]string
		want bool
	}{
		{"exact", map[string]string{"repository": "acme/deploy", "ref": "refs/heads/main"}, true},
		{"glob", map[string]string{"repository": "acme/*"}, true},
		{"glob on sub", map[string]string{"sub": "repo:acme/deploy:ref:refs/heads/*"}, true},
		{"glob in the middle", map[string]string{"job_workflow_ref": "acme/*/.github/workflows/*@refs/heads/main"}, true},
		{"star alone", map[string]string{"repository": "*"}, true},
		{"number", map[string]string{"repository_id": "123456789"}, true},
		{"bool", map[string]string{"ref_protected": "true"}, true},
		{"array element", map[string]string{"labels": "x64"}, true},
		{"array element glob", map[string]string{"labels": "lin*"}, true},

		{"empty rule", map[string]string{}, false},
		{"nil rule", nil, false},
		{"one condition fails", map[string]string{"repository": "acme/deploy", "ref": "refs/heads/dev"}, false},
		{"prefix without glob", map[string]string{"repository": "acme/"}, false},
		{"glob must cover the whole value", map[string]string{"repository": "acme/dep"}, false},
		{"case matters", map[string]string{"repository": "Acme/deploy"}, false},
		{"glob anchored at the start", map[string]string{"repository": "*/deplo"}, false},
		{"other org with a similar prefix", map[string]string{"sub": "repo:acme-evil/*"}, false},
		{"missing claim", map[string]string{"workflow": "*"}, false},
		{"null claim", map[string]string{"environment": "*"}, false},
		{"object claim", map[string]string{"nested": "*"}, false},
		{"nested array", map[string]string{"matrix": "x"}, false},
		{"array without a match", map[string]string{"labels": "arm64"}, false},
		{"wrong number", map[string]string{"repository_id": "12345678"}, false},
		{"bool spelled otherwise", map[string]string{"ref_protected": "True"}, false},
		{"question mark is literal", map[string]string{"event_name": "pus?"}, false},
		{"brackets are literal", map[string]string{"event_name": "[p]ush"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := oidc.Match(c, tt.rule); got != tt.want {
				t.Errorf("Match(%v): got %v, want %v", tt.rule, got, tt.want)
			}
		})
	}
	if oidc.Match(nil, map[string]string{"sub": "*"}) {
		t.Error("Match(nil claims): got true")
	}
}

func TestMatchOtherOwner(t *testing.T) {
	c := &oidc.Claims{Raw: map[string]any{"repository": "evil/deploy"}}
	if oidc.Match(c, map[string]string{"repository": "acme/*"}) {
		t.Error("acme/* matched evil/deploy")
	}
}

// A token from a trusted issuer, verified, whose claims satisfy none of
// the trust rules configured for that issuer, must not be let in.
func TestTrustedIssuerNoRuleMatches(t *testing.T) {
	op := oidctest.Start(t)
	p := newProvider(t, op, nil)
	claims := op.Claims(audience)
	claims["sub"] = "repo:someone/fork:ref:refs/heads/main"
	claims["repository"] = "someone/fork"
	claims["ref"] = "refs/heads/main"
	c, err := p.Verify(context.Background(), op.Sign(claims), audience)
	if err != nil {
		t.Fatal(err)
	}
	rules := []map[string]string{
		{"repository": "acme/deploy", "ref": "refs/heads/main"},
		{"repository": "acme/*"},
		{"sub": "repo:acme/*:ref:refs/heads/*"},
		{},
	}
	for _, r := range rules {
		if oidc.Match(c, r) {
			t.Errorf("rule %v matched claims of someone/fork", r)
		}
	}
}

func FuzzGlob(f *testing.F) {
	f.Add("acme/*", "acme/deploy")
	f.Add("*a*b*c*", "xaxbxcx")
	f.Add("**", "")
	f.Add("a*", "b")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		c := &oidc.Claims{Raw: map[string]any{"k": s}}
		got := oidc.Match(c, map[string]string{"k": pattern})
		if !strings.Contains(pattern, "*") && got != (pattern == s) {
			t.Errorf("Match(%q, %q) = %v without a star", pattern, s, got)
		}
		if pattern == "*" && !got {
			t.Errorf("* did not match %q", s)
		}
		if s == pattern && !got {
			t.Errorf("%q did not match itself", s)
		}
	})
}
