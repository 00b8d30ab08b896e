package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/connector"
	"github.com/gatehouse-dev/gatehouse/internal/datadir"
	"github.com/gatehouse-dev/gatehouse/internal/notify"
	"github.com/gatehouse-dev/gatehouse/internal/pki"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/recording"
	"github.com/gatehouse-dev/gatehouse/internal/review"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/pgstore"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/tunnel"
)

// Log keys shared across the gateway.
const (
	logSession    = "session"
	logConnection = "connection"
	logIdentity   = "identity"
)

// AdminTokenTTL is the lifetime of the bootstrap admin token.
const AdminTokenTTL = 365 * 24 * time.Hour

// Gateway is a running gateway. Build it with New, then Start, then Close.
type Gateway struct {
	// Config is the validated configuration.
	Config *config.Config
	// Embedded runs an in-process connector for connections whose connector
	// is "embedded" (`gatehouse up`).
	Embedded bool
	Logger   *slog.Logger

	store    store.Store
	issuer   *auth.Issuer
	reviews  *review.Service
	notifier *notify.Notifier
	key      ed25519.PrivateKey
	ca       *pki.CA
	tlsConf  *tls.Config
	policies atomic.Pointer[policy.Set]
	conns    map[string]config.Connection
	dirLock  *datadir.Lock

	live      liveSessions
	limiter   failLimiter
	workloads *workloads
	people    *people
	saml      samlLogins
	baseCtx   context.Context // ends when the gateway closes

	local   *connector.Connector
	spool   *recording.Spool
	tun     *tunnel.Server
	front   *postgres.Front
	httpSrv *http.Server

	listeners struct {
		postgres, api, tunnel net.Listener
	}

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Addrs are the addresses the gateway listens on.
type Addrs struct {
	Postgres, API, Tunnel string
}

// Addrs returns the bound addresses; useful when the config asked for port 0.
func (g *Gateway) Addrs() Addrs {
	var a Addrs
	if l := g.listeners.postgres; l != nil {
		a.Postgres = l.Addr().String()
	}
	if l := g.listeners.api; l != nil {
		a.API = l.Addr().String()
	}
	if l := g.listeners.tunnel; l != nil {
		a.Tunnel = l.Addr().String()
	}
	return a
}

// Store returns the gateway's store.
func (g *Gateway) Store() store.Store { return g.store }

// Issuer returns the gateway's token issuer.
func (g *Gateway) Issuer() *auth.Issuer { return g.issuer }

// PublicKey returns the key that verifies session signatures.
func (g *Gateway) PublicKey() ed25519.PublicKey { return g.key.Public().(ed25519.PublicKey) }

// CA returns the gateway's internal certificate authority.
func (g *Gateway) CA() *pki.CA { return g.ca }

// AdminTokenPath is where the bootstrap admin token is written.
func AdminTokenPath(dataDir string) string { return filepath.Join(dataDir, "admin.token") }

// Start opens everything and starts serving. On error, what was started is
// stopped again.
func (g *Gateway) Start(ctx context.Context) (err error) {
	if g.Logger == nil {
		g.Logger = slog.New(slog.DiscardHandler)
	}
	cfg := g.Config
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if g.dirLock, err = datadir.Acquire(cfg.DataDir); err != nil {
		return err
	}
	ctx, g.cancel = context.WithCancel(ctx)
	g.baseCtx = ctx
	defer func() {
		if err != nil {
			g.Close(context.Background())
		}
	}()

	db, err := g.openStore(ctx)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	g.store = db
	g.issuer = &auth.Issuer{Store: db}
	if len(cfg.Auth.OIDC) > 0 {
		if g.people, err = newPeople(cfg.Auth.OIDC); err != nil {
			return err
		}
	}
	if len(cfg.Auth.Workloads) > 0 {
		if g.workloads, err = newWorkloads(cfg.Auth.Workloads); err != nil {
			return err
		}
	}
	g.reviews = &review.Service{Store: db, Logger: g.Logger.With("component", "review")}
	if hooks := cfg.Notify.Webhooks; len(hooks) > 0 {
		wh := make([]notify.Webhook, len(hooks))
		for i, h := range hooks {
			wh[i] = notify.Webhook{URL: string(h.URL), Events: h.Events}
		}
		g.notifier = notify.New(wh, nil, g.Logger.With("component", "notify"))
		g.reviews.Notify = g.notifyReview
	}
	if err := g.ensureAdminToken(ctx); err != nil {
		return err
	}
	if g.key, err = recording.LoadOrCreateKey(filepath.Join(cfg.DataDir, "signing.key")); err != nil {
		return fmt.Errorf("load signing key: %w", err)
	}
	if g.ca, err = pki.LoadOrCreateCA(filepath.Join(cfg.DataDir, "pki")); err != nil {
		return fmt.Errorf("load CA: %w", err)
	}
	cert, err := g.serverCert()
	if err != nil {
		return err
	}
	// No TLS session tickets, as PostgreSQL's own server: libpq never
	// resumes sessions, so they would only add bytes to every handshake.
	g.tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, SessionTicketsDisabled: true}

	g.policies.Store(cfg.PolicySet())
	g.conns = make(map[string]config.Connection, len(cfg.Connections))
	for _, cn := range cfg.Connections {
		g.conns[cn.Name] = cn
	}

	if g.Embedded {
		if err := g.startEmbedded(ctx); err != nil {
			return err
		}
	}
	if cfg.Gateway.Tunnel != "" {
		if err := g.startTunnel(ctx); err != nil {
			return err
		}
	}
	if err := g.startPostgres(ctx); err != nil {
		return err
	}
	if err := g.startAPI(ctx); err != nil {
		return err
	}
	a := g.Addrs()
	g.Logger.Info("gateway ready", "postgres", a.Postgres, "api", "http://"+a.API, "tunnel", a.Tunnel, "data_dir", cfg.DataDir)
	return nil
}

// openStore opens the store the configuration names: PostgreSQL when
// store.postgres is set, else the SQLite file under the data dir.
func (g *Gateway) openStore(ctx context.Context) (store.Store, error) {
	cfg := g.Config
	if cfg.Store.Postgres != "" {
		db, err := pgstore.Open(ctx, string(cfg.Store.Postgres), g.Logger.With("component", "store"))
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return db, nil
	}
	path := cfg.Store.SQLite
	if !filepath.IsAbs(path) {
		path = filepath.Join(cfg.DataDir, path)
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	return db, nil
}

// ensureAdminToken writes a bootstrap admin token on first start, and again
// if the file is missing or its token no longer works.
func (g *Gateway) ensureAdminToken(ctx context.Context) error {
	path := AdminTokenPath(g.Config.DataDir)
	if b, err := os.ReadFile(path); err == nil {
		if _, err := g.issuer.Authenticate(ctx, strings.TrimSpace(string(b))); err == nil {
			return nil
		}
	}
	tok, _, err := g.issuer.Issue(ctx, auth.IssueRequest{Identity: "admin", Kind: auth.KindAdmin, TTL: AdminTokenTTL, IssuedBy: "gatehouse"})
	if err != nil {
		return fmt.Errorf("issue admin token: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	g.Logger.Info("wrote admin token", "path", path)
	return nil
}

func (g *Gateway) serverCert() (tls.Certificate, error) {
	if t := g.Config.Gateway.TLS; t != nil {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("gateway.tls: %w", err)
		}
		return cert, nil
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	for _, addr := range []string{g.Config.Gateway.Postgres, g.Config.Gateway.Tunnel, g.Config.Gateway.API} {
		if h, _, err := net.SplitHostPort(addr); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
			hosts = append(hosts, h)
		}
	}
	hosts = append(hosts, g.Config.Gateway.Hosts...)
	dir := filepath.Join(g.Config.DataDir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("create tls dir: %w", err)
	}
	cert, err := g.ca.LoadOrIssueServer(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), dedupe(hosts))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("server certificate: %w", err)
	}
	return cert, nil
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func (g *Gateway) startEmbedded(ctx context.Context) error {
	sp, err := connector.OpenSpool(g.Config.DataDir)
	if err != nil {
		return err
	}
	g.spool = sp
	key, err := connector.LoadOrCreateMaskKey(g.Config.DataDir)
	if err != nil {
		return err
	}
	g.local = &connector.Connector{
		Name:        config.EmbeddedConnector,
		Connections: connector.Served(g.Config, config.EmbeddedConnector),
		Spool:       sp,
		Logger:      g.Logger.With("connector", config.EmbeddedConnector),
		Hold:        g.hold,
		MaskKey:     key,
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := recording.Ship(ctx, sp, connector.ShipBatch, g.ingest); err != nil && ctx.Err() == nil {
			g.Logger.Error("shipping events stopped", "err", err)
		}
	}()
	return nil
}

func (g *Gateway) startTunnel(ctx context.Context) error {
	g.tun = &tunnel.Server{
		CA:   g.ca,
		Cert: g.tlsConf.Certificates[0],
		Join: g.consumeJoinToken,
		Enrolled: func(ctx context.Context, name, serial string) error {
			return g.store.UpsertConnector(ctx, &store.Connector{Name: name, CertSerial: serial, JoinedAt: time.Now().UTC()})
		},
		Accept: func(ctx context.Context, name string, stream net.Conn) {
			gs := connector.GatewayStreams{Ingest: g.ingest, Hold: g.hold}
			if err := gs.Serve(ctx, stream); err != nil && ctx.Err() == nil {
				g.Logger.Warn("connector stream ended", "connector", name, "err", err)
			}
		},
		Status: func(name string, online bool) {
			g.Logger.Info("connector status", "connector", name, "online", online)
			if err := g.store.TouchConnector(context.Background(), name, time.Now().UTC()); err != nil && !errors.Is(err, store.ErrNotFound) {
				g.Logger.Warn("record connector status", "connector", name, "err", err)
			}
		},
		Logger: g.Logger.With("component", "tunnel"),
	}
	ln, err := net.Listen("tcp", g.Config.Gateway.Tunnel)
	if err != nil {
		return fmt.Errorf("gateway.tunnel: listen: %w", err)
	}
	g.listeners.tunnel = ln
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := g.tun.Serve(ctx, ln); err != nil && ctx.Err() == nil {
			g.Logger.Error("tunnel listener stopped", "err", err)
		}
	}()
	return nil
}

func (g *Gateway) startPostgres(ctx context.Context) error {
	if g.Config.Gateway.Postgres == "" {
		return nil
	}
	g.front = &postgres.Front{
		TLSConfig:      g.tlsConf,
		AllowPlaintext: g.Config.Gateway.AllowPlaintext,
		Open:           g.openPostgres,
		Logger:         g.Logger.With("proto", "postgres"),
	}
	ln, err := net.Listen("tcp", g.Config.Gateway.Postgres)
	if err != nil {
		return fmt.Errorf("gateway.postgres: listen: %w", err)
	}
	g.listeners.postgres = ln
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := g.front.Serve(ctx, ln); err != nil && ctx.Err() == nil {
			g.Logger.Error("postgres listener stopped", "err", err)
		}
	}()
	return nil
}

func (g *Gateway) startAPI(ctx context.Context) error {
	addr := g.Config.Gateway.API
	if addr == "" {
		return nil
	}
	if g.Config.Gateway.TLS == nil && !loopback(addr) {
		return fmt.Errorf("gateway.api: %s is not a loopback address; set gateway.tls to serve the API on it", addr)
	}
	srv := &api.Server{
		Store:        g.store,
		Authenticate: g.issuer.Authenticate,
		IssueToken: func(ctx context.Context, by *auth.Principal, identity string, groups []string, ttl time.Duration) (string, *store.Token, error) {
			secret, t, err := g.issuer.Issue(ctx, auth.IssueRequest{Identity: identity, Groups: groups, Kind: auth.KindService, TTL: ttl, IssuedBy: by.Identity})
			if err == nil {
				g.audit(ctx, &store.AuditEvent{Type: store.AuditIssue, OK: true, Identity: identity, Actor: by.Identity, TokenID: t.ID})
			}
			return secret, t, err
		},
		MaxTokenTTL:     g.Config.Auth.MaxTokenTTL,
		Connections:     g.reachable,
		RevokeToken:     g.revokeToken,
		DisableIdentity: g.disableIdentity,
		EnableIdentity:  g.enableIdentity,
		SignInBlocked:   g.signInBlocked,
		Exchange:        g.exchange,
		DeviceStart:     g.deviceStart,
		DeviceToken:     g.deviceToken,
		Authorize:       g.authorize,
		SAMLMetadata:    g.samlMetadataHook(),
		SAMLStart:       g.samlStartHook(),
		SAMLACS:         g.samlACSHook(),
		SAMLToken:       g.samlTokenHook(),
		AuthorizeToken:  g.authorizeToken,
		SignInFailed: func(ctx context.Context, source string, err error) {
			g.signInFailed(ctx, source, "API", err)
		},
		JoinToken:       g.newJoinToken,
		ConnectorOnline: g.connectorOnline,
		SessionSignature: func(ctx context.Context, id string) (string, error) {
			s, err := g.store.GetSession(ctx, id)
			if err != nil {
				return "", err
			}
			return s.Signature, nil
		},
		PublicKey:     g.PublicKey(),
		Reviews:       g.reviews,
		RequestAccess: g.requestAccess,
		ApplyPolicies: g.applyPolicies,
		Logger:        g.Logger.With("component", "api"),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway.api: listen: %w", err)
	}
	g.listeners.api = ln
	g.httpSrv = &http.Server{Handler: g.apiHandler(srv), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(g.Logger.Handler(), slog.LevelWarn)}
	if g.Config.Gateway.TLS != nil {
		g.httpSrv.TLSConfig = g.tlsConf.Clone()
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		var err error
		if g.httpSrv.TLSConfig != nil {
			err = g.httpSrv.ServeTLS(ln, "", "")
		} else {
			err = g.httpSrv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.Logger.Error("api listener stopped", "err", err)
		}
	}()
	return nil
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (g *Gateway) connectorOnline(name string) bool {
	if name == config.EmbeddedConnector {
		return g.local != nil
	}
	return g.tun != nil && g.tun.Online(name)
}

// Close stops serving, waits for every goroutine and closes the store. It
// is safe to call more than once.
func (g *Gateway) Close(ctx context.Context) error {
	g.closeOnce.Do(func() {
		if g.cancel != nil {
			g.cancel()
		}
		if g.httpSrv != nil {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_ = g.httpSrv.Shutdown(sctx)
			cancel()
		}
		for _, l := range []net.Listener{g.listeners.postgres, g.listeners.tunnel} {
			if l != nil {
				l.Close()
			}
		}
		g.wg.Wait()
		if g.notifier != nil {
			g.notifier.Close()
		}
		if g.local != nil {
			g.local.Close()
		}
		if g.spool != nil {
			if err := g.spool.Close(); err != nil {
				g.closeErr = errors.Join(g.closeErr, err)
			}
		}
		if g.store != nil {
			if err := g.store.Close(); err != nil {
				g.closeErr = errors.Join(g.closeErr, err)
			}
		}
		g.dirLock.Release()
	})
	return g.closeErr
}

// ReloadPolicies swaps in the policies of cfg, which must have been
// validated. New sessions use them; live sessions keep the policy they
// were opened under.
func (g *Gateway) ReloadPolicies(cfg *config.Config) {
	set := cfg.PolicySet()
	g.policies.Store(set)
	g.Logger.Info("policies reloaded", "policies", len(cfg.Policies), "digest", set.Digest())
}

// applyPolicies parses a YAML document holding `policies:` (a whole
// configuration file works too), validates it whole and swaps it in. An
// invalid document changes nothing.
func (g *Gateway) applyPolicies(_ context.Context, doc []byte) (string, error) {
	cfg, err := config.ParsePolicies(bytes.NewReader(doc))
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return "", api.BadRequest("policies refused, nothing changed: " + err.Error())
	}
	g.ReloadPolicies(cfg)
	return g.policies.Load().Digest(), nil
}
