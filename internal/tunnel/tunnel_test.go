package tunnel_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/pki"
	"github.com/gatehouse-dev/gatehouse/internal/tunnel"
	"github.com/hashicorp/yamux"
)

func TestEnrollThenReconnectWithStoredCert(t *testing.T) {
	gw := StartGateway(t, gatewayOptions{})
	token := gw.Tokens.issue(t, gw.CA.Fingerprint(), "dc1")
	state := filepath.Join(t.TempDir(), "state")

	c1 := StartConnector(t, &tunnel.Client{Addr: gw.Addr, Name: "dc1", JoinToken: token, StateDir: state, Accept: connectorEcho})
	gw.WaitStatus(t, "dc1", true)
	if !gw.Server.Online("dc1") {
		t.Fatal("Online(dc1): got false after the online status event")
	}
	stream, err := gw.Server.Open(context.Background(), "dc1")
	if err != nil {
		t.Fatal(err)
	}
	if err := echoRoundTrip(t, stream, []byte("hello through the tunnel")); err != nil {
		t.Fatalf("echo: %v", err)
	}

	enrolled := gw.Enrolled()
	if len(enrolled) != 1 || !strings.HasPrefix(enrolled[0], "dc1/") {
		t.Fatalf("Enrolled calls: got %q, want one for dc1", enrolled)
	}
	for _, f := range []string{"client.crt", "client.key", "ca.crt"} {
		fi, err := os.Stat(filepath.Join(state, f))
		if err != nil {
			t.Fatalf("state file %s: %v", f, err)
		}
		if f == "client.key" && fi.Mode().Perm() != 0o600 {
			t.Errorf("client.key mode: got %o, want 600", fi.Mode().Perm())
		}
	}
	crt, err := pki.ParseCertificatePEM(mustRead(t, filepath.Join(state, "client.crt")))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := crt.SerialNumber.Text(16), strings.TrimPrefix(enrolled[0], "dc1/"); got != want {
		t.Errorf("stored certificate serial: got %s, want the enrolled %s", got, want)
	}
	if d := time.Until(crt.NotAfter); d < 360*24*time.Hour {
		t.Errorf("client certificate expires in %v, want about a year by default", d)
	}

	c1.Stop(t)
	gw.WaitStatus(t, "dc1", false)
	if gw.Server.Online("dc1") {
		t.Fatal("Online(dc1): got true after the connector stopped")
	}

	// The join token is spent; the stored certificate is enough.
	StartConnector(t, &tunnel.Client{Addr: gw.Addr, Name: "dc1", StateDir: state, Accept: connectorEcho})
	gw.WaitStatus(t, "dc1", true)
	stream, err = gw.Server.Open(context.Background(), "dc1")
	if err != nil {
		t.Fatal(err)
	}
	if err := echoRoundTrip(t, stream, []byte("again")); err != nil {
		t.Fatalf("echo after reconnect: %v", err)
	}
	if got := len(gw.Enrolled()); got != 1 {
		t.Errorf("Enrolled calls: got %d, want 1 (no second enrollment)", got)
	}
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestJoinFailsPermanently(t *testing.T) {
	gw := StartGateway(t, gatewayOptions{})
	other, err := pki.LoadOrCreateCA(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	used := gw.Tokens.issue(t, gw.CA.Fingerprint(), "dc-used")
	StartConnector(t, &tunnel.Client{Addr: gw.Addr, Name: "dc-used", JoinToken: used, StateDir: t.TempDir()})
	gw.WaitStatus(t, "dc-used", true)

	unknown, _, err := tunnel.NewJoinToken(gw.CA.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	wrongFP := gw.Tokens.issue(t, other.Fingerprint(), "dc2")
	forDC3 := gw.Tokens.issue(t, gw.CA.Fingerprint(), "dc3")

	tests := []struct {
		name    string
		cname   string
		token   string
		wantErr string
	}{
		{name: "used token", cname: "dc-used", token: used, wantErr: "join token invalid, expired or already used"},
		{name: "unknown token", cname: "dc1", token: unknown, wantErr: "join token invalid, expired or already used"},
		{name: "wrong CA fingerprint", cname: "dc2", token: wrongFP, wantErr: "does not match the fingerprint in the join token"},
		{name: "name mismatch", cname: "dc4", token: forDC3, wantErr: `issued for connector "dc3", not "dc4"`},
		{name: "malformed token", cname: "dc1", token: "ghj_nonsense", wantErr: "parse join token"},
		{name: "no token", cname: "dc1", token: "", wantErr: "no join token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			c := StartConnector(t, &tunnel.Client{Addr: gw.Addr, Name: tt.cname, JoinToken: tt.token, StateDir: state})
			err := c.RunErr(t)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Run: got %v, want an error containing %q", err, tt.wantErr)
			}
			if _, statErr := os.Stat(filepath.Join(state, "client.crt")); statErr == nil {
				t.Error("a certificate was stored after a failed enrollment")
			}
			if tt.token != "" {
				secretPart := strings.TrimPrefix(tt.token, "ghj_")
				for _, logs := range []string{err.Error(), c.Logs.String(), gw.Logs.String()} {
					if strings.Contains(logs, secretPart) {
						t.Errorf("join token leaked into an error or log: %s", logs)
					}
				}
			}
		})
	}
	if got := len(gw.Enrolled()); got != 1 {
		t.Errorf("Enrolled calls: got %d, want 1", got)
	}
}

// dialRaw makes a TLS connection to the gateway the way a connector would,
// with the given client certificates, sends a connect hello and returns the
// reply or the error.
func dialRaw(t *testing.T, gw *gateway, certs []tls.Certificate) (net.Conn, map[string]any, error) {
	t.Helper()
	conn, err := tls.Dial("tcp", gw.Addr, &tls.Config{
		MinVersion:   tls.VersionTLS13,
		RootCAs:      gw.CA.Pool(),
		ServerName:   "127.0.0.1",
		Certificates: certs,
		NextProtos:   []string{"gatehouse-tunnel/1"},
	})
	if err != nil {
		return nil, nil, err
	}
	if err := tunnel.WriteFrame(conn, map[string]any{"v": 1, "op": "connect"}); err != nil {
		conn.Close()
		return nil, nil, err
	}
	var reply map[string]any
	if err := tunnel.ReadFrame(conn, &reply); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, reply, nil
}

// clientCert issues a client certificate for name from ca.
func clientCert(t *testing.T, ca *pki.CA, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		t.Fatal(err)
	}
	der, _, err := ca.SignClientCSR(csr, name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestClientCertificateChecks(t *testing.T) {
	gw := StartGateway(t, gatewayOptions{})
	other, err := pki.LoadOrCreateCA(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("certificate from another CA", func(t *testing.T) {
		conn, reply, err := dialRaw(t, gw, []tls.Certificate{clientCert(t, other, "dc1")})
		if err == nil {
			conn.Close()
			t.Fatalf("got reply %v, want the connection refused", reply)
		}
		if gw.Server.Online("dc1") {
			t.Error("connector with a foreign certificate is online")
		}
	})
	t.Run("no certificate", func(t *testing.T) {
		conn, reply, err := dialRaw(t, gw, nil)
		if err != nil {
			t.Fatalf("got %v, want an error reply", err)
		}
		conn.Close()
		if got, _ := reply["error"].(string); !strings.Contains(got, "client certificate required") {
			t.Errorf("reply: got %v, want a client certificate required error", reply)
		}
	})
	t.Run("certificate from this CA", func(t *testing.T) {
		conn, reply, err := dialRaw(t, gw, []tls.Certificate{clientCert(t, gw.CA, "dc9")})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if got := reply["name"]; got != "dc9" {
			t.Errorf("reply name: got %v, want dc9", got)
		}
		gw.WaitStatus(t, "dc9", true)
	})
	select {
	case ev := <-gw.Status:
		if ev.name != "dc9" || ev.online {
			t.Errorf("unexpected status event %+v", ev)
		}
	default:
	}
}

func TestConnectorWithForeignCertNeverOnline(t *testing.T) {
	gw := StartGateway(t, gatewayOptions{})
	other, err := pki.LoadOrCreateCA(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	// State that looks enrolled, but with a certificate from another CA.
	state := t.TempDir()
	cert := clientCert(t, other, "dc1")
	keyPEM, err := pki.MarshalKeyPEM(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(state, "client.key"), keyPEM)
	writeFile(t, filepath.Join(state, "client.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}))
	writeFile(t, filepath.Join(state, "ca.crt"), gw.CA.CertPEM())

	c := StartConnector(t, &tunnel.Client{Addr: gw.Addr, Name: "dc1", StateDir: state})
	// Each attempt is refused during or right after the handshake; wait for a few.
	waitFor(t, "three refused attempts", func() bool {
		return strings.Count(c.Logs.String(), "tunnel to gateway down") >= 3
	})
	if gw.Server.Online("dc1") || c.Client.Connected() {
		t.Fatal("connector with a foreign certificate got connected")
	}
	if _, err := gw.Server.Open(context.Background(), "dc1"); !errors.Is(err, tunnel.ErrOffline) {
		t.Errorf("Open: got %v, want ErrOffline", err)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenOffline(t *testing.T) {
	gw := StartGateway(t, gatewayOptions{})
	_, err := gw.Server.Open(context.Background(), "nowhere")
	if !errors.Is(err, tunnel.ErrOffline) {
		t.Fatalf("Open: got %v, want ErrOffline", err)
	}
	if !strings.Contains(err.Error(), `"nowhere"`) {
		t.Errorf("error %q does not name the connector", err)
	}
	if gw.Server.Online("nowhere") {
		t.Error("Online: got true, want false")
	}

	// A client with no connection waits for one until its ctx is done.
	c := &tunnel.Client{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Open(ctx); !errors.Is(err, tunnel.ErrOffline) || !errors.Is(err, context.Canceled) {
		t.Errorf("Client.Open: got %v, want ErrOffline and context.Canceled", err)
	}
	if c.Connected() {
		t.Error("Connected: got true for a client that never ran")
	}
}

func TestConcurrentStreams(t *testing.T) {
	gw := StartGateway(t, gatewayOptions{})
	token := gw.Tokens.issue(t, gw.CA.Fingerprint(), "dc1")
	StartConnector(t, &tunnel.Client{Addr: gw.Addr, Name: "dc1", JoinToken: token, StateDir: t.TempDir(), Accept: connectorEcho})
	gw.WaitStatus(t, "dc1", true)

	// 100 streams of 256 KiB each way: enough to interleave frames of every
	// stream, light enough for a loaded CI machine under -race.
	const streams, size = 100, 256 << 10
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := make([]byte, size)
			var seed [32]byte
			binary.BigEndian.PutUint32(seed[:], uint32(i))
			mrand.NewChaCha8(seed).Read(payload)
			stream, err := gw.Server.Open(context.Background(), "dc1")
			if err != nil {
				errs <- fmt.Errorf("stream %d: open: %w", i, err)
				return
			}
			if err := echoRoundTrip(t, stream, payload); err != nil {
				errs <- fmt.Errorf("stream %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.Logf("gateway log:\n%s", gw.Logs.String())
	}
}

func TestGatewayRestart(t *testing.T) {
	caDir := filepath.Join(t.TempDir(), "ca")
	tokens := &tokenStore{}
	gw := StartGateway(t, gatewayOptions{caDir: caDir, tokens: tokens})
	token := tokens.issue(t, gw.CA.Fingerprint(), "dc1")
	c := StartConnector(t, &tunnel.Client{Addr: gw.Addr, Name: "dc1", JoinToken: token, StateDir: t.TempDir(), Accept: connectorEcho})
	gw.WaitStatus(t, "dc1", true)

	gw.Stop()
	gw.WaitStatus(t, "dc1", false)
	waitFor(t, "the connector to notice the gateway is gone", func() bool { return !c.Client.Connected() })

	// Same CA, same address: the connector comes back by itself.
	gw2 := StartGateway(t, gatewayOptions{caDir: caDir, addr: gw.Addr, tokens: tokens})
	gw2.WaitStatus(t, "dc1", true)
	stream, err := gw2.Server.Open(context.Background(), "dc1")
	if err != nil {
		t.Fatal(err)
	}
	if err := echoRoundTrip(t, stream, []byte("after restart")); err != nil {
		t.Fatalf("echo after restart: %v", err)
	}
	if got := len(gw2.Enrolled()); got != 0 {
		t.Errorf("Enrolled calls after restart: got %d, want 0", got)
	}
}

func TestConnectorStreamsReachAccept(t *testing.T) {
	type event struct {
		Seq int `json:"seq"`
	}
	got := make(chan string, 10)
	gw := StartGateway(t, gatewayOptions{accept: func(_ context.Context, connector string, stream net.Conn) {
		defer stream.Close()
		var ev event
		if err := tunnel.ReadFrame(stream, &ev); err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- fmt.Sprintf("%s:%d", connector, ev.Seq)
		tunnel.WriteFrame(stream, map[string]bool{"ack": true})
	}})
	token := gw.Tokens.issue(t, gw.CA.Fingerprint(), "dc1")
	c := StartConnector(t, &tunnel.Client{Addr: gw.Addr, Name: "dc1", JoinToken: token, StateDir: t.TempDir()})

	// Open waits for the connection to come up.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for seq := 1; seq <= 3; seq++ {
		stream, err := c.Client.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := tunnel.WriteFrame(stream, event{Seq: seq}); err != nil {
			t.Fatal(err)
		}
		var ack map[string]bool
		if err := tunnel.ReadFrame(stream, &ack); err != nil || !ack["ack"] {
			t.Fatalf("ack: got %v, %v", ack, err)
		}
		stream.Close()
		if g, want := <-got, fmt.Sprintf("dc1:%d", seq); g != want {
			t.Errorf("Server.Accept got %q, want %q", g, want)
		}
	}
	if !c.Client.Connected() {
		t.Error("Connected: got false while streams work")
	}
}

func TestSecondConnectionReplacesFirst(t *testing.T) {
	gw := StartGateway(t, gatewayOptions{})
	token := gw.Tokens.issue(t, gw.CA.Fingerprint(), "dc1")
	state := t.TempDir()
	// A long backoff keeps the first client from reconnecting during the test.
	first := StartConnector(t, &tunnel.Client{Addr: gw.Addr, Name: "dc1", JoinToken: token, StateDir: state,
		Accept: connectorEcho, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	gw.WaitStatus(t, "dc1", true)

	cert, err := tls.LoadX509KeyPair(filepath.Join(state, "client.crt"), filepath.Join(state, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	conn, reply, err := dialRaw(t, gw, []tls.Certificate{cert})
	if err != nil {
		t.Fatal(err)
	}
	if reply["name"] != "dc1" {
		t.Fatalf("reply: got %v", reply)
	}
	sess, err := yamux.Client(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	waitFor(t, "the first connection to be closed", func() bool { return !first.Client.Connected() })

	stream, err := gw.Server.Open(context.Background(), "dc1")
	if err != nil {
		t.Fatal(err)
	}
	if err := tunnel.WriteFrame(stream, echoHeader{Kind: "probe"}); err != nil {
		t.Fatal(err)
	}
	accepted, err := sess.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	var h echoHeader
	if err := tunnel.ReadFrame(accepted, &h); err != nil || h.Kind != "probe" {
		t.Fatalf("replacement connection got %+v, %v; want the probe stream", h, err)
	}
	select {
	case ev := <-gw.Status:
		t.Errorf("replacing a connection produced status event %+v", ev)
	default:
	}
}

func TestBadPeersDoNotDisturbOthers(t *testing.T) {
	gw := StartGateway(t, gatewayOptions{})
	token := gw.Tokens.issue(t, gw.CA.Fingerprint(), "dc1")
	StartConnector(t, &tunnel.Client{Addr: gw.Addr, Name: "dc1", JoinToken: token, StateDir: t.TempDir(), Accept: connectorEcho})
	gw.WaitStatus(t, "dc1", true)

	tlsCfg := func(alpn []string) *tls.Config {
		return &tls.Config{RootCAs: gw.CA.Pool(), ServerName: "127.0.0.1", NextProtos: alpn, Certificates: []tls.Certificate{clientCert(t, gw.CA, "dc-bad")}}
	}
	tests := []struct {
		name string
		run  func(t *testing.T) error // returns the error that ended the exchange
	}{
		{name: "plaintext garbage", run: func(t *testing.T) error {
			conn, err := net.Dial("tcp", gw.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			_, err = io.ReadAll(conn)
			return err
		}},
		{name: "postgres startup", run: func(t *testing.T) error {
			conn, err := net.Dial("tcp", gw.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Write([]byte{0, 0, 0, 8, 4, 210, 22, 47})
			_, err = io.ReadAll(conn)
			return err
		}},
		{name: "wrong ALPN", run: func(t *testing.T) error {
			conn, err := tls.Dial("tcp", gw.Addr, tlsCfg([]string{"h2"}))
			if err != nil {
				return err
			}
			defer conn.Close()
			_, err = io.ReadAll(conn)
			return err
		}},
		{name: "no ALPN", run: func(t *testing.T) error {
			conn, err := tls.Dial("tcp", gw.Addr, tlsCfg(nil))
			if err != nil {
				return err
			}
			defer conn.Close()
			tunnel.WriteFrame(conn, map[string]any{"v": 1, "op": "connect"})
			b, err := io.ReadAll(conn)
			if len(b) > 0 {
				t.Errorf("got %d bytes of reply without ALPN, want none", len(b))
			}
			return err
		}},
		{name: "oversize frame", run: func(t *testing.T) error {
			conn, err := tls.Dial("tcp", gw.Addr, tlsCfg([]string{"gatehouse-tunnel/1"}))
			if err != nil {
				return err
			}
			defer conn.Close()
			conn.Write([]byte{0xff, 0xff, 0xff, 0xff, '{'})
			b, err := io.ReadAll(conn)
			if len(b) > 0 {
				t.Errorf("got %d bytes of reply, want the connection closed", len(b))
			}
			return err
		}},
		{name: "garbage json", run: func(t *testing.T) error {
			conn, err := tls.Dial("tcp", gw.Addr, tlsCfg([]string{"gatehouse-tunnel/1"}))
			if err != nil {
				return err
			}
			defer conn.Close()
			conn.Write([]byte{0, 0, 0, 3, 0xde, 0xad, '!'})
			_, err = io.ReadAll(conn)
			return err
		}},
		{name: "unknown op", run: func(t *testing.T) error {
			conn, err := tls.Dial("tcp", gw.Addr, tlsCfg([]string{"gatehouse-tunnel/1"}))
			if err != nil {
				return err
			}
			defer conn.Close()
			tunnel.WriteFrame(conn, map[string]any{"v": 1, "op": "dance"})
			var reply map[string]any
			if err := tunnel.ReadFrame(conn, &reply); err != nil {
				t.Fatalf("no error reply: %v", err)
			}
			if reply["code"] != "bad_request" {
				t.Errorf("reply: got %v, want code bad_request", reply)
			}
			return nil
		}},
		{name: "wrong version", run: func(t *testing.T) error {
			conn, err := tls.Dial("tcp", gw.Addr, tlsCfg([]string{"gatehouse-tunnel/1"}))
			if err != nil {
				return err
			}
			defer conn.Close()
			tunnel.WriteFrame(conn, map[string]any{"v": 99, "op": "connect"})
			var reply map[string]any
			if err := tunnel.ReadFrame(conn, &reply); err != nil {
				t.Fatalf("no error reply: %v", err)
			}
			if !strings.Contains(fmt.Sprint(reply["error"]), "version 99") {
				t.Errorf("reply: got %v, want an unsupported version error", reply)
			}
			return nil
		}},
		{name: "enroll with garbage csr", run: func(t *testing.T) error {
			conn, err := tls.Dial("tcp", gw.Addr, tlsCfg([]string{"gatehouse-tunnel/1"}))
			if err != nil {
				return err
			}
			defer conn.Close()
			tunnel.WriteFrame(conn, map[string]any{"v": 1, "op": "enroll", "name": "x", "secret": []byte("s"), "csr": []byte("nope")})
			var reply map[string]any
			if err := tunnel.ReadFrame(conn, &reply); err != nil {
				t.Fatalf("no error reply: %v", err)
			}
			if reply["code"] != "bad_request" {
				t.Errorf("reply: got %v, want code bad_request", reply)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t)
			// The good connector is unaffected.
			stream, err := gw.Server.Open(context.Background(), "dc1")
			if err != nil {
				t.Fatal(err)
			}
			if err := echoRoundTrip(t, stream, []byte(tt.name)); err != nil {
				t.Fatalf("echo after bad peer: %v", err)
			}
		})
	}
	if gw.Server.Online("dc-bad") {
		t.Error("a bad peer came online")
	}
}

func TestBackoff(t *testing.T) {
	const minB, maxB = 100 * time.Millisecond, 2 * time.Second
	tests := []struct {
		name   string
		n      int
		lo, hi time.Duration
	}{
		{name: "first", n: 0, lo: 50 * time.Millisecond, hi: 100 * time.Millisecond},
		{name: "doubles", n: 3, lo: 400 * time.Millisecond, hi: 800 * time.Millisecond},
		{name: "capped", n: 10, lo: time.Second, hi: 2 * time.Second},
		{name: "no overflow", n: 1000, lo: time.Second, hi: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 200 {
				d := tunnel.Backoff(minB, maxB, tt.n)
				if d < tt.lo || d > tt.hi {
					t.Fatalf("backoff(%d): got %v, want within [%v, %v]", tt.n, d, tt.lo, tt.hi)
				}
				seen[d] = true
			}
			if len(seen) < 2 {
				t.Errorf("backoff(%d): no jitter over 200 draws", tt.n)
			}
		})
	}
}
