package tunnel

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// ALPN protocol identifier of the tunnel; a peer speaking anything else fails
// the TLS handshake.
const alpnProto = "gatehouse-tunnel/1"

// protocolVersion is the version carried in hello frames.
const protocolVersion = 1

// Operations a connector asks for in its hello frame.
const (
	opEnroll  = "enroll"
	opConnect = "connect"
)

// Error codes in a reply frame. The connector treats the permanent ones as
// fatal instead of retrying.
const (
	codeJoinRefused  = "join_refused"
	codeNameMismatch = "name_mismatch"
	codeBadRequest   = "bad_request"
	codeUnauthorized = "unauthorized"
	codeInternal     = "internal"
)

const (
	// handshakeTimeout bounds the TLS handshake and the hello exchange.
	handshakeTimeout = 15 * time.Second
	// joinTimeout bounds the Join and Enrolled hooks during enrollment.
	joinTimeout = 30 * time.Second
	// streamWindow is yamux's per-stream receive window: large enough for
	// bulk results at WAN latency, small enough to bound buffered memory.
	streamWindow = 4 << 20
	keepAlive    = 15 * time.Second
	writeTimeout = 30 * time.Second
)

// hello is the first frame a connector sends after the TLS handshake.
type hello struct {
	Version int    `json:"v"`
	Op      string `json:"op"`
	// Enrollment only.
	Name   string `json:"name,omitempty"`
	Secret []byte `json:"secret,omitempty"`
	CSR    []byte `json:"csr,omitempty"`
}

// LogValue keeps the join secret out of logs.
func (h hello) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("v", h.Version), slog.String("op", h.Op), slog.String("name", h.Name))
}

// reply is the gateway's answer to a hello frame.
type reply struct {
	Version int    `json:"v"`
	Error   string `json:"error,omitempty"`
	Code    string `json:"code,omitempty"`
	// Connect: the connector name the gateway authenticated.
	Name string `json:"name,omitempty"`
	// Enroll: the issued client certificate and the CA root (DER).
	Cert []byte `json:"cert,omitempty"`
	CA   []byte `json:"ca,omitempty"`
}

// RemoteError is an error reported by the gateway in a reply frame.
type RemoteError struct {
	Code    string
	Message string
}

func (e *RemoteError) Error() string { return "gateway: " + e.Message }

// Permanent reports whether retrying cannot help: the join token was
// refused, the name does not match it, or the request was malformed.
func (e *RemoteError) Permanent() bool {
	switch e.Code {
	case codeJoinRefused, codeNameMismatch, codeBadRequest:
		return true
	}
	return false
}

func muxConfig(logger *slog.Logger) *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.AcceptBacklog = 1024
	cfg.EnableKeepAlive = true
	cfg.KeepAliveInterval = keepAlive
	// Also bounds how long a ping may wait behind queued frames; with
	// maxWriteChunk that is at most one chunk per active stream.
	cfg.ConnectionWriteTimeout = writeTimeout
	cfg.MaxStreamWindowSize = streamWindow
	cfg.LogOutput = nil
	cfg.Logger = muxLogger{logger}
	return cfg
}

// muxLogger sends yamux's own log lines to slog at debug level; they are
// mostly about connections ending, which the owner logs once anyway.
type muxLogger struct{ l *slog.Logger }

func (m muxLogger) Print(v ...any) {
	m.l.Debug(strings.TrimSpace(fmt.Sprint(v...)), "component", "yamux")
}
func (m muxLogger) Printf(format string, v ...any) {
	m.l.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)), "component", "yamux")
}
func (m muxLogger) Println(v ...any) {
	m.l.Debug(strings.TrimSpace(fmt.Sprintln(v...)), "component", "yamux")
}

// rateLimiter lets through at most burst events per interval (zero values:
// 10 per 10s); it keeps a misbehaving peer (or a port scanner) from flooding
// the log.
type rateLimiter struct {
	interval time.Duration
	burst    int

	mu         sync.Mutex
	windowFrom time.Time
	n          int
	suppressed int
}

// allow reports whether to log now, and how many lines were suppressed
// since the last one that was let through.
func (r *rateLimiter) allow() (ok bool, suppressed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	interval, burst := r.interval, r.burst
	if interval <= 0 {
		interval = 10 * time.Second
	}
	if burst <= 0 {
		burst = 10
	}
	now := time.Now()
	if now.Sub(r.windowFrom) >= interval {
		r.windowFrom = now
		r.n = 0
	}
	if r.n >= burst {
		r.suppressed++
		return false, 0
	}
	r.n++
	s := r.suppressed
	r.suppressed = 0
	return true, s
}

func (r *rateLimiter) log(ctx context.Context, l *slog.Logger, level slog.Level, msg string, args ...any) {
	ok, suppressed := r.allow()
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	l.Log(ctx, level, msg, args...)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// maxWriteChunk caps the body of each yamux data frame a stream writes.
// yamux sends a Write as one frame as large as the peer's window, and its
// single send queue is FIFO, so without a cap a few bulk streams could hold a
// keepalive ping (and every other session's bytes) behind megabytes of data.
const maxWriteChunk = 64 << 10

// stream is a yamux stream whose writes are split into frames of at most
// maxWriteChunk bytes.
type stream struct{ *yamux.Stream }

func (s stream) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		m, err := s.Stream.Write(b[:min(len(b), maxWriteChunk)])
		n += m
		if err != nil {
			return n, err
		}
		b = b[m:]
	}
	return n, nil
}

// coalescer sits between a yamux session and its TLS connection. yamux's
// send loop writes each data frame as two Writes, the 12-byte header and
// then the body; on TLS that is two records and two syscalls per frame.
// coalescer holds back the header of a data frame that announces a body and
// sends it with the body in one Write. Only yamux's single send goroutine
// writes, so no lock is needed.
type coalescer struct {
	net.Conn
	buf []byte // a held-back header, then header+body while writing
}

// yamux header layout (spec.md): version, type, flags(2), stream ID(4), length(4).
const (
	muxHeaderSize = 12
	muxTypeData   = 0
)

func newCoalescer(conn net.Conn) *coalescer {
	return &coalescer{Conn: conn, buf: make([]byte, 0, muxHeaderSize+maxWriteChunk)}
}

func (c *coalescer) Write(p []byte) (int, error) {
	if len(c.buf) == 0 {
		if len(p) == muxHeaderSize && p[0] == 0 && p[1] == muxTypeData && binary.BigEndian.Uint32(p[8:12]) > 0 {
			c.buf = append(c.buf, p...)
			return len(p), nil
		}
		return c.Conn.Write(p)
	}
	if len(c.buf)+len(p) > cap(c.buf) {
		// A body larger than a chunk (a frame yamux sent itself): copying
		// it would cost more than the extra record saves.
		hdr := c.buf
		c.buf = c.buf[:0]
		if _, err := c.Conn.Write(hdr); err != nil {
			return 0, err
		}
		return c.Conn.Write(p)
	}
	c.buf = append(c.buf, p...)
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	if err != nil {
		return 0, err
	}
	return len(p), nil
}
