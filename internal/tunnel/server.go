package tunnel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/pki"
	"github.com/hashicorp/yamux"
)

// ErrOffline is returned (wrapped with the connector's name) when a stream is
// opened to a connector, or by a connector to the gateway, with no live
// tunnel connection.
var ErrOffline = errors.New("connector offline")

// DefaultCertTTL is the lifetime of a connector's client certificate when
// Server.CertTTL is zero.
const DefaultCertTTL = 365 * 24 * time.Hour

// Server is the gateway's end of the tunnel. It accepts connectors' TLS
// connections, enrolls new connectors with join tokens, and multiplexes
// streams over each enrolled connector's connection.
//
// Set the exported fields before calling Serve and do not change them after.
// Connector certificates are issued for CertTTL and are not renewed: a
// connector whose certificate has expired must be enrolled again with a new
// join token.
type Server struct {
	// CA issues connector certificates and is the only root trusted for
	// client certificates. Required.
	CA *pki.CA
	// Cert is the tunnel listener's certificate chain, issued by CA
	// (pki.CA.LoadOrIssueServer). The chain must include the CA root so
	// that enrolling connectors can pin it. Required.
	Cert tls.Certificate
	// Join consumes a one-time join token secret and returns the connector
	// name it was issued for. Any error refuses the enrollment; its text is
	// logged, never sent to the connector. Required.
	Join func(ctx context.Context, secret []byte) (connector string, err error)
	// Enrolled is called after a certificate is issued, to persist the
	// connector and the certificate's serial. An error fails the
	// enrollment. May be nil.
	Enrolled func(ctx context.Context, connector, serial string) error
	// Accept handles a stream the connector opened (e.g. event shipping),
	// in its own goroutine. It must close the stream. Its ctx is cancelled
	// when the connector's connection ends or Serve returns. If nil, such
	// streams are closed at once.
	Accept func(ctx context.Context, connector string, stream net.Conn)
	// Status is called when a connector comes online or goes offline.
	// Calls are serialised. A connection that replaces another of the same
	// connector does not produce an offline/online pair. May be nil.
	Status func(connector string, online bool)
	// CertTTL is the lifetime of issued client certificates; zero means
	// DefaultCertTTL.
	CertTTL time.Duration
	// Logger receives connection-level events; nil discards them.
	Logger *slog.Logger

	mu    sync.Mutex
	peers map[string]*peer

	statusMu sync.Mutex // serialises Status calls with the map changes behind them

	badPeerLog rateLimiter
}

// peer is one connector's live connection.
type peer struct {
	name   string
	remote string
	sess   *yamux.Session
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return discardLogger()
	}
	return s.Logger
}

// Serve accepts tunnel connections on ln until ctx is done or ln is closed,
// then closes ln and every connector session and waits for their goroutines,
// including Accept handlers, to return. It returns nil on such a shutdown and
// an error when the server is misconfigured.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.CA == nil || len(s.Cert.Certificate) == 0 || s.Join == nil {
		ln.Close()
		return errors.New("tunnel server: CA, Cert and Join are required")
	}
	s.mu.Lock()
	if s.peers == nil {
		s.peers = make(map[string]*peer)
	}
	s.mu.Unlock()

	logger := s.logger()
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{s.Cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    s.CA.Pool(),
		NextProtos:   []string{alpnProto},
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var wg sync.WaitGroup
	var tempDelay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			// Like net/http: back off on errors such as EMFILE.
			if tempDelay == 0 {
				tempDelay = 5 * time.Millisecond
			} else if tempDelay *= 2; tempDelay > time.Second {
				tempDelay = time.Second
			}
			logger.Warn("tunnel accept failed", "err", err, "retry_in", tempDelay)
			select {
			case <-time.After(tempDelay):
			case <-ctx.Done():
			}
			continue
		}
		tempDelay = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handleConn(ctx, conn, cfg, logger)
		}()
	}
	cancel()
	wg.Wait()
	return nil
}

// handleConn owns one TCP connection from a connector.
func (s *Server) handleConn(ctx context.Context, raw net.Conn, cfg *tls.Config, logger *slog.Logger) {
	remote := raw.RemoteAddr().String()
	tc := tls.Server(raw, cfg)
	defer tc.Close()

	tc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		s.badPeerLog.log(ctx, logger, slog.LevelInfo, "tunnel handshake failed", "remote", remote, "err", err)
		return
	}
	state := tc.ConnectionState()
	if state.NegotiatedProtocol != alpnProto {
		s.badPeerLog.log(ctx, logger, slog.LevelWarn, "tunnel peer speaks another protocol", "remote", remote, "alpn", state.NegotiatedProtocol)
		return
	}
	var h hello
	if err := ReadFrame(tc, &h); err != nil {
		s.badPeerLog.log(ctx, logger, slog.LevelWarn, "tunnel peer sent a bad hello", "remote", remote, "err", err)
		return
	}
	if h.Version != protocolVersion {
		s.refuse(ctx, tc, logger, remote, codeBadRequest, fmt.Sprintf("unsupported tunnel protocol version %d", h.Version))
		return
	}
	switch h.Op {
	case opEnroll:
		s.enroll(ctx, tc, h, logger, remote)
		return
	case opConnect:
	default:
		s.refuse(ctx, tc, logger, remote, codeBadRequest, "unknown operation")
		return
	}

	// Go verified any certificate the peer presented against ClientCAs for
	// client auth; a connection that is not enrolling must have presented one.
	if len(state.VerifiedChains) == 0 || len(state.PeerCertificates) == 0 {
		s.refuse(ctx, tc, logger, remote, codeUnauthorized, "client certificate required; enroll with a join token first")
		return
	}
	name := state.PeerCertificates[0].Subject.CommonName
	if name == "" {
		s.refuse(ctx, tc, logger, remote, codeUnauthorized, "client certificate names no connector")
		return
	}
	if err := WriteFrame(tc, reply{Version: protocolVersion, Name: name}); err != nil {
		s.badPeerLog.log(ctx, logger, slog.LevelInfo, "tunnel reply failed", "remote", remote, "connector", name, "err", err)
		return
	}
	tc.SetDeadline(time.Time{})

	plog := logger.With("connector", name, "remote", remote)
	sess, err := yamux.Server(newCoalescer(tc), muxConfig(plog))
	if err != nil {
		plog.Error("tunnel session", "err", err)
		return
	}
	p := &peer{name: name, remote: remote, sess: sess}
	pctx, pcancel := context.WithCancel(ctx)
	stop := context.AfterFunc(pctx, func() { sess.Close() })
	defer stop()

	s.register(p, plog)
	plog.Info("connector online")

	var handlers sync.WaitGroup
	var acceptErr error
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			acceptErr = err
			break
		}
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			if s.Accept == nil {
				st.Close()
				return
			}
			s.Accept(pctx, name, stream{st})
		}()
	}
	sess.Close()
	s.unregister(p)
	pcancel()
	handlers.Wait()
	plog.Info("connector offline", "reason", acceptErr)
}

// refuse sends an error reply; the caller then closes the connection.
func (s *Server) refuse(ctx context.Context, tc *tls.Conn, logger *slog.Logger, remote, code, msg string) {
	s.badPeerLog.log(ctx, logger, slog.LevelWarn, "tunnel connection refused", "remote", remote, "code", code, "reason", msg)
	_ = WriteFrame(tc, reply{Version: protocolVersion, Code: code, Error: msg})
}

// enroll handles an enrollment hello: it checks the CSR, consumes the join
// token, issues the certificate and replies with it and the CA root.
func (s *Server) enroll(ctx context.Context, tc *tls.Conn, h hello, logger *slog.Logger, remote string) {
	if h.Name == "" || len(h.Secret) == 0 || len(h.CSR) == 0 {
		s.refuse(ctx, tc, logger, remote, codeBadRequest, "enrollment needs a connector name, a join token and a certificate request")
		return
	}
	// Check the request before consuming the token, so a broken client
	// does not burn it.
	csr, err := x509.ParseCertificateRequest(h.CSR)
	if err == nil {
		err = csr.CheckSignature()
	}
	if err != nil {
		s.refuse(ctx, tc, logger, remote, codeBadRequest, "invalid certificate request")
		return
	}

	jctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	name, err := s.Join(jctx, h.Secret)
	if err != nil {
		logger.Warn("connector join refused", "remote", remote, "name", h.Name, "err", err)
		_ = WriteFrame(tc, reply{Version: protocolVersion, Code: codeJoinRefused, Error: "join token invalid, expired or already used"})
		return
	}
	if name != h.Name {
		s.refuse(ctx, tc, logger, remote, codeNameMismatch, fmt.Sprintf("join token was issued for connector %q, not %q", name, h.Name))
		return
	}
	ttl := s.CertTTL
	if ttl <= 0 {
		ttl = DefaultCertTTL
	}
	der, serial, err := s.CA.SignClientCSR(h.CSR, name, ttl)
	if err != nil {
		logger.Warn("connector certificate refused", "remote", remote, "connector", name, "err", err)
		_ = WriteFrame(tc, reply{Version: protocolVersion, Code: codeBadRequest, Error: "certificate request refused"})
		return
	}
	if s.Enrolled != nil {
		if err := s.Enrolled(jctx, name, serial); err != nil {
			logger.Error("record connector enrollment", "connector", name, "serial", serial, "err", err)
			_ = WriteFrame(tc, reply{Version: protocolVersion, Code: codeInternal, Error: "could not record the enrollment"})
			return
		}
	}
	if err := WriteFrame(tc, reply{Version: protocolVersion, Name: name, Cert: der, CA: s.CA.Certificate().Raw}); err != nil {
		logger.Warn("send connector certificate", "connector", name, "err", err)
		return
	}
	logger.Info("connector enrolled", "connector", name, "serial", serial, "remote", remote)
}

// register makes p the connection for its connector, closing any earlier one.
func (s *Server) register(p *peer, logger *slog.Logger) {
	s.statusMu.Lock()
	s.mu.Lock()
	old := s.peers[p.name]
	s.peers[p.name] = p
	s.mu.Unlock()
	if old == nil && s.Status != nil {
		s.Status(p.name, true)
	}
	s.statusMu.Unlock()
	if old != nil {
		logger.Info("connector connection replaced", "old_remote", old.remote)
		old.sess.Close()
	}
}

// unregister removes p unless a newer connection has replaced it.
func (s *Server) unregister(p *peer) {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	s.mu.Lock()
	current := s.peers[p.name] == p
	if current {
		delete(s.peers, p.name)
	}
	s.mu.Unlock()
	if current && s.Status != nil {
		s.Status(p.name, false)
	}
}

// Open opens a new stream to the named connector. It adds no round trip:
// the stream is usable at once and the connector's Accept handler receives
// it. It returns an error wrapping ErrOffline when the connector has no live
// connection.
func (s *Server) Open(ctx context.Context, connector string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open stream to connector %q: %w", connector, err)
	}
	s.mu.Lock()
	p := s.peers[connector]
	s.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("open stream to connector %q: %w", connector, ErrOffline)
	}
	st, err := p.sess.OpenStream()
	if err != nil {
		if errors.Is(err, yamux.ErrSessionShutdown) || errors.Is(err, yamux.ErrRemoteGoAway) {
			return nil, fmt.Errorf("open stream to connector %q: %w", connector, ErrOffline)
		}
		return nil, fmt.Errorf("open stream to connector %q: %w", connector, err)
	}
	return stream{st}, nil
}

// Online reports whether the named connector has a live connection.
func (s *Server) Online(connector string) bool {
	s.mu.Lock()
	p := s.peers[connector]
	s.mu.Unlock()
	return p != nil && !p.sess.IsClosed()
}
