package oidctest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/oidctest"
)

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func publishedKIDs(t *testing.T, p *oidctest.Provider) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	getJSON(t, p.Issuer()+"/jwks", &set)
	var kids []string
	for _, k := range set.Keys {
		if k.D != "" {
			t.Errorf("key %s published with its private part", k.KID)
		}
		kids = append(kids, k.KID)
	}
	return kids
}

func TestDiscoveryAndKeys(t *testing.T) {
	p := oidctest.Start(t)
	var doc map[string]any
	getJSON(t, p.Issuer()+"/.well-known/openid-configuration", &doc)
	if doc["issuer"] != p.Issuer() || doc["jwks_uri"] != p.Issuer()+"/jwks" {
		t.Errorf("got discovery %v", doc)
	}
	first := p.CurrentKey()
	second := p.RotateKey()
	es := p.AddKey("ES256")
	if got := publishedKIDs(t, p); !slices.Equal(got, []string{first, second, es}) {
		t.Errorf("got keys %v, want %v", got, []string{first, second, es})
	}
	p.RetireKey(first)
	if got := publishedKIDs(t, p); !slices.Equal(got, []string{second, es}) {
		t.Errorf("after retiring %s: got keys %v", first, got)
	}
	if p.CurrentKey() != second || p.JWKSFetches() != 2 || p.DiscoveryFetches() != 1 {
		t.Errorf("got current %s, %d JWKS and %d discovery fetches", p.CurrentKey(), p.JWKSFetches(), p.DiscoveryFetches())
	}

	p.SetDiscoveryIssuer("https://elsewhere.example.com")
	getJSON(t, p.Issuer()+"/.well-known/openid-configuration", &doc)
	if doc["issuer"] != "https://elsewhere.example.com" {
		t.Errorf("got issuer %v after SetDiscoveryIssuer", doc["issuer"])
	}
}

func TestTokenEndpointRefusesUnknownClients(t *testing.T) {
	p := oidctest.Start(t)
	resp, err := http.PostForm(p.Issuer()+"/token", url.Values{"client_id": {"nobody"}, "grant_type": {"authorization_code"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != http.StatusUnauthorized || e.Error != "invalid_client" {
		t.Errorf("got %s %q, want 401 invalid_client", resp.Status, e.Error)
	}
}

func TestMinted(t *testing.T) {
	p := oidctest.Start(t)
	tok := p.Sign(p.Claims("x"))
	if !p.Minted(tok) || p.Minted(tok+"x") || strings.Count(tok, ".") != 2 {
		t.Errorf("Minted does not know %q", tok)
	}
}
