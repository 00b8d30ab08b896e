// Package policy decides who may reach which connection. It is pure: inputs
// in, a Decision out; no I/O and no logging.
//
// Policies are evaluated in order and the first policy whose subjects and
// connections both match decides. A session that no policy matches is
// denied. Statement rules (the next layer) are decided per statement at the
// connector from the same Set.
package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/mask"
)

// Access values.
const (
	Allow  = "allow"
	Deny   = "deny"
	Review = "review" // allowed while an approved access request lasts
)

// Policy is one access policy.
type Policy struct {
	Name string `json:"name"`
	// Subjects are "*", "group:NAME" or "identity:NAME".
	Subjects []string `json:"subjects"`
	// Connections are "*", a connection name or "tag:key=value".
	Connections []string      `json:"connections"`
	Access      string        `json:"access"`
	MaxSession  time.Duration `json:"max_session,omitempty"`
	// OutliveToken lets sessions go on after the token that opened them
	// expires; by default they end with it.
	OutliveToken bool `json:"outlive_token,omitempty"`
	// Rules decide each statement of a session this policy allowed.
	Rules []Rule `json:"rules,omitempty"`
	// Approvers and MinApprovals decide access requests when Access is
	// Review.
	Approvers    []string `json:"approvers,omitempty"`
	MinApprovals int      `json:"min_approvals,omitempty"`
	// Masking are the masking profiles applied to the results of the
	// sessions this policy allows, in order.
	Masking []MaskProfile `json:"masking,omitempty"`
}

// MaskProfile is a named masking profile as a policy carries it.
type MaskProfile struct {
	Name string `json:"name"`
	mask.Profile
}

// Subject is who asks.
type Subject struct {
	Identity string
	Groups   []string
}

// Target is what is asked for.
type Target struct {
	Name string
	Tags map[string]string
}

// Decision is the outcome of an access check.
type Decision struct {
	Allowed bool
	// Policy names the deciding policy; empty when none matched.
	Policy     string
	MaxSession time.Duration
	// OutliveToken: sessions need not end when their token expires.
	OutliveToken bool
	// Rules are the deciding policy's statement rules.
	Rules []Rule
	// Masking are the deciding policy's masking profiles.
	Masking []MaskProfile
	// NeedsGrant is set when the policy allows sessions only under an
	// approved access request (Allowed is false until the caller finds
	// one); Approvers and MinApprovals decide such requests.
	NeedsGrant   bool
	Approvers    []string
	MinApprovals int
	// Reason says why, for logs and recordings; never shown to clients
	// beyond the generic denial.
	Reason string
}

// Set is an immutable, ordered set of policies. Build a new Set to change
// policies and swap it in atomically.
type Set struct {
	policies []Policy
	digest   string
}

// NewSet returns a Set of copies of ps, in order.
func NewSet(ps []Policy) *Set {
	s := &Set{policies: make([]Policy, len(ps))}
	for i, p := range ps {
		p.Subjects = slices.Clone(p.Subjects)
		p.Connections = slices.Clone(p.Connections)
		p.Rules = slices.Clone(p.Rules)
		p.Approvers = slices.Clone(p.Approvers)
		p.Masking = slices.Clone(p.Masking)
		s.policies[i] = p
	}
	b, _ := json.Marshal(s.policies) // plain data: cannot fail
	sum := sha256.Sum256(b)
	s.digest = "sha256:" + hex.EncodeToString(sum[:])
	return s
}

// Digest identifies the policy set's content; sessions record it.
func (s *Set) Digest() string { return s.digest }

// Access decides whether sub may open a session to t.
func (s *Set) Access(sub Subject, t Target) Decision {
	for _, p := range s.policies {
		if !matchSubject(p.Subjects, sub) || !matchTarget(p.Connections, t) {
			continue
		}
		switch p.Access {
		case Allow:
			return Decision{Allowed: true, Policy: p.Name, MaxSession: p.MaxSession, OutliveToken: p.OutliveToken, Rules: p.Rules, Masking: p.Masking, Reason: "allowed by policy " + p.Name}
		case Review:
			return Decision{Policy: p.Name, MaxSession: p.MaxSession, OutliveToken: p.OutliveToken, Rules: p.Rules, Masking: p.Masking, NeedsGrant: true,
				Approvers: p.Approvers, MinApprovals: max(p.MinApprovals, 1),
				Reason: "policy " + p.Name + " needs an approved access request"}
		}
		return Decision{Policy: p.Name, Reason: "denied by policy " + p.Name}
	}
	return Decision{Reason: "no policy matches"}
}

func matchSubject(subjects []string, sub Subject) bool {
	for _, s := range subjects {
		if s == "*" {
			return true
		}
		kind, name, _ := strings.Cut(s, ":")
		switch kind {
		case "identity":
			if name == sub.Identity {
				return true
			}
		case "group":
			if slices.Contains(sub.Groups, name) {
				return true
			}
		}
	}
	return false
}

func matchTarget(sels []string, t Target) bool {
	for _, s := range sels {
		if s == "*" || s == t.Name {
			return true
		}
		if rest, ok := strings.CutPrefix(s, "tag:"); ok {
			k, v, _ := strings.Cut(rest, "=")
			if tv, ok := t.Tags[k]; ok && tv == v {
				return true
			}
		}
	}
	return false
}
