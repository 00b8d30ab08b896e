package postgres

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TLS modes of a Target, as in libpq's sslmode.
const (
	TLSDisable    = "disable"
	TLSRequire    = "require"
	TLSVerifyFull = "verify-full"
)

// dialTimeout bounds a login to the target when ctx has no deadline.
const dialTimeout = 30 * time.Second

// Target says how the connector reaches a PostgreSQL server.
type Target struct {
	Address  string // host:port
	Database string
	User     string
	Password string // never logged, never in errors
	// TLSMode is TLSDisable ("" too), TLSRequire (encrypt, do not verify)
	// or TLSVerifyFull (verify the chain against RootCAs and the name).
	TLSMode    string
	RootCAs    *x509.CertPool // for verify-full; nil means the system pool
	ServerName string         // for verify-full; default: the host of Address
}

// LogValue keeps the password out of logs.
func (t Target) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("address", t.Address),
		slog.String("database", t.Database),
		slog.String("user", t.User),
		slog.String("tls", t.TLSMode),
	)
}

func (t Target) tlsConfig() (*tls.Config, error) {
	host, _, err := net.SplitHostPort(t.Address)
	if err != nil {
		return nil, err
	}
	switch t.TLSMode {
	case "", TLSDisable:
		return nil, nil
	case TLSRequire:
		return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, nil
	case TLSVerifyFull:
		name := t.ServerName
		if name == "" {
			name = host
		}
		return &tls.Config{RootCAs: t.RootCAs, ServerName: name, MinVersion: tls.VersionTLS12}, nil
	default:
		return nil, fmt.Errorf("unknown TLS mode %q", t.TLSMode)
	}
}

// Upstream is a logged-in connection to the target, ready to relay one
// session.
type Upstream struct {
	// Check, if set, decides every statement (a simple Query string, each
	// Execute, each FunctionCall) before it is recorded and forwarded. It
	// returns nil to allow, or the Denial the client gets instead of the
	// statement's result; either way the statement is then recorded, and a
	// denied one gets a Result whose Error is the Denial.
	//
	// Check may block to hold the statement for review: the client's later
	// messages wait, while the target's answers to earlier ones keep
	// flowing. It must return promptly once ctx (the session's) is done;
	// the session then ends, whatever Check returned. While it runs, and
	// only then, Check (or a goroutine it hands notice to) may call notice
	// to send the client a NoticeResponse, written and flushed at once; it
	// also forwards the client's messages that came before the held
	// statement, so a Check that holds should call it first. Check may
	// fill s.Decision, s.Policy, s.Rule and s.Reason for the recording; s
	// and its Params are valid only until Check returns.
	Check func(ctx context.Context, s *Statement, notice func(msg string) error) *Denial
	// Mask, if set, masks result values (DataRow, COPY TO rows, error and
	// notice fields) before they reach the client or the recording, and
	// masks the statement text and parameters that are recorded.
	Mask *Masking
	// Rows bounds the result rows kept in each Result's Sample, after
	// masking; the zero value keeps none.
	Rows RowLimits

	conn      net.Conn
	pid       uint32
	secret    []byte
	params    []Param
	remote    string
	tlsConfig *tls.Config
	closeOnce sync.Once
	closeErr  error

	holdMu sync.Mutex
	hold   context.CancelCauseFunc // ends the Check in progress, if any
}

func (u *Upstream) setHold(cancel context.CancelCauseFunc) {
	u.holdMu.Lock()
	u.hold = cancel
	u.holdMu.Unlock()
}

// Dial logs in to the target with the target's credentials and returns the
// connection, ready for Relay. params become the session's run-time
// parameters (application_name, DateStyle, options, ...); user, database
// and replication are ignored. The error wraps an *Error safe to show a
// client (08006, or 28000 when the target refused the login, 3D000 when the
// database does not exist) around the internal cause for the log; neither
// holds the password.
func Dial(ctx context.Context, t Target, params map[string]string) (*Upstream, error) {
	u, err := dial(ctx, t, params)
	if err != nil {
		var pgErr *pgconn.PgError
		public := errCannotConnect
		if errors.As(err, &pgErr) {
			switch {
			case strings.HasPrefix(pgErr.Code, "28"):
				public = errTargetAuth
			case pgErr.Code == "3D000":
				public = errNoDatabase
			}
		}
		return nil, &causeError{public: public, cause: fmt.Errorf("dial target %s: %w", t.Address, err), secret: t.Password}
	}
	return u, nil
}

// connConfig returns the pgconn configuration that logs in to t with the
// run-time parameters params, and the TLS configuration in it.
func (t Target) connConfig(params map[string]string) (*pgconn.Config, *tls.Config, error) {
	host, portStr, err := net.SplitHostPort(t.Address)
	if err != nil {
		return nil, nil, fmt.Errorf("address: %w", err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, nil, fmt.Errorf("address port %q: %w", portStr, err)
	}
	tlsConfig, err := t.tlsConfig()
	if err != nil {
		return nil, nil, err
	}
	// ParseConfig("") is the only supported way to get a Config; every field
	// it may have taken from the environment is set here.
	cfg, err := pgconn.ParseConfig("")
	if err != nil {
		return nil, nil, fmt.Errorf("pgconn config: %w", err)
	}
	cfg.Host, cfg.Port = host, uint16(port)
	cfg.Database, cfg.User, cfg.Password = t.Database, t.User, t.Password
	cfg.TLSConfig = tlsConfig
	cfg.Fallbacks = nil
	cfg.SSLNegotiation = "postgres"
	cfg.ValidateConnect = nil
	cfg.AfterConnect = nil
	cfg.KerberosSrvName, cfg.KerberosSpn = "", ""
	cfg.OAuthTokenProvider = nil
	cfg.ConnectTimeout = 0
	cfg.RuntimeParams = make(map[string]string, len(params))
	for k, v := range params {
		switch k {
		case "user", "database", "replication":
			continue
		}
		cfg.RuntimeParams[k] = v
	}
	return cfg, tlsConfig, nil
}

// connect logs in to t, within dialTimeout when ctx has no deadline.
func (t Target) connect(ctx context.Context, params map[string]string) (*pgconn.PgConn, *tls.Config, error) {
	cfg, tlsConfig, err := t.connConfig(params)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dialTimeout)
		defer cancel()
	}
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	return pc, tlsConfig, err
}

func dial(ctx context.Context, t Target, params map[string]string) (*Upstream, error) {
	pc, tlsConfig, err := t.connect(ctx, params)
	if err != nil {
		return nil, err
	}
	// pgconn may have started its background reader during the login (it
	// does when a write is slow, as under load); a Read still in flight
	// would swallow the target's first reply after Hijack. SyncConn stops
	// it and drains its buffer first.
	if err := pc.SyncConn(ctx); err != nil {
		pc.Close(context.Background())
		return nil, fmt.Errorf("sync target connection: %w", err)
	}
	hc, err := pc.Hijack()
	if err != nil {
		pc.Close(context.Background())
		return nil, fmt.Errorf("hijack: %w", err)
	}
	u := &Upstream{
		conn:      hc.Conn,
		pid:       hc.PID,
		secret:    append([]byte(nil), hc.SecretKey...),
		remote:    hc.Conn.RemoteAddr().String(),
		tlsConfig: tlsConfig,
	}
	for k, v := range hc.ParameterStatuses {
		u.params = append(u.params, Param{Name: k, Value: v})
	}
	sort.Slice(u.params, func(i, j int) bool { return u.params[i].Name < u.params[j].Name })
	return u, nil
}

// Params returns the target's ParameterStatus values, sorted by name.
func (u *Upstream) Params() []Param { return u.params }

// Cancel sends a CancelRequest for this session's backend, over TLS when
// the session uses TLS, as libpq does.
//
// A statement held for review (Check in progress) is canceled too: it
// never reaches the target, and the client gets 57014.
func (u *Upstream) Cancel(ctx context.Context) error {
	u.holdMu.Lock()
	hold := u.hold
	u.holdMu.Unlock()
	if hold != nil {
		hold(errHoldCanceled)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.remote)
	if err != nil {
		return fmt.Errorf("cancel: dial target: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if u.tlsConfig != nil {
		if _, err := conn.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
			return fmt.Errorf("cancel: SSLRequest: %w", err)
		}
		var b [1]byte
		if _, err := io.ReadFull(conn, b[:]); err != nil {
			return fmt.Errorf("cancel: SSLRequest answer: %w", err)
		}
		if b[0] != 'S' {
			return errors.New("cancel: target refused TLS")
		}
		tc := tls.Client(conn, u.tlsConfig.Clone())
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("cancel: TLS handshake: %w", err)
		}
		conn = tc
	}
	msg := make([]byte, 12+len(u.secret))
	binary.BigEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.BigEndian.PutUint32(msg[4:], 80877102)
	binary.BigEndian.PutUint32(msg[8:], u.pid)
	copy(msg[12:], u.secret)
	if _, err := conn.Write(msg); err != nil {
		return fmt.Errorf("cancel: write: %w", err)
	}
	// The server closes the connection once it has handled the request.
	io.Copy(io.Discard, conn)
	return nil
}

// Close closes the connection to the target. It is safe to call more than
// once.
func (u *Upstream) Close() error {
	u.closeOnce.Do(func() {
		// Terminate politely; the server ends the backend either way.
		u.conn.SetWriteDeadline(time.Now().Add(time.Second))
		u.conn.Write([]byte{'X', 0, 0, 0, 4})
		u.closeErr = u.conn.Close()
	})
	return u.closeErr
}
