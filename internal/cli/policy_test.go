package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPolicyCheckNeedsNoSecrets: `policy check` works on a configuration
// whose connection password comes from an unset variable, while up,
// gateway and connector refuse it on one line naming the field.
func TestPolicyCheckNeedsNoSecrets(t *testing.T) {
	const pwVar = "GATEHOUSE_TEST_PROD_DB_PASSWORD"
	t.Setenv(pwVar, "") // restores the old value at cleanup
	if err := os.Unsetenv(pwVar); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`data_dir: %s
gateway: {api: 127.0.0.1:0, postgres: 127.0.0.1:0}
connector: {name: dc1, gateway: 127.0.0.1:1, join_token: x}
connections:
  - name: prod-db
    address: 127.0.0.1:1
    database: app
    username: gatehouse_svc
    password: ${%s}
    tags: {env: prod}
policies:
  - name: ci
    subjects: [group:ci]
    connections: [tag:env=prod]
    rules:
      - match: {statement: [drop]}
        action: deny
        reason: schema changes go through migrations
`, filepath.Join(dir, "data"), pwVar))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	gatehouse := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(ctx, args, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	check := []string{"policy", "check", "--config", cfgPath, "--identity", "ci-bot", "--groups", "ci", "--connection", "prod-db"}
	code, out, errOut := gatehouse(append(check, "SELECT 1")...)
	if code != 0 || !strings.Contains(out, "decision:   allow\npolicy:     ci\n") {
		t.Errorf("policy check SELECT 1: exit %d, stdout %q, stderr %q; want allowed by policy ci", code, out, errOut)
	}
	code, out, errOut = gatehouse(append(check, "DROP TABLE orders")...)
	if code != 1 || !strings.Contains(out, "decision:   deny") || errOut != "gatehouse: statement would be blocked by policy ci\n" {
		t.Errorf("policy check DROP: exit %d, stdout %q, stderr %q; want denied by policy ci", code, out, errOut)
	}

	for _, role := range []string{"up", "gateway", "connector"} {
		code, out, errOut := gatehouse(role, "--config", cfgPath)
		want := "connections[0].password: environment variable " + pwVar + " is not set"
		if code != 1 || !strings.Contains(errOut, want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and one line saying %q", role, code, out, errOut, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("a role started with the variable unset: the data dir exists (%v)", err)
	}
}
