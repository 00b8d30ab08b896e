package pgserver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// BinDir returns the directory of the PostgreSQL server binaries: the one
// pg_config names, else the newest of Debian's /usr/lib/postgresql/*/bin,
// else the directory of initdb on PATH; "" when none is found.
func BinDir() string {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) > 0 {
		sort.Slice(matches, func(i, j int) bool { return pgVersion(matches[i]) < pgVersion(matches[j]) })
		return filepath.Dir(matches[len(matches)-1])
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

// pgVersion extracts the major version from .../postgresql/N/bin/initdb.
func pgVersion(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

// Options configures a server. The zero value gives a plain-TCP server with
// scram-sha-256 host authentication.
type Options struct {
	// TLS enables ssl=on with a freshly generated self-signed certificate for
	// localhost and 127.0.0.1; Server.CACertPEM holds it.
	TLS bool
	// HBA holds extra pg_hba.conf lines placed before the default rules, e.g.
	// "host all md5user 127.0.0.1/32 md5". A role meant for md5 must store an
	// md5 hash: SET password_encryption = 'md5' before CREATE ROLE.
	HBA string
	// Config holds extra server settings passed as -c name=value.
	Config map[string]string
}

// Server is a running throwaway PostgreSQL server.
type Server struct {
	// Host is the loopback address the server listens on.
	Host string
	// Port is the TCP port.
	Port int
	// Password is the password of the superuser "postgres".
	Password string
	// Dir is the server's temporary directory (data, socket, log).
	Dir string
	// CACertPEM is the PEM certificate that signs the server's certificate
	// when Options.TLS is set; nil otherwise.
	CACertPEM []byte

	cmd    *exec.Cmd
	exited chan struct{}
	logf   string
}

// Available reports whether the PostgreSQL server binaries exist.
func Available() bool {
	dir := BinDir()
	if dir == "" {
		return false
	}
	for _, b := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return false
		}
	}
	return true
}

// Addr returns the server's host:port.
func (s *Server) Addr() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// DSN returns a URL connecting as the superuser to database db without TLS.
func (s *Server) DSN(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", s.Password),
		Host:     s.Addr(),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Exec runs sql (several statements are allowed) as the superuser in
// database db.
func (s *Server) Exec(ctx context.Context, db, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := pgconn.Connect(ctx, s.DSN(db))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
		return err
	}
	return nil
}

// runAs describes the credential the server runs with: the postgres user
// when we are root, ourselves otherwise.
type runAs struct {
	cred     *syscall.Credential
	uid, gid int
}

func lookupRunAs() (runAs, error) {
	if os.Geteuid() != 0 {
		return runAs{uid: -1, gid: -1}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return runAs{}, fmt.Errorf("look up the postgres user: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return runAs{}, fmt.Errorf("postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return runAs{}, fmt.Errorf("postgres gid %q: %w", u.Gid, err)
	}
	return runAs{
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}},
		uid:  uid,
		gid:  gid,
	}, nil
}

func (r runAs) chown(path string) error {
	if r.cred == nil {
		return nil
	}
	if err := os.Chown(path, r.uid, r.gid); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}

// writeFile writes a file owned by the server's user with the given mode.
func (r runAs) writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(path, mode); err != nil {
		return err
	}
	return r.chown(path)
}

func (r runAs) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: r.cred,
		// Fast shutdown if the test binary dies without cleaning up.
		Pdeathsig: syscall.SIGQUIT,
	}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

// Start initializes and starts a server in a new temporary directory, on
// a free loopback port. Stop it with Stop.
func Start(opts Options) (*Server, error) {
	if !Available() {
		return nil, errors.New("PostgreSQL server binaries not found: install them (Debian: apt-get install postgresql)")
	}
	ra, err := lookupRunAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gatehouse-pg-")
	if err != nil {
		return nil, fmt.Errorf("make temp dir: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if err := ra.chown(dir); err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", Password: randHex(16), Dir: dir, logf: filepath.Join(dir, "postgres.log")}

	pwfile := filepath.Join(dir, "pwfile")
	if err := ra.writeFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write password file: %w", err)
	}
	data := filepath.Join(dir, "data")
	initdb := ra.command(filepath.Join(BinDir(), "initdb"),
		"-D", data, "-U", "postgres", "--pwfile="+pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256",
		"--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	os.Remove(pwfile)

	hba := "local all all trust\n" + strings.TrimSpace(opts.HBA) + "\n" +
		"host all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n"
	if err := ra.writeFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return nil, fmt.Errorf("write pg_hba.conf: %w", err)
	}

	settings := map[string]string{
		"fsync":              "off",
		"synchronous_commit": "off",
		"full_page_writes":   "off",
		"max_connections":    "100",
	}
	if opts.TLS {
		certPEM, keyPEM, err := SelfSigned()
		if err != nil {
			return nil, err
		}
		if err := ra.writeFile(filepath.Join(dir, "server.crt"), certPEM, 0o644); err != nil {
			return nil, fmt.Errorf("write server cert: %w", err)
		}
		if err := ra.writeFile(filepath.Join(dir, "server.key"), keyPEM, 0o600); err != nil {
			return nil, fmt.Errorf("write server key: %w", err)
		}
		s.CACertPEM = certPEM
		settings["ssl"] = "on"
		settings["ssl_cert_file"] = filepath.Join(dir, "server.crt")
		settings["ssl_key_file"] = filepath.Join(dir, "server.key")
	}
	for k, v := range opts.Config {
		settings[k] = v
	}

	// The free port we pick can be taken before the server binds it; retry.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.Port = port
		lastErr = s.run(ra, data, settings)
		if lastErr == nil {
			ok = true
			return s, nil
		}
		if !strings.Contains(s.log(), "could not bind") && !strings.Contains(s.log(), "could not create any TCP/IP sockets") {
			break
		}
	}
	return nil, lastErr
}

func (s *Server) run(ra runAs, data string, settings map[string]string) error {
	logFile, err := os.OpenFile(s.logf, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open server log: %w", err)
	}
	defer logFile.Close()

	args := []string{"-D", data, "-k", s.Dir, "-p", strconv.Itoa(s.Port), "-h", s.Host}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	cmd := ra.command(filepath.Join(BinDir(), "postgres"), args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		cmd.Wait()
		close(s.exited)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		err := s.ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited during start-up: %s\n%s", cmd.ProcessState, s.log())
		case <-ctx.Done():
			s.Stop()
			return fmt.Errorf("postgres not ready after %v: %v\n%s", startTimeout, err, s.log())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

func (s *Server) log() string {
	b, _ := os.ReadFile(s.logf)
	if len(b) > 16<<10 {
		b = b[len(b)-16<<10:]
	}
	return string(b)
}

// stop asks for a fast shutdown (SIGINT), waits for it and removes the
// directory.
// Stop stops the server and removes its directory.
func (s *Server) Stop() error {
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			s.cmd.Process.Kill()
			<-s.exited
			err = fmt.Errorf("postgres did not stop within %v; killed\n%s", stopTimeout, s.log())
		}
	}
	if rmErr := os.RemoveAll(s.Dir); rmErr != nil && err == nil {
		err = fmt.Errorf("remove %s: %w", s.Dir, rmErr)
	}
	return err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// SelfSigned returns a new self-signed ECDSA certificate, its own CA, and
// its PKCS#8 key, in PEM, for localhost, 127.0.0.1 and ::1.
func SelfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, fmt.Errorf("serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"gatehouse throwaway PostgreSQL"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal key: %w", err)
	}
	var cb, kb bytes.Buffer
	pem.Encode(&cb, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&kb, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return cb.Bytes(), kb.Bytes(), nil
}
