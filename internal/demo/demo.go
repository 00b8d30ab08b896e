// Package demo starts a throwaway PostgreSQL with sample data for
// `gatehouse demo`, and builds the configuration that puts gatehouse in
// front of it.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// Postgres is a running throwaway PostgreSQL server.
type Postgres struct {
	Dir      string
	Port     int
	User     string
	Password string
	cmd      *exec.Cmd
	done     chan struct{}
}

// FindBinaries returns the directory holding initdb and postgres.
func FindBinaries() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := string(trimNL(out))
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Strings(matches)
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL server binaries not found: install them (Debian: apt-get install postgresql)")
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// StartPostgres initializes and starts a server in a new temporary
// directory, on a free loopback port. PostgreSQL refuses to run as root, so
// as root it runs as the "postgres" user.
func StartPostgres(ctx context.Context) (*Postgres, error) {
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gatehouse-demo-pg-")
	if err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, errors.New("running as root needs a \"postgres\" OS user to run PostgreSQL as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("chown temp dir: %w", err)
		}
	}
	pw := randomHex(12)
	p := &Postgres{Dir: dir, User: "postgres", Password: pw, done: make(chan struct{})}
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		p.cleanup()
		return nil, err
	}
	if cred != nil {
		_ = os.Chown(pwFile, int(cred.Uid), int(cred.Gid))
	}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"--pwfile="+pwFile, "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		p.cleanup()
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	os.Remove(pwFile)
	if p.Port, err = freePort(); err != nil {
		p.cleanup()
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		p.cleanup()
		return nil, err
	}
	p.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(dir, "data"), "-k", dir,
		"-p", strconv.Itoa(p.Port), "-h", "127.0.0.1", "-c", "fsync=off")
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		p.cleanup()
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	go func() {
		_ = p.cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	if err := p.waitReady(ctx); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func (p *Postgres) connConfig(db string) (*pgconn.Config, error) {
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", p.Port, db))
	if err != nil {
		return nil, err
	}
	cfg.Password = p.Password
	return cfg, nil
}

func (p *Postgres) waitReady(ctx context.Context) error {
	cfg, err := p.connConfig("postgres")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := pgconn.ConnectConfig(ctx, cfg)
		if err == nil {
			c.Close(ctx)
			return nil
		}
		select {
		case <-p.done:
			log, _ := os.ReadFile(filepath.Join(p.Dir, "postgres.log"))
			return fmt.Errorf("postgres exited: %s", log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not become ready: %w", err)
		}
	}
}

// Seed creates the sample database "app" with customers and orders.
func (p *Postgres) Seed(ctx context.Context) error {
	cfg, err := p.connConfig("postgres")
	if err != nil {
		return err
	}
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if _, err := c.Exec(ctx, "CREATE DATABASE app").ReadAll(); err != nil {
		c.Close(ctx)
		return fmt.Errorf("create database: %w", err)
	}
	c.Close(ctx)
	cfg, _ = p.connConfig("app")
	c, err = pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, seedSQL).ReadAll(); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

const seedSQL = `
CREATE TABLE customers (
  id serial PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL UNIQUE,
  card_number text,
  phone text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orders (
  id serial PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers(id),
  amount_cents int NOT NULL,
  status text NOT NULL DEFAULT 'paid',
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO customers (name, email, card_number, phone) VALUES
  ('Ada Lovelace', 'ada@example.com', '4242 4242 4242 4242', '+44 20 7946 0958'),
  ('Grace Hopper', 'grace@example.com', '5555-5555-5555-4444', '+1 202 555 0143'),
  ('Alan Turing', 'alan@example.org', '378282246310005', '+44 161 496 0321'),
  ('Katherine Johnson', 'katherine@example.net', '6011111111111117', '+1 757 555 0199'),
  ('Edsger Dijkstra', 'edsger@example.nl', '4000056655665556', '+31 20 555 0172');
INSERT INTO orders (customer_id, amount_cents, status)
  SELECT 1 + (i % 5), 500 + (i * 137) % 20000, CASE WHEN i % 7 = 0 THEN 'refunded' ELSE 'paid' END
  FROM generate_series(1, 50) AS i;
`

// Stop stops the server and removes its directory.
func (p *Postgres) Stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.cleanup()
}

func (p *Postgres) cleanup() { os.RemoveAll(p.Dir) }

// Config returns a configuration with one connection, "demo", to the sample
// database, and a policy that lets group "demo" use it.
func (p *Postgres) Config(dataDir string) *config.Config {
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.Connections = []config.Connection{{
		Name:      "demo",
		Type:      "postgres",
		Connector: config.EmbeddedConnector,
		Address:   net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)),
		Database:  "app",
		Username:  p.User,
		Password:  config.Secret(p.Password),
		TLS:       "disable",
		Tags:      map[string]string{"env": "demo"},
	}}
	cfg.Policies = []config.Policy{{
		Name:        "demo-access",
		Subjects:    []string{"group:demo"},
		Connections: []string{"demo"},
		Access:      config.AccessAllow,
		MaxSession:  8 * time.Hour,
	}}
	return cfg
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
