package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// impostor is a TLS server on a loopback port with a certificate of its
// own for 127.0.0.1, that keeps whatever a client sends it after the
// handshake.
type impostor struct {
	addr string
	mu   sync.Mutex
	got  []byte
	hs   int // completed TLS handshakes
}

func startImpostor(t *testing.T) *impostor {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	im := &impostor{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go im.serve(c, cfg)
		}
	}()
	return im
}

func (im *impostor) serve(c net.Conn, cfg *tls.Config) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var req [8]byte
	if _, err := io.ReadFull(c, req[:]); err != nil || binary.BigEndian.Uint32(req[4:]) != 80877103 {
		return
	}
	c.Write([]byte{'S'})
	tc := tls.Server(c, cfg)
	if err := tc.Handshake(); err != nil {
		return
	}
	im.mu.Lock()
	im.hs++
	im.mu.Unlock()
	// Ask for a cleartext password after the startup message, and keep
	// everything.
	buf := make([]byte, 4096)
	n, _ := tc.Read(buf)
	tc.Write([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3})
	m, _ := io.ReadAtLeast(tc, buf[n:], 1)
	im.mu.Lock()
	im.got = append(im.got, buf[:n+m]...)
	im.mu.Unlock()
}

func (im *impostor) received() (string, int) {
	im.mu.Lock()
	defer im.mu.Unlock()
	return string(im.got), im.hs
}

// TestConnectVerifiesGateway: gatehouse connect sends the token only to a
// listener whose certificate the gateway's CA signed; pointed elsewhere
// (--postgres), the local client gets an error and the other server
// nothing. And the local port is on loopback only, however it is named.
func TestConnectVerifiesGateway(t *testing.T) {
	t.Parallel()
	h := startUp(t, nil)
	tok := h.ciToken(t)
	psqlBin := requireBinary(t, "psql")
	im := startImpostor(t)

	addr, out := h.startConnect(t, tok, connName, "--postgres", im.addr)
	host, port, _ := net.SplitHostPort(addr)
	got, err := runCmd(t, psqlBin, []string{"-X", "-w", fmt.Sprintf("host=%s port=%s dbname=%s", host, port, h.db), "-c", "SELECT 1"},
		cleanEnv("PGCONNECT_TIMEOUT=30"), t.TempDir())
	if err == nil || !strings.Contains(got, "gatehouse: cannot reach the gateway") {
		t.Errorf("psql through a forwarder pointed at another server: %v: %s", err, got)
	}
	recv, hs := im.received()
	if hs != 0 || strings.Contains(recv, tok) {
		t.Errorf("the other server completed %d handshakes and received %q", hs, recv)
	}
	for _, s := range []string{got, out.String()} {
		if strings.Contains(s, tok) {
			t.Errorf("the token was printed: %s", s)
		}
	}

	for _, listen := range []string{"0.0.0.0:0", "[::]:0", ":0", "10.0.0.1:0", "example.com:0"} {
		if res := h.runCLI(t, tok, "connect", connName, "--listen", listen); res.Code != 1 || !strings.Contains(res.Stderr, "loopback") {
			t.Errorf("connect --listen %s: exit %d: %s", listen, res.Code, res.Stderr)
		}
	}
}

// TestConnectLocalhostElsewhere: --listen localhost:PORT takes whatever
// the resolver says localhost is; where /etc/hosts (or DNS) says otherwise,
// the port would be open to the network without a password.
func TestConnectLocalhostElsewhere(t *testing.T) {
	t.Parallel()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		pgtest.Missing(t, "no unshare(1) to give the command its own /etc/hosts")
	}
	var public net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			public = ipn.IP
			break
		}
	}
	if public == nil {
		pgtest.Missing(t, "no non-loopback IPv4 address to resolve localhost to")
	}
	h := startUp(t, nil)
	hosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, []byte(public.String()+" localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$1" /etc/hosts && shift && exec "$@"`, "sh", hosts, os.Args[0], "connect", connName, "--listen", "localhost:0")
	cmd.Env = cleanEnv(cliEnv+"=1", "GATEHOUSE_URL="+h.apiURL(), "GATEHOUSE_TOKEN="+h.ciToken(t), "HOME="+t.TempDir())
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if strings.Contains(out.String(), "mount") && !strings.Contains(out.String(), "loopback") {
			pgtest.Missing(t, "cannot bind-mount /etc/hosts here (run as root): %s", out)
		}
		if err == nil || !strings.Contains(out.String(), "not a loopback address") {
			t.Errorf("connect --listen localhost:0 with localhost at %s: %v: %s", public, err, out)
		}
	case <-time.After(15 * time.Second):
		cancel()
		<-done
		t.Errorf("connect --listen localhost:0 with localhost at %s served: %s", public, out)
	}
}
