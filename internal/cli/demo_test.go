package cli

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/pgserver"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
)

// syncBuffer is a bytes.Buffer safe to read while another goroutine writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemo runs `gatehouse demo` as the README tells a new user to, then
// pastes the psql command it prints and checks the sample data comes back
// and the session is recorded.
func TestDemo(t *testing.T) {
	if !pgserver.Available() {
		pgtest.Missing(t, "PostgreSQL server binaries not installed")
	}
	psql, err := exec.LookPath("psql")
	if err != nil {
		pgtest.Missing(t, "psql not installed")
	}
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--data", data, "--postgres", "127.0.0.1:0", "--api", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("demo exited %d: %s", code, stderr.String())
		}
	}()

	cmdRE := regexp.MustCompile(`PGPASSWORD=(\S+) psql "([^"]+)"`)
	var m []string
	for deadline := time.Now().Add(2 * time.Minute); m == nil; {
		m = cmdRE.FindStringSubmatch(stdout.String())
		select {
		case code := <-done:
			done <- code
			t.Fatalf("demo exited %d before printing the psql command: %s", code, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no psql command printed; stdout: %s stderr: %s", stdout.String(), stderr.String())
		}
	}
	psqlRun := func(sql string) (string, error) {
		c := exec.Command(psql, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", m[2], "-c", sql)
		c.Env = append(c.Environ(), "PGPASSWORD="+m[1])
		out, err := c.CombinedOutput()
		return string(out), err
	}
	out, err := psqlRun("SELECT name, email, card_number, phone FROM customers ORDER BY id LIMIT 2")
	if err != nil {
		t.Fatalf("psql: %v: %s", err, out)
	}
	// The demo policy masks card numbers, emails and phone numbers.
	if want := "Ada Lovelace|a***@example.com|**** **** **** 4242|[REDACTED:phone]\nGrace Hopper|g***@example.com|****-****-****-4444|[REDACTED:phone]\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}

	// The connection reaches the target as a role of its own, not the
	// superuser, that can read and write the sample tables but not drop them.
	if out, err := psqlRun("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"); err != nil || out != "gatehouse_svc|f\n" {
		t.Errorf("current_user and rolsuper: got %q (%v), want gatehouse_svc|f", out, err)
	}
	if out, err := psqlRun("BEGIN; INSERT INTO orders (customer_id, amount_cents) VALUES (1, 100); " +
		"UPDATE customers SET phone = NULL WHERE id = 5; DELETE FROM orders WHERE id = 1; ROLLBACK"); err != nil {
		t.Errorf("insert, update and delete on the sample tables: %v: %s", err, out)
	}
	if out, err := psqlRun("DROP TABLE orders"); err == nil || !strings.Contains(out, "must be owner of table orders") {
		t.Errorf("DROP TABLE orders: got %q (%v), want it refused by the target", out, err)
	}
	if strings.Contains(stdout.String()+stderr.String(), "password=") {
		t.Error("demo output mentions a password")
	}
	if !strings.Contains(stdout.String(), "gatehouse sessions list") {
		t.Error("demo does not tell the user how to see the recording")
	}
}
