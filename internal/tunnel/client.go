package tunnel

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	randv2 "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/pki"
	"github.com/hashicorp/yamux"
)

// Files a Client keeps in its StateDir.
const (
	ClientCertFile = "client.crt"
	ClientKeyFile  = "client.key"
	CACertFile     = "ca.crt"
)

// Default reconnection backoff bounds of a Client.
const (
	DefaultMinBackoff = 250 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
)

// Client is the connector's end of the tunnel. It dials out to the gateway,
// enrolls with a join token the first time, then keeps one mutually
// authenticated connection up, reconnecting with capped exponential backoff.
//
// Set the exported fields before calling Run and do not change them after.
// Run must be called at most once at a time.
type Client struct {
	// Addr is the gateway's tunnel address, host:port. The gateway's
	// certificate must be valid for host.
	Addr string
	// Name is this connector's name. It must match the name the join token
	// was issued for, and the name in a stored certificate.
	Name string
	// JoinToken is used only when StateDir holds no certificate yet.
	JoinToken string
	// StateDir holds client.crt, client.key (mode 0600) and ca.crt after
	// enrollment. It is created (mode 0700) if needed.
	StateDir string
	// Accept handles a stream the gateway opened, in its own goroutine. It
	// must close the stream. Its ctx is cancelled when the connection the
	// stream belongs to ends or Run returns. If nil, such streams are
	// closed at once.
	Accept func(ctx context.Context, stream net.Conn)
	// MinBackoff and MaxBackoff bound the delay between connection
	// attempts; zero values mean DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives connection-level events; nil discards them.
	Logger *slog.Logger

	mu      sync.Mutex
	sess    *yamux.Session
	changed chan struct{} // closed and replaced whenever sess changes
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err: err} }

func isPermanent(err error) bool {
	var pe *permanentError
	if errors.As(err, &pe) {
		return true
	}
	var re *RemoteError
	return errors.As(err, &re) && re.Permanent()
}

func (c *Client) logger() *slog.Logger {
	if c.Logger == nil {
		return discardLogger()
	}
	return c.Logger
}

// Run enrolls the connector if StateDir holds no certificate, connects to the
// gateway, serves streams, and reconnects with backoff whenever the
// connection is lost, until ctx is done (then it returns nil, after closing
// the connection and waiting for Accept handlers). A permanent error (a
// missing, malformed, used or wrong-CA join token, a name mismatch, a
// damaged or expired stored certificate) is returned instead of retried.
func (c *Client) Run(ctx context.Context) error {
	if c.Addr == "" || c.Name == "" || c.StateDir == "" {
		return errors.New("tunnel client: Addr, Name and StateDir are required")
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("tunnel client: gateway address %q: %w", c.Addr, err)
	}
	minB, maxB := c.MinBackoff, c.MaxBackoff
	if minB <= 0 {
		minB = DefaultMinBackoff
	}
	if maxB <= 0 {
		maxB = DefaultMaxBackoff
	}
	if maxB < minB {
		maxB = minB
	}
	logger := c.logger().With("gateway", c.Addr, "connector", c.Name)

	var handlers sync.WaitGroup
	defer handlers.Wait()
	attempt := 0
	for {
		connected, err := c.runOnce(ctx, host, logger, &handlers)
		if ctx.Err() != nil {
			return nil
		}
		if isPermanent(err) {
			return fmt.Errorf("tunnel to %s: %w", c.Addr, err)
		}
		if connected {
			attempt = 0
		}
		delay := backoff(minB, maxB, attempt)
		attempt++
		logger.Warn("tunnel to gateway down, retrying", "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

// backoff returns the delay before attempt n (from 0): min doubled n times,
// capped at max, with the upper half randomised so that many connectors
// restarting together do not reconnect in lockstep.
func backoff(minB, maxB time.Duration, n int) time.Duration {
	d := maxB
	if n < 32 {
		if e := minB << n; e > 0 && e < maxB {
			d = e
		}
	}
	half := d / 2
	return half + randv2.N(d-half+1)
}

// runOnce enrolls if needed, then connects and serves one connection until it
// ends. It reports whether the gateway accepted the connection.
func (c *Client) runOnce(ctx context.Context, host string, logger *slog.Logger, handlers *sync.WaitGroup) (connected bool, err error) {
	id, err := c.loadIdentity()
	if err != nil {
		return false, err
	}
	if id == nil {
		if c.JoinToken == "" {
			return false, permanent(fmt.Errorf("no certificate in %s and no join token; get one with `gatehouse connectors join-token --name %s`", c.StateDir, c.Name))
		}
		if err := c.enroll(ctx, host); err != nil {
			return false, err
		}
		logger.Info("connector enrolled with the gateway")
		if id, err = c.loadIdentity(); err != nil {
			return false, err
		}
		if id == nil {
			return false, permanent(errors.New("enrollment stored no certificate"))
		}
	}

	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.cert},
		RootCAs:      id.roots,
		ServerName:   host,
		NextProtos:   []string{alpnProto},
	}
	tc, err := dialTLS(ctx, c.Addr, cfg)
	if err != nil {
		return false, err
	}
	var r reply
	err = WriteFrame(tc, hello{Version: protocolVersion, Op: opConnect})
	if err == nil {
		err = ReadFrame(tc, &r)
	}
	if err != nil {
		tc.Close()
		return false, fmt.Errorf("connect: %w", err)
	}
	if r.Error != "" {
		tc.Close()
		return false, &RemoteError{Code: r.Code, Message: r.Error}
	}
	tc.SetDeadline(time.Time{})

	sess, err := yamux.Client(newCoalescer(tc), muxConfig(logger))
	if err != nil {
		tc.Close()
		return false, fmt.Errorf("tunnel session: %w", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(cctx, func() { sess.Close() })
	defer stop()
	c.setSession(sess)
	defer c.clearSession(sess)
	logger.Info("tunnel to gateway up")

	for {
		st, err := sess.AcceptStream()
		if err != nil {
			sess.Close()
			return true, fmt.Errorf("tunnel connection lost: %w", err)
		}
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			if c.Accept == nil {
				st.Close()
				return
			}
			c.Accept(cctx, stream{st})
		}()
	}
}

func (c *Client) setSession(sess *yamux.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sess = sess
	if c.changed != nil {
		close(c.changed)
	}
	c.changed = make(chan struct{})
}

func (c *Client) clearSession(sess *yamux.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != sess {
		return
	}
	c.sess = nil
	if c.changed != nil {
		close(c.changed)
	}
	c.changed = make(chan struct{})
}

// Open opens a stream to the gateway on the current connection, waiting for
// one until ctx is done; the error then wraps ErrOffline and ctx.Err().
func (c *Client) Open(ctx context.Context) (net.Conn, error) {
	for {
		c.mu.Lock()
		sess := c.sess
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		changed := c.changed
		c.mu.Unlock()

		if sess != nil {
			st, err := sess.OpenStream()
			if err == nil {
				return stream{st}, nil
			}
			if !errors.Is(err, yamux.ErrSessionShutdown) && !errors.Is(err, yamux.ErrRemoteGoAway) {
				return nil, fmt.Errorf("open stream to gateway: %w", err)
			}
			// The session died; wait for Run to notice and reconnect.
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("open stream to gateway: %w: %w", ErrOffline, ctx.Err())
		}
	}
}

// Connected reports whether the client has a live connection to the gateway.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess != nil && !c.sess.IsClosed()
}

// identity is an enrolled connector's credentials.
type identity struct {
	cert  tls.Certificate
	roots *x509.CertPool
}

// loadIdentity reads the stored certificate, or returns nil, nil when there
// is none yet.
func (c *Client) loadIdentity() (*identity, error) {
	certPath := filepath.Join(c.StateDir, ClientCertFile)
	if _, err := os.Stat(certPath); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certPath, filepath.Join(c.StateDir, ClientKeyFile))
	if err != nil {
		return nil, permanent(fmt.Errorf("load connector certificate from %s: %w", c.StateDir, err))
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, permanent(fmt.Errorf("load connector certificate from %s: %w", c.StateDir, err))
	}
	if cn := leaf.Subject.CommonName; cn != c.Name {
		return nil, permanent(fmt.Errorf("%s holds the certificate of connector %q, not %q", c.StateDir, cn, c.Name))
	}
	if time.Now().After(leaf.NotAfter) {
		return nil, permanent(fmt.Errorf("connector certificate in %s expired on %s; remove %s and enroll again with a new join token",
			c.StateDir, leaf.NotAfter.UTC().Format(time.RFC3339), ClientCertFile))
	}
	caPEM, err := os.ReadFile(filepath.Join(c.StateDir, CACertFile))
	if err != nil {
		return nil, permanent(fmt.Errorf("load gateway CA: %w", err))
	}
	ca, err := pki.ParseCertificatePEM(caPEM)
	if err != nil {
		return nil, permanent(fmt.Errorf("load gateway CA from %s: %w", c.StateDir, err))
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	cert.Leaf = leaf
	return &identity{cert: cert, roots: roots}, nil
}

// enroll exchanges the join token and a new key's CSR for a certificate and
// stores them. The private key never leaves this process and StateDir.
func (c *Client) enroll(ctx context.Context, host string) error {
	fp, secret, err := ParseJoinToken(c.JoinToken)
	if err != nil {
		return permanent(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("enroll: generate key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: c.Name}}, key)
	if err != nil {
		return fmt.Errorf("enroll: create certificate request: %w", err)
	}

	// With no CA yet, trust the server chain only if it contains the CA the
	// join token pins, and the leaf is a server certificate for host issued
	// by it.
	var pinErr error
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		ServerName:         host,
		NextProtos:         []string{alpnProto},
		VerifyConnection: func(cs tls.ConnectionState) error {
			err := verifyPinned(cs, fp, host)
			if errors.Is(err, errPinMismatch) {
				pinErr = err
			}
			return err
		},
	}
	tc, err := dialTLS(ctx, c.Addr, cfg)
	if err != nil {
		if pinErr != nil {
			return permanent(fmt.Errorf("enroll: %w", pinErr))
		}
		return fmt.Errorf("enroll: %w", err)
	}
	defer tc.Close()

	var r reply
	err = WriteFrame(tc, hello{Version: protocolVersion, Op: opEnroll, Name: c.Name, Secret: secret, CSR: csr})
	if err == nil {
		err = ReadFrame(tc, &r)
	}
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	if r.Error != "" {
		err := fmt.Errorf("enroll: %w", &RemoteError{Code: r.Code, Message: r.Error})
		if r.Code == codeJoinRefused {
			// A join token works once: a connector enrolled before keeps
			// its certificate in StateDir, and a new one needs a new token.
			err = fmt.Errorf("%w; an admin issues a new one with: gatehouse connectors join-token --name %s", err, c.Name)
		}
		return err
	}

	caCert, err := x509.ParseCertificate(r.CA)
	if err != nil {
		return permanent(fmt.Errorf("enroll: gateway sent a bad CA certificate: %w", err))
	}
	if pki.Fingerprint(caCert.Raw) != fp {
		return permanent(fmt.Errorf("enroll: %w", errPinMismatch))
	}
	cert, err := x509.ParseCertificate(r.Cert)
	if err != nil {
		return permanent(fmt.Errorf("enroll: gateway sent a bad certificate: %w", err))
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return permanent(fmt.Errorf("enroll: issued certificate does not verify: %w", err))
	}
	if !key.PublicKey.Equal(cert.PublicKey) || cert.Subject.CommonName != c.Name {
		return permanent(errors.New("enroll: issued certificate is not for this connector's key and name"))
	}

	keyPEM, err := pki.MarshalKeyPEM(key)
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
		return fmt.Errorf("enroll: create state directory: %w", err)
	}
	// The certificate goes last: its presence marks a complete enrollment.
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{ClientKeyFile, keyPEM, 0o600},
		{CACertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw}), 0o644},
		{ClientCertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644},
	}
	for _, f := range files {
		if err := pki.WriteFileAtomic(filepath.Join(c.StateDir, f.name), f.data, f.perm); err != nil {
			return permanent(fmt.Errorf("enroll: store %s: %w", f.name, err))
		}
	}
	return nil
}

var errPinMismatch = errors.New("the gateway's CA does not match the fingerprint in the join token")

// verifyPinned checks a server chain against a pinned CA fingerprint.
func verifyPinned(cs tls.ConnectionState, fp, host string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("gateway sent no certificate")
	}
	var root *x509.Certificate
	inter := x509.NewCertPool()
	for _, cert := range cs.PeerCertificates[1:] {
		if pki.Fingerprint(cert.Raw) == fp {
			root = cert
		} else {
			inter.AddCert(cert)
		}
	}
	if root == nil {
		return errPinMismatch
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		DNSName:       host,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("gateway certificate: %w", err)
	}
	return nil
}

// dialTLS dials addr and completes the TLS handshake. The returned
// connection keeps a deadline for the hello exchange; the caller clears it.
func dialTLS(ctx context.Context, addr string, cfg *tls.Config) (*tls.Conn, error) {
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(hctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial gateway: %w", err)
	}
	tc := tls.Client(raw, cfg)
	tc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("tls handshake with gateway: %w", err)
	}
	return tc, nil
}
