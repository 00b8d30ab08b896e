package cli

import (
	"bytes"
	"context"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestMain(m *testing.M) {
	// Tables and timelines print local time; pin it so golden files hold
	// on any machine.
	time.Local = time.UTC
	os.Exit(m.Run())
}

// runCLI runs the client commands with args against env (nil env: empty
// environment) and returns what they printed.
func runCLI(tb testing.TB, env map[string]string, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	root := &cobra.Command{Use: "gatehouse", SilenceErrors: true, SilenceUsage: true}
	o := &clientOptions{getenv: func(k string) string { return env[k] }}
	o.register(root)
	root.AddCommand(newSessionsCmd(o), newReviewsCmd(o), newAuditCmd(o), newTokensCmd(o), newConnectorsCmd(o), newTokenCmd(o))
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// asUser returns the environment of a client that talks to e with token.
func asUser(e *apitest.Env, token string) map[string]string {
	return map[string]string{"GATEHOUSE_URL": e.URL, "GATEHOUSE_TOKEN": token}
}

// mustRun runs a command that must succeed.
func mustRun(tb testing.TB, env map[string]string, args ...string) string {
	tb.Helper()
	out, _, err := runCLI(tb, env, args...)
	if err != nil {
		tb.Fatalf("gatehouse %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// wantErr runs a command that must fail with an error containing want.
func wantErr(tb testing.TB, env map[string]string, want string, args ...string) error {
	tb.Helper()
	out, _, err := runCLI(tb, env, args...)
	if err == nil {
		tb.Fatalf("gatehouse %s: succeeded with %q, want an error containing %q", strings.Join(args, " "), out, want)
	}
	if !strings.Contains(err.Error(), want) {
		tb.Fatalf("gatehouse %s: got error %q, want one containing %q", strings.Join(args, " "), err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		tb.Errorf("error %q has more than one line", err)
	}
	return err
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}

func TestTokenResolution(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "xdg", "gatehouse", "token"), "ght_xdg\n")
	writeFile(t, filepath.Join(dir, "home", ".config", "gatehouse", "token"), "ght_home\n")
	writeFile(t, filepath.Join(dir, "data", "admin.token"), "ght_data\n")
	writeFile(t, filepath.Join(dir, "cwd", "gatehouse-data", "admin.token"), "  ght_cwd  \n")
	t.Chdir(filepath.Join(dir, "cwd"))

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"flag wins", []string{"--token", "ght_flag"}, map[string]string{"GATEHOUSE_TOKEN": "ght_env"}, "ght_flag"},
		{"environment", nil, map[string]string{"GATEHOUSE_TOKEN": "ght_env", "XDG_CONFIG_HOME": dir + "/xdg"}, "ght_env"},
		{"login file in XDG_CONFIG_HOME", nil, map[string]string{"XDG_CONFIG_HOME": dir + "/xdg", "HOME": dir + "/home"}, "ght_xdg"},
		{"login file in HOME", nil, map[string]string{"HOME": dir + "/home", "GATEHOUSE_DATA": dir + "/data"}, "ght_home"},
		{"admin token in GATEHOUSE_DATA", nil, map[string]string{"HOME": dir + "/nohome", "GATEHOUSE_DATA": dir + "/data"}, "ght_data"},
		{"admin token of a local up", nil, map[string]string{"HOME": dir + "/nohome"}, "ght_cwd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := mustRun(t, tc.env, append([]string{"token"}, tc.args...)...)
			if out != tc.want+"\n" {
				t.Errorf("got %q, want %q", out, tc.want+"\n")
			}
		})
	}

	t.Chdir(dir)
	wantErr(t, map[string]string{"HOME": dir + "/nohome"}, `no token: run "gatehouse login"`, "token")
}

func TestClientErrors(t *testing.T) {
	e := apitest.Start(t)
	person := e.Token(t, "alice", auth.KindPerson)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()

	bad := "ght_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"gateway down", map[string]string{"GATEHOUSE_URL": closed, "GATEHOUSE_TOKEN": person}, []string{"sessions", "list"},
			`cannot reach gateway at ` + closed + `: is "gatehouse up" running?`},
		{"bad token", asUser(e, bad), []string{"sessions", "list"}, `not authenticated`},
		{"not admin", asUser(e, person), []string{"tokens", "list"}, `not authorized: this command needs an admin token`},
		{"not admin issuing", asUser(e, person), []string{"tokens", "issue", "--identity", "bob"}, `not authorized: this command needs an admin token`},
		{"plain http off loopback", map[string]string{"GATEHOUSE_URL": "http://gw.example.com:8080", "GATEHOUSE_TOKEN": person},
			[]string{"sessions", "list"}, `refusing to send a token over plain http to gw.example.com`},
		{"bad URL", map[string]string{"GATEHOUSE_TOKEN": person}, []string{"--gateway", "ftp://x", "sessions", "list"}, `invalid gateway URL "ftp://x"`},
		{"unknown session", asUser(e, person), []string{"sessions", "show", "s_nope"}, `session "s_nope" not found`},
		{"unknown token", asUser(e, e.AdminToken), []string{"tokens", "revoke", "tok_nope"}, `token "tok_nope" not found`},
		{"missing identity", asUser(e, e.AdminToken), []string{"tokens", "issue"}, `missing --identity`},
		{"bad ttl", asUser(e, e.AdminToken), []string{"tokens", "issue", "--identity", "bob", "--ttl", "soon"}, `invalid ttl "soon"`},
		{"missing name", asUser(e, e.AdminToken), []string{"connectors", "join-token"}, `missing --name`},
		{"export format", asUser(e, e.AdminToken), []string{"sessions", "export", "s1", "--format", "csv"}, `unsupported export format "csv"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := wantErr(t, tc.env, tc.want, tc.args...)
			for _, secret := range []string{person, bad, e.AdminToken} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains a token", err)
				}
			}
		})
	}
}
