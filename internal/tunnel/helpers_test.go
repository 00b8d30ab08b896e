package tunnel_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/pki"
	"github.com/gatehouse-dev/gatehouse/internal/tunnel"
)

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// logBuffer is a concurrency-safe log sink, so tests can check what was logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// tokenStore is the join-token table a real gateway keeps in its store: it
// holds only hashes of secrets, and each token works once.
type tokenStore struct {
	mu     sync.Mutex
	tokens map[[32]byte]string
	used   map[[32]byte]bool
}

func (s *tokenStore) issue(tb testing.TB, fp, name string) string {
	tb.Helper()
	token, secret, err := tunnel.NewJoinToken(fp)
	if err != nil {
		tb.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		s.tokens, s.used = make(map[[32]byte]string), make(map[[32]byte]bool)
	}
	s.tokens[sha256.Sum256(secret)] = name
	return token
}

func (s *tokenStore) join(_ context.Context, secret []byte) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := sha256.Sum256(secret)
	name, ok := s.tokens[h]
	if !ok || s.used[h] {
		return "", errors.New("unknown or used join token")
	}
	s.used[h] = true
	return name, nil
}

type statusEvent struct {
	name   string
	online bool
}

// gateway is a tunnel server on a real loopback listener.
type gateway struct {
	CA     *pki.CA
	Server *tunnel.Server
	Addr   string
	Tokens *tokenStore
	Logs   *logBuffer
	Status chan statusEvent

	mu       sync.Mutex
	enrolled []string

	tb     testing.TB
	cancel context.CancelFunc
	done   chan error
}

type gatewayOptions struct {
	caDir  string // reuse a CA (restart); new one when empty
	addr   string // listen address; 127.0.0.1:0 when empty
	tokens *tokenStore
	accept func(ctx context.Context, connector string, stream net.Conn)
}

// StartGateway starts a tunnel server; it is stopped at the end of the test.
func StartGateway(tb testing.TB, opts gatewayOptions) *gateway {
	tb.Helper()
	if opts.caDir == "" {
		opts.caDir = filepath.Join(tb.TempDir(), "ca")
	}
	if opts.addr == "" {
		opts.addr = "127.0.0.1:0"
	}
	if opts.tokens == nil {
		opts.tokens = &tokenStore{}
	}
	ca, err := pki.LoadOrCreateCA(opts.caDir)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := ca.LoadOrIssueServer(filepath.Join(opts.caDir, "tunnel.crt"), filepath.Join(opts.caDir, "tunnel.key"), []string{"127.0.0.1", "localhost"})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		tb.Fatal(err)
	}
	g := &gateway{
		CA:     ca,
		Addr:   ln.Addr().String(),
		Tokens: opts.tokens,
		Logs:   &logBuffer{},
		Status: make(chan statusEvent, 100),
		tb:     tb,
		done:   make(chan error, 1),
	}
	g.Server = &tunnel.Server{
		CA:   ca,
		Cert: cert,
		Join: opts.tokens.join,
		Enrolled: func(_ context.Context, connector, serial string) error {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.enrolled = append(g.enrolled, connector+"/"+serial)
			return nil
		},
		Accept: opts.accept,
		Status: func(name string, online bool) { g.Status <- statusEvent{name, online} },
		Logger: g.Logs.logger(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go func() { g.done <- g.Server.Serve(ctx, ln) }()
	tb.Cleanup(g.Stop)
	return g
}

// Stop stops the server and waits for Serve to return; it may be called twice.
func (g *gateway) Stop() {
	g.cancel()
	if err, ok := <-g.done; ok {
		close(g.done)
		if err != nil {
			g.tb.Errorf("Serve: got %v, want nil after cancel", err)
		}
	}
}

func (g *gateway) Enrolled() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.enrolled...)
}

// WaitStatus waits for the next status event and checks it.
func (g *gateway) WaitStatus(tb testing.TB, name string, online bool) {
	tb.Helper()
	select {
	case ev := <-g.Status:
		if ev.name != name || ev.online != online {
			tb.Fatalf("status: got %s online=%v, want %s online=%v", ev.name, ev.online, name, online)
		}
	case <-time.After(30 * time.Second):
		tb.Fatalf("no status event for %s online=%v", name, online)
	}
}

// connector is a running tunnel client.
type connector struct {
	Client *tunnel.Client
	Logs   *logBuffer
	cancel context.CancelFunc
	done   chan error
}

// StartConnector runs a tunnel client until the end of the test.
func StartConnector(tb testing.TB, c *tunnel.Client) *connector {
	tb.Helper()
	logs := &logBuffer{}
	if c.Logger == nil {
		c.Logger = logs.logger()
	}
	if c.MinBackoff == 0 {
		c.MinBackoff, c.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	cn := &connector{Client: c, Logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { cn.done <- c.Run(ctx) }()
	tb.Cleanup(func() { cn.Stop(tb) })
	return cn
}

// Stop cancels Run and checks it returned nil; it may be called twice.
func (c *connector) Stop(tb testing.TB) {
	tb.Helper()
	c.cancel()
	if err, ok := <-c.done; ok {
		close(c.done)
		if err != nil {
			tb.Errorf("Run after cancel: got %v, want nil", err)
		}
	}
}

// RunErr waits for Run to return by itself, as it must on a permanent error.
func (c *connector) RunErr(tb testing.TB) error {
	tb.Helper()
	select {
	case err := <-c.done:
		close(c.done)
		return err
	case <-time.After(30 * time.Second):
		tb.Fatalf("Run kept retrying; logs:\n%s", c.Logs.String())
		return nil
	}
}

// waitFor polls cond until it holds; it fails the test after a generous bound
// instead of hanging.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// echoHeader starts an echo stream.
type echoHeader struct {
	Kind string `json:"kind"`
	N    int    `json:"n"`
}

// echoAccept reads an echoHeader, then copies N bytes back.
func echoAccept(stream net.Conn) {
	defer stream.Close()
	var h echoHeader
	if err := tunnel.ReadFrame(stream, &h); err != nil {
		return
	}
	io.CopyN(stream, stream, int64(h.N))
}

func connectorEcho(_ context.Context, stream net.Conn) { echoAccept(stream) }

// echoRoundTrip sends payload through an echo stream and checks it comes back intact.
func echoRoundTrip(tb testing.TB, stream net.Conn, payload []byte) error {
	defer stream.Close()
	if err := tunnel.WriteFrame(stream, echoHeader{Kind: "echo", N: len(payload)}); err != nil {
		return err
	}
	werr := make(chan error, 1)
	go func() {
		_, err := stream.Write(payload)
		werr <- err
	}()
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(stream, got); err != nil {
		return err
	}
	if err := <-werr; err != nil {
		return err
	}
	if !bytes.Equal(got, payload) {
		return errors.New("echoed bytes differ")
	}
	return nil
}
