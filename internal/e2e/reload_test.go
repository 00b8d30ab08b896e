package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestUpPolicyApply replaces the policies of a running gateway: an invalid
// document is refused whole with the field named, a valid one applies to
// the next session.
func TestUpPolicyApply(t *testing.T) {
	t.Parallel()
	h := startUp(t, nil)
	tok := h.ciToken(t)
	ctx := ctxT(t)
	c := connect(t, h.pgxConfig(t, connName, tok, "before"))
	if _, err := c.Exec(ctx, "CREATE TABLE a (id int); DROP TABLE a", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("before apply: %v", err)
	}
	dir := t.TempDir()
	write := func(name, doc string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.yaml", "policies:\n  - name: ci\n    subjects: [group:ci]\n    connections: ['*']\n    rules:\n      - match: {statement: [drop]}\n        action: block\n")
	res := h.runCLI(t, h.adminToken(t), "policy", "apply", "-f", bad)
	if res.Code == 0 || !strings.Contains(res.Stderr, "policies[0].rules[0].action") {
		t.Fatalf("invalid policies: exit %d, stderr %q; want a refusal naming the field", res.Code, res.Stderr)
	}
	if res := h.runCLI(t, tok, "policy", "apply", "-f", bad); res.Code == 0 {
		t.Error("a non-admin applied policies")
	}
	c2 := connect(t, h.pgxConfig(t, connName, tok, "after-bad"))
	if _, err := c2.Exec(ctx, "CREATE TABLE b (id int); DROP TABLE b", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("the refused document changed the policies: %v", err)
	}
	// A whole config file, as on disk: the gateway has no environment for
	// its secrets and does not need them.
	good := write("good.yaml", "connections:\n  - name: other\n    address: 10.0.0.9:5432\n    username: svc\n    password: ${GATEHOUSE_E2E_UNSET_PW}\n"+
		"policies:\n  - name: ci\n    subjects: [group:ci]\n    connections: ['*']\n    rules:\n      - match: {statement: [drop]}\n        action: deny\n        reason: no drops\n")
	if res := h.runCLI(t, h.adminToken(t), "policy", "apply", "-f", good); res.Code != 0 || !strings.Contains(res.Stdout, "policies applied (sha256:") {
		t.Fatalf("apply: exit %d: %s%s", res.Code, res.Stdout, res.Stderr)
	}
	c3 := connect(t, h.pgxConfig(t, connName, tok, "after-good"))
	if _, err := c3.Exec(ctx, "CREATE TABLE d (id int)"); err != nil {
		t.Fatal(err)
	}
	if _, err := c3.Exec(ctx, "DROP TABLE d"); pgCode(err) != "42501" || !strings.Contains(err.Error(), "gatehouse: blocked by policy ci: no drops") {
		t.Fatalf("after apply: got %v, want the new rule to block", err)
	}
}
