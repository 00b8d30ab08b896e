package pki_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/pki"
)

// MustCA creates a CA in a new temporary directory and returns it with the directory.
func MustCA(tb testing.TB) (*pki.CA, string) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "pki")
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		tb.Fatalf("LoadOrCreateCA: %v", err)
	}
	return ca, dir
}

func mode(tb testing.TB, path string) os.FileMode {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestLoadOrCreateCA(t *testing.T) {
	ca, dir := MustCA(t)
	if got := mode(t, filepath.Join(dir, "ca.key")); got != 0o600 {
		t.Errorf("ca.key mode: got %o, want 600", got)
	}
	if got := mode(t, dir); got != 0o700 {
		t.Errorf("dir mode: got %o, want 700", got)
	}
	cert := ca.Certificate()
	if !cert.IsCA {
		t.Error("root is not a CA")
	}
	if got, want := cert.NotAfter.Sub(cert.NotBefore), 10*365*24*time.Hour; got < want {
		t.Errorf("validity: got %v, want at least %v", got, want)
	}
	if got, want := len(ca.Fingerprint()), 64; got != want {
		t.Errorf("fingerprint length: got %d, want %d", got, want)
	}
	if got, want := ca.Fingerprint(), pki.Fingerprint(cert.Raw); got != want {
		t.Errorf("fingerprint: got %s, want %s", got, want)
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, ca.CertPEM()) {
		t.Error("CertPEM differs from ca.crt")
	}

	again, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got, want := again.Fingerprint(), ca.Fingerprint(); got != want {
		t.Errorf("reloaded fingerprint: got %s, want %s", got, want)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: again.Pool()}); err != nil {
		t.Errorf("root does not verify against Pool: %v", err)
	}
}

func TestLoadOrCreateCABrokenState(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		wantErr string
	}{
		{
			name:    "key missing",
			damage:  func(t *testing.T, dir string) { mustRemove(t, filepath.Join(dir, "ca.key")) },
			wantErr: "only one of",
		},
		{
			name:    "cert missing",
			damage:  func(t *testing.T, dir string) { mustRemove(t, filepath.Join(dir, "ca.crt")) },
			wantErr: "only one of",
		},
		{
			name: "key from another CA",
			damage: func(t *testing.T, dir string) {
				_, other := MustCA(t)
				copyFile(t, filepath.Join(other, "ca.key"), filepath.Join(dir, "ca.key"))
			},
			wantErr: "does not match",
		},
		{
			name: "garbage cert",
			damage: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("not pem"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "no PEM CERTIFICATE",
		},
		{
			name: "garbage key",
			damage: func(t *testing.T, dir string) {
				bad := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("secret-ish bytes")})
				if err := os.WriteFile(filepath.Join(dir, "ca.key"), bad, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "malformed private key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, dir := MustCA(t)
			tt.damage(t, dir)
			before, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
			_, err := pki.LoadOrCreateCA(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "secret-ish") {
				t.Errorf("error leaks key bytes: %v", err)
			}
			// The CA must never be silently replaced.
			after, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
			if !bytes.Equal(before, after) {
				t.Error("ca.crt was rewritten")
			}
		})
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func leafOf(tb testing.TB, c tls.Certificate) *x509.Certificate {
	tb.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		tb.Fatal(err)
	}
	return leaf
}

func TestLoadOrIssueServer(t *testing.T) {
	ca, caDir := MustCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	hosts := []string{"localhost", "127.0.0.1", "::1", "Gateway.Example.com"}

	first, err := ca.LoadOrIssueServer(certFile, keyFile, hosts)
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	if got := mode(t, keyFile); got != 0o600 {
		t.Errorf("key mode: got %o, want 600", got)
	}
	if got, want := len(first.Certificate), 2; got != want {
		t.Fatalf("chain length: got %d, want %d (leaf and CA)", got, want)
	}
	if got, want := pki.Fingerprint(first.Certificate[1]), ca.Fingerprint(); got != want {
		t.Errorf("chain[1] fingerprint: got %s, want the CA's %s", got, want)
	}
	leaf := leafOf(t, first)
	for _, h := range []string{"localhost", "127.0.0.1", "::1", "gateway.example.com"} {
		if _, err := leaf.Verify(x509.VerifyOptions{
			Roots:     ca.Pool(),
			DNSName:   h,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			t.Errorf("verify for %s: %v", h, err)
		}
	}

	t.Run("reused when unchanged", func(t *testing.T) {
		again, err := ca.LoadOrIssueServer(certFile, keyFile, []string{"127.0.0.1", "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := leafOf(t, again).SerialNumber, leaf.SerialNumber; got.Cmp(want) != 0 {
			t.Errorf("serial: got %v, want reused %v", got, want)
		}
	})
	t.Run("reissued for a new host", func(t *testing.T) {
		again, err := ca.LoadOrIssueServer(certFile, keyFile, []string{"localhost", "10.1.2.3"})
		if err != nil {
			t.Fatal(err)
		}
		if leafOf(t, again).SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			t.Error("certificate not reissued for a host it does not cover")
		}
	})
	t.Run("reissued when missing", func(t *testing.T) {
		mustRemove(t, keyFile)
		again, err := ca.LoadOrIssueServer(certFile, keyFile, hosts)
		if err != nil {
			t.Fatal(err)
		}
		if leafOf(t, again).SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			t.Error("certificate not reissued after its key was removed")
		}
	})
	t.Run("reissued when issued by another CA", func(t *testing.T) {
		other, _ := MustCA(t)
		foreign, err := other.LoadOrIssueServer(certFile, keyFile, hosts)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ca.LoadOrIssueServer(certFile, keyFile, hosts)
		if err != nil {
			t.Fatal(err)
		}
		if leafOf(t, again).SerialNumber.Cmp(leafOf(t, foreign).SerialNumber) == 0 {
			t.Error("foreign certificate kept")
		}
		if _, err := leafOf(t, again).Verify(x509.VerifyOptions{Roots: ca.Pool()}); err != nil {
			t.Errorf("reissued certificate does not chain to the CA: %v", err)
		}
	})
	t.Run("reissued when expiring soon", func(t *testing.T) {
		writeExpiringCert(t, caDir, ca, certFile, keyFile)
		again, err := ca.LoadOrIssueServer(certFile, keyFile, hosts)
		if err != nil {
			t.Fatal(err)
		}
		if leafOf(t, again).SerialNumber.Int64() == 42 {
			t.Fatal("expiring certificate kept")
		}
		if got := time.Until(leafOf(t, again).NotAfter); got < 300*24*time.Hour {
			t.Errorf("reissued certificate expires in %v, want about a year", got)
		}
	})
	t.Run("bad hosts", func(t *testing.T) {
		for _, hosts := range [][]string{nil, {"host:443"}, {""}} {
			if _, err := ca.LoadOrIssueServer(certFile, keyFile, hosts); err == nil {
				t.Errorf("hosts %q: got nil error, want one", hosts)
			}
		}
	})
}

// writeExpiringCert stores a server certificate for localhost, signed by the
// CA's own key read from caDir, that expires in ten days.
func writeExpiringCert(t *testing.T, caDir string, ca *pki.CA, certFile, keyFile string) {
	t.Helper()
	caKeyPEM, err := os.ReadFile(filepath.Join(caDir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := pki.ParseKeyPEM(caKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "gateway.example.com"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Certificate(), key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.MarshalKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	// Sanity: apart from its expiry, the stored pair is acceptable.
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
}

func mustCSR(tb testing.TB, key any, cn string) []byte {
	tb.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func TestSignClientCSR(t *testing.T) {
	ca, _ := MustCA(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := mustCSR(t, key, "whatever-the-client-asked")

	t.Run("issues client cert", func(t *testing.T) {
		der, serial, err := ca.SignClientCSR(good, "dc1", 48*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cert.Subject.CommonName, "dc1"; got != want {
			t.Errorf("CN: got %q, want %q", got, want)
		}
		if got, want := serial, cert.SerialNumber.Text(16); got != want {
			t.Errorf("serial: got %s, want %s", got, want)
		}
		if !key.PublicKey.Equal(cert.PublicKey) {
			t.Error("certificate is not for the CSR's key")
		}
		if d := time.Until(cert.NotAfter); d > 48*time.Hour || d < 47*time.Hour {
			t.Errorf("lifetime: expires in %v, want about 48h", d)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("verify as client cert: %v", err)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
			t.Error("client certificate also valid for server auth")
		}
		_, serial2, err := ca.SignClientCSR(good, "dc1", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if serial2 == serial {
			t.Error("two certificates share a serial")
		}
	})

	tampered := bytes.Clone(good)
	tampered[len(tampered)-5] ^= 0xff
	weakRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		csr  []byte
		cn   string
		ttl  time.Duration
	}{
		{name: "bad signature", csr: tampered, cn: "dc1", ttl: time.Hour},
		{name: "garbage", csr: []byte("garbage"), cn: "dc1", ttl: time.Hour},
		{name: "empty name", csr: good, cn: "", ttl: time.Hour},
		{name: "zero ttl", csr: good, cn: "dc1", ttl: 0},
		{name: "weak rsa", csr: mustCSR(t, weakRSA, "dc1"), cn: "dc1", ttl: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := ca.SignClientCSR(tt.csr, tt.cn, tt.ttl); err == nil {
				t.Error("got nil error, want one")
			}
		})
	}
}

// TestServerCertTLS checks an issued certificate in a real TLS handshake on loopback.
func TestServerCertTLS(t *testing.T) {
	ca, _ := MustCA(t)
	dir := t.TempDir()
	cert, err := ca.LoadOrIssueServer(filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key"), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("ok"))
		c.Close()
	}()
	addr := ln.Addr().(*net.TCPAddr)
	conn, err := tls.Dial("tcp", addr.String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	buf := make([]byte, 2)
	if _, err := conn.Read(buf); err != nil || string(buf) != "ok" {
		t.Fatalf("read: got %q, %v", buf, err)
	}
}
