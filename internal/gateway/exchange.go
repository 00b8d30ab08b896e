package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// workloads are the workload identity trust rules, with one OIDC provider
// per issuer.
type workloads struct {
	rules     []config.Workload
	providers map[string]*oidc.Provider
}

func newWorkloads(rules []config.Workload) (*workloads, error) {
	w := &workloads{rules: rules, providers: map[string]*oidc.Provider{}}
	for _, r := range rules {
		if w.providers[r.Issuer] != nil {
			continue
		}
		u, err := url.Parse(r.Issuer)
		if err != nil {
			return nil, fmt.Errorf("workload issuer %s: %w", r.Issuer, err)
		}
		p, err := oidc.New(oidc.Config{Issuer: r.Issuer, AllowLoopbackHTTP: config.IsLoopbackHost(u.Hostname())})
		if err != nil {
			return nil, err
		}
		w.providers[r.Issuer] = p
	}
	return w, nil
}

// unverifiedIssuer reads the iss claim of a JWT without checking anything,
// only to pick the provider that will verify it.
func unverifiedIssuer(raw string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	return c.Iss
}

// exchange trades a workload's OIDC token for a gatehouse token under the
// first trust rule whose issuer, audience and claims match.
func (g *Gateway) exchange(ctx context.Context, source, raw string) (string, *store.Token, error) {
	refuse := func(identity, reason string) (string, *store.Token, error) {
		return "", nil, g.refuseLogin(ctx, source, identity, "workload token: "+reason)
	}
	iss := unverifiedIssuer(raw)
	if g.workloads == nil || g.workloads.providers[iss] == nil {
		return refuse("", "the token's issuer is not trusted here")
	}
	p := g.workloads.providers[iss]
	var lastReason, subject string
	verified := map[string]*oidc.Claims{}
	for i, rule := range g.workloads.rules {
		if rule.Issuer != iss {
			continue
		}
		claims, ok := verified[rule.Audience]
		if !ok {
			var err error
			claims, err = p.Verify(ctx, raw, rule.Audience)
			var te *oidc.TokenError
			switch {
			case errors.As(err, &te):
				lastReason = te.Reason()
				verified[rule.Audience] = nil
				continue
			case err != nil:
				return "", nil, fmt.Errorf("verify workload token from %s: %w", iss, err)
			}
			verified[rule.Audience] = claims
		}
		if claims == nil {
			continue
		}
		subject = claims.Subject
		if !oidc.Match(claims, rule.Match) {
			lastReason = "no workload rule matches the token's claims"
			continue
		}
		if g.limiter.blocked("id:" + rule.Identity) {
			return refuse(rule.Identity, "too many failed sign-ins for this identity; try again later")
		}
		secret, t, err := g.issuer.Issue(ctx, auth.IssueRequest{Identity: rule.Identity, Groups: rule.Groups,
			Kind: auth.KindWorkload, TTL: g.Config.Auth.WorkloadTokenTTL, IssuedBy: "workload:" + iss})
		if errors.Is(err, auth.ErrDisabled) {
			return refuse(rule.Identity, "identity is disabled")
		}
		if err != nil {
			return "", nil, err
		}
		g.audit(ctx, &store.AuditEvent{Type: store.AuditExchange, OK: true, Identity: rule.Identity, Source: source, TokenID: t.ID,
			Reason: fmt.Sprintf("workload rule %d, issuer %s, subject %s", i, iss, subject)})
		return secret, t, nil
	}
	if lastReason == "" {
		lastReason = "no workload rule matches the token"
	}
	who := ""
	if subject != "" {
		who = "sub:" + subject
	}
	return refuse(who, lastReason)
}
