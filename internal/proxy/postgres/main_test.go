package postgres_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
)

// srv is the package's PostgreSQL server; each test makes its own database.
var srv *pgtest.Server

func TestMain(m *testing.M) {
	if !pgtest.Available() {
		fmt.Fprintln(os.Stderr, "postgres tests need the PostgreSQL 15 binaries")
		if os.Getenv(pgtest.RequireEnv) != "" {
			os.Exit(1)
		}
		os.Exit(m.Run())
	}
	s, stop, err := pgtest.StartMain(pgtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv = s
	code := m.Run()
	stop()
	os.Exit(code)
}

// testToken is the gatehouse token the test Front accepts.
const testToken = "gh_test_token_7f3a"

// event is a copy of one Recorder call.
type event struct {
	Stmt *postgres.Statement
	Res  *postgres.Result
}

// recorder is a Recorder that keeps copies of everything.
type recorder struct {
	mu            sync.Mutex
	events        []event
	failStatement error
}

func (r *recorder) Statement(s *postgres.Statement) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failStatement != nil {
		return r.failStatement
	}
	c := *s
	c.Masked = slices.Clone(s.Masked)
	c.Params = nil
	for _, p := range s.Params {
		p.Data = bytes.Clone(p.Data)
		c.Params = append(c.Params, p)
	}
	r.events = append(r.events, event{Stmt: &c})
	return nil
}

func (r *recorder) Result(res *postgres.Result) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *res
	c.Masked = slices.Clone(res.Masked)
	if res.Sample != nil {
		sm := *res.Sample
		sm.Columns, sm.Types = slices.Clone(sm.Columns), slices.Clone(sm.Types)
		sm.Values = nil
		for _, v := range res.Sample.Values {
			v.Data = bytes.Clone(v.Data)
			sm.Values = append(sm.Values, v)
		}
		c.Sample = &sm
	}
	if res.Error != nil {
		e := *res.Error
		c.Error = &e
	}
	r.events = append(r.events, event{Res: &c})
	return nil
}

func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.events = nil
	r.mu.Unlock()
}

// statements returns the recorded statements with the results that follow
// them, keyed by Seq.
func (r *recorder) statements() []recorded {
	var out []recorded
	idx := map[uint64]int{}
	for _, e := range r.snapshot() {
		if e.Stmt != nil {
			idx[e.Stmt.Seq] = len(out)
			out = append(out, recorded{Stmt: e.Stmt})
			continue
		}
		i, ok := idx[e.Res.Seq]
		if !ok {
			panic(fmt.Sprintf("result for unknown statement %d", e.Res.Seq))
		}
		out[i].Results = append(out[i].Results, e.Res)
	}
	return out
}

type recorded struct {
	Stmt    *postgres.Statement
	Results []*postgres.Result
}

// proxy is a Front on a loopback port in front of srv.
type proxy struct {
	Addr     string
	DB       string
	Rec      *recorder
	Log      *bytes.Buffer
	logMu    *sync.Mutex
	relayErr chan error
	target   *pgtest.Server
}

type proxyOptions struct {
	target    *pgtest.Server
	targetFor func(db string) postgres.Target // default: postgres superuser on srv
	tls       *tls.Config
	plaintext bool
	open      func(ctx context.Context, req *postgres.OpenRequest) (*postgres.Opened, error)
	check     func(ctx context.Context, s *postgres.Statement, notice func(string) error) *postgres.Denial
	// relayCtx, if set, wraps the context each session's Relay runs with.
	relayCtx func(ctx context.Context) context.Context
	// mask, if set, gives each session's masking for its database.
	mask func(t postgres.Target) *postgres.Masking
	// rows bounds the rows each session keeps in its Results; the zero
	// value means the connector's defaults, as in production.
	rows postgres.RowLimits
}

// lockedBuffer makes a bytes.Buffer safe for a concurrent slog handler.
type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (p *proxy) logText() string {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.Log.String()
}

func startProxy(t testing.TB, o proxyOptions) *proxy {
	t.Helper()
	if srv == nil {
		pgtest.Missing(t, "no PostgreSQL binaries (pgtest.Available() is false)")
	}
	if o.target == nil {
		o.target = srv
	}
	if o.rows == (postgres.RowLimits{}) {
		o.rows = postgres.RowLimits{Rows: 10, Bytes: 16 << 10}
	}
	p := &proxy{
		DB:       o.target.CreateDatabase(t),
		Rec:      &recorder{},
		Log:      &bytes.Buffer{},
		logMu:    &sync.Mutex{},
		relayErr: make(chan error, 100),
		target:   o.target,
	}
	if o.targetFor == nil {
		o.targetFor = func(db string) postgres.Target {
			return postgres.Target{Address: o.target.Addr(), Database: db, User: "postgres", Password: o.target.Password, TLSMode: postgres.TLSDisable}
		}
	}
	open := o.open
	if open == nil {
		open = func(ctx context.Context, req *postgres.OpenRequest) (*postgres.Opened, error) {
			if req.Token != testToken {
				return nil, &postgres.Error{Severity: "FATAL", Code: "28P01", Message: "gatehouse: invalid or expired token"}
			}
			db := req.Database
			if db == "" || db == req.Connection {
				db = p.DB
			}
			u, err := postgres.Dial(ctx, o.targetFor(db), req.Params)
			if err != nil {
				return nil, err
			}
			u.Check = o.check
			u.Rows = o.rows
			if o.mask != nil {
				u.Mask = o.mask(o.targetFor(db))
			}
			return &postgres.Opened{
				Params: u.Params(),
				Relay: func(ctx context.Context, c net.Conn) error {
					if o.relayCtx != nil {
						ctx = o.relayCtx(ctx)
					}
					err := u.Relay(ctx, c, p.Rec)
					p.relayErr <- err
					return err
				},
				Cancel: u.Cancel,
				Close:  u.Close,
			}, nil
		}
	}
	f := &postgres.Front{
		TLSConfig:      o.tls,
		AllowPlaintext: o.plaintext || o.tls == nil,
		Open:           open,
		Logger:         slog.New(slog.NewTextHandler(lockedBuffer{p.logMu, p.Log}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.Addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if t.Failed() {
			t.Logf("front log:\n%s", p.logText())
		}
	})
	return p
}

// DSN is a client URL for the proxy, logging in to connection "app".
func (p *proxy) DSN(sslmode string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("app", testToken),
		Host:     p.Addr,
		Path:     "/" + p.DB,
		RawQuery: "sslmode=" + sslmode,
	}
	return u.String()
}

// nextRelayErr waits for a session's Relay to return.
func (p *proxy) nextRelayErr(t testing.TB) error {
	t.Helper()
	return <-p.relayErr
}

// certConfig returns a server TLS config and a pool that trusts it.
func certConfig(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	certPEM, keyPEM := pgtest.SelfSignedCert(t)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return &tls.Config{Certificates: []tls.Certificate{cert}}, pool
}

func asPgError(err error) (code, msg string) {
	type pgErr interface{ SQLState() string }
	var pe pgErr
	if errors.As(err, &pe) {
		return pe.SQLState(), err.Error()
	}
	return "", fmt.Sprint(err)
}
