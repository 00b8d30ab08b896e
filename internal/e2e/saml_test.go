package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"html"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml/samlidp"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// startSAMLIdP runs crewjam's samlidp with one user, alice (password
// wonderland, groups ci and dba), and returns its URL and metadata.
func startSAMLIdP(t *testing.T) (string, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test idp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	idp, err := samlidp.New(samlidp.Options{URL: *u, Key: key, Certificate: cert, Store: &samlidp.MemoryStore{},
		Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = idp
	user, _ := json.Marshal(map[string]any{"password": "wonderland", "email": "alice@example.com", "groups": []string{"ci", "dba"}})
	samlPut(t, srv.URL+"/users/alice", "application/json", user)
	resp, err := http.Get(srv.URL + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return srv.URL, md
}

func samlPut(t *testing.T, u, ctype string, body []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT %s: %s: %s", u, resp.Status, b)
	}
}

var (
	samlFormRe  = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	samlInputRe = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)
)

// TestSAMLLogin signs alice in with `gatehouse login --saml`: a Go HTTP
// client plays the browser through the IdP's login, posts the signed
// assertion to the gateway, and follows the redirect to the CLI. The same
// assertion posted again is refused as a replay.
func TestSAMLLogin(t *testing.T) {
	t.Parallel()
	idpURL, md := startSAMLIdP(t)
	mdFile := filepath.Join(t.TempDir(), "idp.xml")
	if err := os.WriteFile(mdFile, md, 0o600); err != nil {
		t.Fatal(err)
	}
	h := startUp(t, func(cfg *config.Config) {
		cfg.Auth.SAML = &config.SAML{IdPMetadataFile: mdFile, GroupsAttribute: "eduPersonAffiliation"}
	})
	resp, err := http.Get(h.apiURL() + "/api/v1/auth/saml/metadata")
	if err != nil {
		t.Fatal(err)
	}
	spMeta, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	samlPut(t, idpURL+"/services/gatehouse", "application/xml", spMeta)

	home := t.TempDir()
	cli := h.startBrowserLogin(t, home, "--saml", "--no-open")
	authURL := cli.URL

	// The browser: the IdP's login, then its auto-submitting form.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	get := func(u string) string {
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	get(authURL)
	if resp, err := browser.PostForm(idpURL+"/login", url.Values{"user": {"alice"}, "password": {"wonderland"}}); err == nil {
		resp.Body.Close()
	}
	page := get(authURL)
	m := samlFormRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form from the IdP: %s", page)
	}
	form := url.Values{}
	for _, in := range samlInputRe.FindAllStringSubmatch(page, -1) {
		form.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	acs := html.UnescapeString(m[1])
	resp, err = browser.PostForm(acs, form)
	if err != nil {
		t.Fatal(err)
	}
	done, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(done), "Signed in") {
		t.Errorf("after the ACS: %s %q", resp.Status, done)
	}
	if out, err := cli.wait(); err != nil || !strings.Contains(out, "signed in as alice") || !strings.Contains(out, "groups ci,dba") {
		t.Fatalf("login --saml: %v: %s", err, out)
	}
	tok := strings.TrimSpace(h.runCLIAs(t, home, "token").Stdout)
	if out, err := h.psql(t, tok, "saml", "-A", "-t", "-c", "SELECT 3"); err != nil || out != "3\n" {
		t.Fatalf("psql after a SAML sign-in: %v: %q", err, out)
	}

	// The same assertion again: refused.
	resp, err = http.PostForm(acs, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("replayed assertion: got %s, want 401", resp.Status)
	}
	fails, _ := h.g.Store().ListAudit(context.Background(), store.AuditFilter{Type: store.AuditLoginFailed})
	if len(fails) == 0 || !strings.Contains(fails[0].Reason, "SAML") {
		t.Errorf("audit log after a replay: %+v", fails)
	}
}
