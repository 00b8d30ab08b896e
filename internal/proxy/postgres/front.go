package postgres

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

const (
	defaultStartupTimeout = 10 * time.Second
	// maxStartupLen is PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
	maxStartupLen = 10000
	// maxAuthLen caps a PasswordMessage (a token is well under this).
	maxAuthLen = 64 << 10
	// cancelTimeout bounds forwarding one CancelRequest.
	cancelTimeout = 10 * time.Second

	codeSSLRequest    = 80877103
	codeGSSENCRequest = 80877104
	codeCancelRequest = 80877102
)

// OpenRequest is what a client presented at startup.
type OpenRequest struct {
	Connection string            // the startup "user"
	Database   string            // the startup "database" ("" if absent)
	Token      string            // the cleartext password the client sent
	Params     map[string]string // other startup params (application_name, client_encoding, DateStyle, options, ...)
	ClientAddr net.Addr
	TLS        bool
}

// LogValue keeps the token out of logs.
func (r *OpenRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("connection", r.Connection),
		slog.String("database", r.Database),
		slog.Any("client", r.ClientAddr),
		slog.Bool("tls", r.TLS),
	)
}

// Opened is a session that Open accepted.
type Opened struct {
	// Params are the target's ParameterStatus values, sent to the client.
	Params []Param
	// Relay runs the session on the client connection after the gateway
	// has sent AuthenticationOk, ParameterStatus, its own BackendKeyData and
	// ReadyForQuery('I'). It returns when the session ends.
	Relay func(ctx context.Context, client net.Conn) error
	// Cancel forwards a CancelRequest to the target backend. May be nil.
	Cancel func(ctx context.Context) error
	// Close releases what Open acquired if Relay is never called. May be nil.
	Close func() error
}

// Front terminates PostgreSQL client connections at the gateway: TLS,
// startup, token authentication and cancel requests. The zero value with
// Open set serves plaintext only if AllowPlaintext is set.
type Front struct {
	// TLSConfig is used for SSLRequest; nil means SSLRequest is answered 'N'.
	TLSConfig *tls.Config
	// AllowPlaintext lets a client that does not negotiate TLS log in. When
	// false such a client gets FATAL 28000 "gatehouse: TLS required" and is
	// never asked for its token in clear.
	AllowPlaintext bool
	// Open authenticates the request and prepares the session. *Error
	// results are sent as they are (errors.As); any other error as FATAL
	// 08006 "gatehouse: internal error (ref XXXX)", its detail logged only.
	Open func(ctx context.Context, req *OpenRequest) (*Opened, error)
	// StartupTimeout bounds everything before Relay, Open included.
	// Zero means 10s.
	StartupTimeout time.Duration
	// Logger receives connection-level logs; nil discards them.
	Logger *slog.Logger
	// NoPassword skips asking the client for a password: for a local
	// forwarder (gatehouse connect) whose Open logs in with a token of
	// its own. OpenRequest.Token is then empty.
	NoPassword bool

	mu       sync.Mutex
	sessions map[uint32]*frontSession
	limiter  logLimiter
}

type frontSession struct {
	secret [4]byte
	cancel func(ctx context.Context) error
}

func (f *Front) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Serve accepts connections on ln until ctx is cancelled or ln fails, and
// serves each with ServeConn. It closes ln, waits for the connections it
// started to end (cancelling ctx ends them), and returns nil after a
// cancel.
func (f *Front) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				f.logger().Warn("postgres: accept", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("postgres: accept: %w", err)
		}
		backoff = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.ServeConn(ctx, c)
		}()
	}
}

// startup is the state of one connection before Relay.
type startup struct {
	f    *Front
	conn net.Conn
	tls  bool
	log  *slog.Logger
}

// ServeConn serves one client connection and closes it.
func (f *Front) ServeConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	timeout := f.StartupTimeout
	if timeout <= 0 {
		timeout = defaultStartupTimeout
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(sctx, func() { c.SetDeadline(time.Unix(1, 0)) })

	s := &startup{f: f, conn: c, log: f.logger().With("proto", "postgres", "client", c.RemoteAddr().String())}
	req, err := s.handshake(sctx)
	if err != nil || req == nil {
		stop()
		if err != nil && !errors.Is(err, io.EOF) {
			f.limiter.log(s.log, "postgres: startup failed", "err", err)
		}
		return
	}
	opened, err := f.Open(sctx, req)
	if err != nil {
		stop()
		s.refuse(err)
		return
	}
	closeOpened := func() {
		if opened.Close != nil {
			opened.Close()
		}
	}
	if opened == nil || opened.Relay == nil {
		stop()
		s.refuse(errors.New("Open returned no Relay"))
		closeOpened()
		return
	}
	pid, secret := f.register(opened.Cancel)
	defer f.unregister(pid)
	buf, _ := (&pgproto3.AuthenticationOk{}).Encode(nil)
	for _, p := range opened.Params {
		buf, _ = (&pgproto3.ParameterStatus{Name: p.Name, Value: p.Value}).Encode(buf)
	}
	buf, _ = (&pgproto3.BackendKeyData{ProcessID: pid, SecretKey: secret[:]}).Encode(buf)
	buf, _ = (&pgproto3.ReadyForQuery{TxStatus: 'I'}).Encode(buf)
	_, err = s.conn.Write(buf)
	if !stop() || err != nil {
		// The startup deadline fired, or the client went away.
		closeOpened()
		return
	}
	s.conn.SetDeadline(time.Time{})
	log := s.log.With(slog.Any("session", req))
	log.Debug("postgres: session started")
	if err := opened.Relay(ctx, s.conn); err != nil {
		log.Info("postgres: session ended", "err", err)
		return
	}
	log.Debug("postgres: session ended")
}

// handshake runs the startup phase up to the password. It returns a nil
// request when the connection was a cancel request or has been refused.
func (s *startup) handshake(ctx context.Context) (*OpenRequest, error) {
	for {
		code, body, err := s.readStartup()
		if err != nil {
			return nil, err
		}
		switch code {
		case codeSSLRequest:
			if s.tls || s.f.TLSConfig == nil {
				if s.tls {
					return nil, s.fail(errBadProtocol, errors.New("SSLRequest inside TLS"))
				}
				if _, err := s.conn.Write([]byte{'N'}); err != nil {
					return nil, err
				}
				continue
			}
			if _, err := s.conn.Write([]byte{'S'}); err != nil {
				return nil, err
			}
			tc := tls.Server(s.conn, s.f.TLSConfig)
			if err := tc.HandshakeContext(ctx); err != nil {
				return nil, fmt.Errorf("TLS handshake: %w", err)
			}
			s.conn, s.tls = tc, true
		case codeGSSENCRequest:
			if _, err := s.conn.Write([]byte{'N'}); err != nil {
				return nil, err
			}
		case codeCancelRequest:
			var cr pgproto3.CancelRequest
			if err := cr.Decode(body); err != nil {
				return nil, fmt.Errorf("CancelRequest: %w", err)
			}
			s.f.cancel(ctx, s.log, &cr)
			return nil, nil
		default:
			if code>>16 != 3 {
				return nil, s.fail(errBadVersion, fmt.Errorf("protocol version %d.%d", code>>16, code&0xffff))
			}
			return s.startupMessage(code, body)
		}
	}
}

// readStartup reads a length-prefixed message without a type byte. It
// reads exactly the message, never ahead, so nothing sent in clear before a
// TLS handshake is ever taken as part of the encrypted session.
func (s *startup) readStartup() (uint32, []byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(s.conn, hdr[:4]); err != nil {
		return 0, nil, err
	}
	n := int(int32(binary.BigEndian.Uint32(hdr[:4])))
	if n < 8 || n > maxStartupLen {
		return 0, nil, s.fail(errBadProtocol, fmt.Errorf("startup packet length %d", n))
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(s.conn, body); err != nil {
		return 0, nil, unexpected(err)
	}
	return binary.BigEndian.Uint32(body), body, nil
}

func (s *startup) startupMessage(code uint32, body []byte) (*OpenRequest, error) {
	// pgproto3 decodes 3.0 and 3.2; treat any later 3.x like 3.2.
	binary.BigEndian.PutUint32(body, pgproto3.ProtocolVersion30)
	var sm pgproto3.StartupMessage
	if err := sm.Decode(body); err != nil {
		return nil, s.fail(errBadProtocol, fmt.Errorf("StartupMessage: %w", err))
	}
	req := &OpenRequest{
		Params:     make(map[string]string),
		ClientAddr: s.conn.RemoteAddr(),
		TLS:        s.tls,
	}
	var unknown []string
	for k, v := range sm.Parameters {
		switch {
		case k == "user":
			req.Connection = v
		case k == "database":
			req.Database = v
		case strings.HasPrefix(k, "_pq_."):
			unknown = append(unknown, k)
		default:
			req.Params[k] = v
		}
	}
	if code != pgproto3.ProtocolVersion30 || len(unknown) > 0 {
		// Like the server: offer 3.0 and list the options we do not know.
		msg := pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0, UnrecognizedOptions: unknown}
		b, err := msg.Encode(nil)
		if err != nil {
			return nil, err
		}
		if _, err := s.conn.Write(b); err != nil {
			return nil, err
		}
	}
	if !s.tls && !s.f.AllowPlaintext {
		return nil, s.fail(errTLSRequired, errors.New("client did not negotiate TLS"))
	}
	if req.Connection == "" {
		return nil, s.fail(errNoUser, errors.New("no user in startup packet"))
	}
	if v, ok := req.Params["replication"]; ok && v != "false" && v != "off" && v != "no" && v != "0" {
		return nil, s.fail(errReplication, errors.New("replication requested"))
	}
	delete(req.Params, "replication")
	if s.f.NoPassword {
		return req, nil
	}

	b, _ := (&pgproto3.AuthenticationCleartextPassword{}).Encode(nil)
	if _, err := s.conn.Write(b); err != nil {
		return nil, err
	}
	var hdr [5]byte
	if _, err := io.ReadFull(s.conn, hdr[:]); err != nil {
		// psql hangs up here to prompt for a password: not worth a log line.
		return nil, io.EOF
	}
	n := int(int32(binary.BigEndian.Uint32(hdr[1:])))
	if hdr[0] != 'p' || n < 4 || n > maxAuthLen {
		return nil, s.fail(errBadPassword, fmt.Errorf("message %q of length %d instead of a password", hdr[0], n))
	}
	pw := make([]byte, n-4)
	if _, err := io.ReadFull(s.conn, pw); err != nil {
		return nil, unexpected(err)
	}
	var pm pgproto3.PasswordMessage
	if err := pm.Decode(pw); err != nil {
		return nil, s.fail(errBadPassword, errors.New("malformed PasswordMessage"))
	}
	clear(pw)
	req.Token = pm.Password
	return req, nil
}

// fail sends public to the client and returns cause for the log.
func (s *startup) fail(public *Error, cause error) error {
	s.conn.Write(public.appendTo(nil))
	return fmt.Errorf("%s: %w", public.Message, cause)
}

// refuse sends the client an error from Open.
func (s *startup) refuse(err error) {
	var public *Error
	if errors.As(err, &public) {
		if public != err {
			// A wrapped *Error carries an internal cause worth logging.
			s.f.limiter.log(s.log, "postgres: open refused", "err", err)
		}
		s.conn.Write(public.appendTo(nil))
		return
	}
	ref := randomRef()
	s.log.Error("postgres: open failed", "ref", ref, "err", err)
	internal := &Error{Severity: "FATAL", Code: "08006", Message: "gatehouse: internal error (ref " + ref + ")"}
	s.conn.Write(internal.appendTo(nil))
}

// register hands out a fresh BackendKeyData for a session.
func (f *Front) register(cancel func(context.Context) error) (uint32, [4]byte) {
	var b [8]byte
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sessions == nil {
		f.sessions = make(map[uint32]*frontSession)
	}
	for {
		rand.Read(b[:])
		pid := binary.BigEndian.Uint32(b[:4]) & 0x7fffffff // a positive int32, as psql prints it
		if pid == 0 || f.sessions[pid] != nil {
			continue
		}
		s := &frontSession{cancel: cancel}
		copy(s.secret[:], b[4:])
		f.sessions[pid] = s
		return pid, s.secret
	}
}

func (f *Front) unregister(pid uint32) {
	f.mu.Lock()
	delete(f.sessions, pid)
	f.mu.Unlock()
}

// cancel forwards a CancelRequest whose key matches a live session.
func (f *Front) cancel(ctx context.Context, log *slog.Logger, cr *pgproto3.CancelRequest) {
	f.mu.Lock()
	s := f.sessions[cr.ProcessID]
	f.mu.Unlock()
	var secret [4]byte
	if s != nil {
		secret = s.secret
	}
	// Compare even when the pid is unknown so timing says nothing.
	ok := subtle.ConstantTimeCompare(secret[:], cr.SecretKey) == 1 && s != nil
	if !ok {
		f.limiter.log(log, "postgres: cancel request with an unknown key")
		return
	}
	if s.cancel == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	if err := s.cancel(ctx); err != nil {
		f.limiter.log(log, "postgres: forward cancel request", "err", err)
	}
}

func randomRef() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// logLimiter lets through at most logBurst lines per logWindow, then counts
// what it drops and reports the count with the next line let through.
type logLimiter struct {
	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

const (
	logBurst  = 10
	logWindow = time.Second
)

func (l *logLimiter) log(log *slog.Logger, msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.start) >= logWindow {
		l.start, l.n = now, 0
	}
	l.n++
	if l.n > logBurst {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	dropped := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if dropped > 0 {
		args = append(args, "suppressed", dropped)
	}
	log.Warn(msg, args...)
}
