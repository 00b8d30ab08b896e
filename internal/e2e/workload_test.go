package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/oidctest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// runCLIAs runs the gatehouse command line with home as HOME and no token
// in the environment, as on a CI runner.
func (h *gw) runCLIAs(t testing.TB, home string, args ...string) cliResult {
	t.Helper()
	return h.runCLIEnv(t, []string{"HOME=" + home, "XDG_CONFIG_HOME="}, args...)
}

// TestWorkloadIdentity exchanges a CI system's OIDC token for a gatehouse
// token with `gatehouse login --oidc-token`, connects with it, disables
// the identity while the session runs, and reads the audit log.
func TestWorkloadIdentity(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	h := startUp(t, func(cfg *config.Config) {
		cfg.Auth.Workloads = []config.Workload{{
			Issuer:   op.Issuer(),
			Audience: "gatehouse",
			Match:    map[string]string{"repository": "acme/deploy", "ref": "refs/heads/*"},
			Identity: "ci:acme/deploy",
			Groups:   []string{"ci"},
		}}
	})
	ciToken := func(aud, repo string) string {
		c := op.Claims(aud)
		c["sub"] = "repo:" + repo + ":ref:refs/heads/main"
		c["repository"], c["ref"] = repo, "refs/heads/main"
		return op.Sign(c)
	}
	home := t.TempDir()

	for _, tc := range []struct {
		name, token, want string
	}{
		{"wrong audience", ciToken("someone-else", "acme/deploy"), "wrong audience"},
		{"claims match no rule", ciToken("gatehouse", "mallory/deploy"), "no workload rule matches"},
		{"untrusted issuer", oidctest.Start(t).Sign(map[string]any{"iss": "x", "aud": "gatehouse"}), "not trusted"},
		{"alg none", op.SignNone(op.Claims("gatehouse")), "token not accepted"},
	} {
		res := h.runCLIAs(t, home, "login", "--oidc-token", tc.token)
		if res.Code == 0 || !strings.Contains(res.Stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", tc.name, res.Code, res.Stderr, tc.want)
		}
	}

	res := h.runCLIAs(t, home, "login", "--oidc-token", ciToken("gatehouse", "acme/deploy"))
	if res.Code != 0 || !strings.Contains(res.Stderr, "signed in as ci:acme/deploy") {
		t.Fatalf("login: exit %d, %s%s", res.Code, res.Stdout, res.Stderr)
	}
	res = h.runCLIAs(t, home, "token")
	tok := strings.TrimSpace(res.Stdout)
	if res.Code != 0 || !strings.HasPrefix(tok, "ght_") {
		t.Fatalf("token: exit %d, %s%s", res.Code, res.Stdout, res.Stderr)
	}
	if fi, err := os.Stat(home + "/.config/gatehouse/token"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("saved token file: %v, %v", fi, err)
	}

	// psql with the exchanged token, then the identity is disabled while
	// the session runs.
	if out, err := h.psql(t, tok, "workload-psql", "-A", "-t", "-c", "SELECT 41 + 1"); err != nil || out != "42\n" {
		t.Fatalf("psql with the exchanged token: %v: %q", err, out)
	}
	c := connect(t, h.pgxConfig(t, connName, tok, "workload"))
	done := sleeper(c)
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if res := h.runCLI(t, h.adminToken(t), "identities", "disable", "ci:acme/deploy"); res.Code != 0 {
		t.Fatalf("identities disable: %s%s", res.Stdout, res.Stderr)
	}
	t.Logf("session ended %v after the identity was disabled", wantEnded(t, done, "gatehouse: access revoked", start))
	if res := h.runCLIAs(t, home, "login", "--oidc-token", ciToken("gatehouse", "acme/deploy")); res.Code == 0 || !strings.Contains(res.Stderr, "disabled") {
		t.Errorf("login of a disabled identity: exit %d, %s", res.Code, res.Stderr)
	}

	evs, err := h.g.Store().ListAudit(context.Background(), store.AuditFilter{Identity: "ci:acme/deploy"})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for i := len(evs) - 1; i >= 0; i-- {
		types = append(types, evs[i].Type)
	}
	if got, want := strings.Join(types, " "), "token.exchanged login login identity.disabled token.revoked session.revoked login.failed"; got != want {
		t.Errorf("audit log: got %q, want %q", got, want)
	}
	fails, _ := h.g.Store().ListAudit(context.Background(), store.AuditFilter{Type: store.AuditLoginFailed})
	var reasons []string
	for _, e := range fails {
		reasons = append(reasons, e.Reason)
	}
	for _, want := range []string{"wrong audience", "no workload rule matches", "not trusted"} {
		if !strings.Contains(strings.Join(reasons, "\n"), want) {
			t.Errorf("audit log lacks a failure for %q: %q", want, reasons)
		}
	}
}

// TestPersonLogin signs a person in with `gatehouse login` through the
// device flow the gateway runs against an OIDC provider, uses the token,
// and checks allowed_domains and the groups claim.
func TestPersonLogin(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	op.SetDeviceInterval(time.Second)
	clientSecret := "cs-" + randHex(t, 16)
	op.RegisterClient("gatehouse-confidential", clientSecret)
	h := startUp(t, func(cfg *config.Config) {
		cfg.Auth.OIDC = []config.OIDCProvider{{
			Name: "corp", Issuer: op.Issuer(), ClientID: "gatehouse-confidential", ClientSecret: config.Secret(clientSecret),
			GroupsClaim: "groups", AllowedDomains: []string{"example.com"},
		}}
	})
	defer func() {
		if strings.Contains(h.logs.String(), clientSecret) {
			t.Error("the OIDC client secret appears in the gateway's log")
		}
	}()
	home := t.TempDir()
	op.AutoApproveDevices(map[string]any{"sub": "u1", "email": "alice@example.com", "email_verified": true, "groups": []string{"ci", "dba"}})
	res := h.runCLIAs(t, home, "login")
	if strings.Contains(res.Stdout+res.Stderr, clientSecret) {
		t.Error("the OIDC client secret reached the CLI")
	}
	if res.Code != 0 || !strings.Contains(res.Stderr, "enter the code") || !strings.Contains(res.Stderr, "signed in as alice@example.com (groups ci,dba)") {
		t.Fatalf("login: exit %d, %s%s", res.Code, res.Stdout, res.Stderr)
	}
	tok := strings.TrimSpace(h.runCLIAs(t, home, "token").Stdout)
	if out, err := h.psql(t, tok, "person", "-A", "-t", "-c", "SELECT 1"); err != nil || out != "1\n" {
		t.Fatalf("psql as the signed-in person: %v: %q", err, out)
	}
	res = h.runCLIAs(t, home, "sessions", "list")
	if res.Code != 0 {
		t.Errorf("a client command with the saved token: exit %d, %s", res.Code, res.Stderr)
	}

	op.AutoApproveDevices(map[string]any{"sub": "u2", "email": "eve@evil.example.org", "email_verified": true})
	res = h.runCLIAs(t, home, "login")
	if res.Code == 0 || !strings.Contains(res.Stderr, "allowed domain") {
		t.Errorf("login from another domain: exit %d, %s", res.Code, res.Stderr)
	}
	op.AutoApproveDevices(map[string]any{"sub": "u3", "email": "bob@example.com", "email_verified": false})
	if res = h.runCLIAs(t, home, "login"); res.Code == 0 {
		t.Errorf("login with an unverified email: exit 0, %s", res.Stderr)
	}
	evs, _ := h.g.Store().ListAudit(context.Background(), store.AuditFilter{Identity: "alice@example.com"})
	if len(evs) == 0 || evs[len(evs)-1].Type != store.AuditExchange || !strings.Contains(evs[len(evs)-1].Reason, "corp") {
		t.Errorf("audit log of alice: %+v", evs)
	}
}

// TestPersonLoginBrowser: `gatehouse login --browser` with the
// authorization code flow and PKCE; a Go HTTP client stands in for the
// browser and follows the redirects back to the CLI's loopback listener.
func TestPersonLoginBrowser(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	op.SetUser(map[string]any{"sub": "u9", "email": "carol@example.com", "email_verified": true, "groups": []string{"ci"}})
	h := startUp(t, func(cfg *config.Config) {
		cfg.Auth.OIDC = []config.OIDCProvider{{Issuer: op.Issuer(), ClientID: oidctest.ClientID, GroupsClaim: "groups"}}
	})
	home := t.TempDir()
	cli := h.startBrowserLogin(t, home, "--browser", "--no-open")
	resp, err := http.Get(cli.URL) // the "browser": follows the redirect to the CLI
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Signed in") {
		t.Errorf("callback page: %q", page)
	}
	if out, err := cli.wait(); err != nil || !strings.Contains(out, "signed in as carol@example.com (groups ci)") {
		t.Fatalf("login --browser: %v: %s", err, out)
	}
	tok := strings.TrimSpace(h.runCLIAs(t, home, "token").Stdout)
	if out, err := h.psql(t, tok, "browser", "-A", "-t", "-c", "SELECT 2"); err != nil || out != "2\n" {
		t.Fatalf("psql after a browser sign-in: %v: %q", err, out)
	}
}
