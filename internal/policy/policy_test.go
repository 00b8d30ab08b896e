package policy

import (
	"testing"
	"time"
)

func TestAccess(t *testing.T) {
	set := NewSet([]Policy{
		{Name: "block-contractors", Subjects: []string{"group:contractors"}, Connections: []string{"tag:env=prod"}, Access: Deny},
		{Name: "ci", Subjects: []string{"group:ci", "identity:alice@example.com"}, Connections: []string{"prod-db", "tag:env=staging"}, Access: Allow, MaxSession: time.Hour},
		{Name: "everyone-dev", Subjects: []string{"*"}, Connections: []string{"dev-db"}, Access: Allow},
	})
	prod := Target{Name: "prod-db", Tags: map[string]string{"env": "prod"}}
	staging := Target{Name: "stg", Tags: map[string]string{"env": "staging"}}
	tests := []struct {
		name    string
		sub     Subject
		target  Target
		allowed bool
		policy  string
	}{
		{"group allowed", Subject{"bot", []string{"ci"}}, prod, true, "ci"},
		{"identity allowed", Subject{"alice@example.com", nil}, prod, true, "ci"},
		{"tag allowed", Subject{"bot", []string{"ci"}}, staging, true, "ci"},
		{"first match denies", Subject{"bot", []string{"contractors", "ci"}}, prod, false, "block-contractors"},
		{"wildcard subject", Subject{"anyone", nil}, Target{Name: "dev-db"}, true, "everyone-dev"},
		{"no policy", Subject{"bob", []string{"readers"}}, prod, false, ""},
		{"unknown connection", Subject{"bot", []string{"ci"}}, Target{Name: "nope"}, false, ""},
		{"tag value must match", Subject{"bot", []string{"ci"}}, Target{Name: "x", Tags: map[string]string{"env": "stagingx"}}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := set.Access(tt.sub, tt.target)
			if d.Allowed != tt.allowed || d.Policy != tt.policy {
				t.Errorf("got allowed=%v policy=%q, want allowed=%v policy=%q", d.Allowed, d.Policy, tt.allowed, tt.policy)
			}
		})
	}
	if d := set.Access(Subject{"bot", []string{"ci"}}, prod); d.MaxSession != time.Hour {
		t.Errorf("got max session %v, want 1h", d.MaxSession)
	}
}

func TestDigestChangesWithContent(t *testing.T) {
	a := NewSet([]Policy{{Name: "p", Subjects: []string{"*"}, Connections: []string{"*"}, Access: Allow}})
	b := NewSet([]Policy{{Name: "p", Subjects: []string{"*"}, Connections: []string{"*"}, Access: Deny}})
	c := NewSet([]Policy{{Name: "p", Subjects: []string{"*"}, Connections: []string{"*"}, Access: Allow}})
	if a.Digest() == b.Digest() {
		t.Error("different policies share a digest")
	}
	if a.Digest() != c.Digest() {
		t.Error("equal policies have different digests")
	}
}
