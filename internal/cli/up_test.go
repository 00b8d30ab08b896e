package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUpReloadsPoliciesOnSIGHUP runs `gatehouse up`, then changes its
// configuration file and sends SIGHUP: a valid file is applied, an invalid
// one is refused and logged.
func TestUpReloadsPoliciesOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	write := func(doc string) {
		if err := os.WriteFile(cfgPath, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := "data_dir: " + filepath.Join(dir, "data") + "\ngateway: {api: 127.0.0.1:0, postgres: 127.0.0.1:0}\n"
	write(base)
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"up", "--config", cfgPath}, &stdout, &stderr) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("up exited %d: %s", code, stderr.String())
		}
	}()
	waitFor := func(s string) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !strings.Contains(stderr.String(), s); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("log never said %q:\n%s", s, stderr.String())
			}
		}
	}
	waitFor("gateway ready")

	write(base + "policies:\n  - name: p\n    subjects: [group:ci]\n    connections: ['*']\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(`msg="policies reloaded" policies=1`)

	write(base + "policies:\n  - name: p\n    subjects: [team:ci]\n    connections: ['*']\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("policies not reloaded")
	if !strings.Contains(stderr.String(), "policies[0].subjects[0]") {
		t.Errorf("the refusal does not name the field:\n%s", stderr.String())
	}
}
