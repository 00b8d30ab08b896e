package connector

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/mask"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/recording"
	"github.com/gatehouse-dev/gatehouse/internal/sqlclass"
)

// Kinds of session stream.
const (
	KindPostgres = "postgres"
	KindCancel   = "cancel"
	KindEvents   = "events"
	KindReview   = "review"
	KindEnd      = "end"
)

// Request opens a session (or cancels one). It carries what the gateway
// decided: who the client is and which policy allowed it. It never carries
// credentials.
type Request struct {
	Kind         string            `json:"kind"`
	Session      string            `json:"session"`
	Connection   string            `json:"connection,omitempty"`
	Database     string            `json:"database,omitempty"`
	Identity     string            `json:"identity,omitempty"`
	Groups       []string          `json:"groups,omitempty"`
	ClientAddr   string            `json:"client_addr,omitempty"`
	Policy       string            `json:"policy,omitempty"`
	PolicyDigest string            `json:"policy_digest,omitempty"`
	Params       map[string]string `json:"params,omitempty"`
	// Rules are the statement rules of the policy that allowed the session.
	Rules []policy.Rule `json:"rules,omitempty"`
	// Masking are the masking profiles of that policy, in order.
	Masking []policy.MaskProfile `json:"masking,omitempty"`
	// End, in a KindEnd request, is what the client of the session is told
	// as the session ends (access revoked, token expired).
	End *ReplyError `json:"end,omitempty"`
}

// Reply answers a Request.
type Reply struct {
	Error  *ReplyError      `json:"error,omitempty"`
	Params []postgres.Param `json:"params,omitempty"`
}

// ReplyError is a user-visible protocol error.
type ReplyError struct {
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Message  string `json:"message"`
}

// Connector serves the connections it holds credentials for.
type Connector struct {
	// Name is the connector's name as the gateway knows it.
	Name string
	// Connections are the targets this connector serves, by name.
	Connections map[string]config.Connection
	// Spool receives every session event before it is acted on.
	Spool  *recording.Spool
	Logger *slog.Logger
	// Classifier classifies statements for rule checks; shared by every
	// session, it caches by statement text. Nil means a new one on first use.
	Classifier *sqlclass.Cache
	// Hold holds a statement for review; nil blocks statements whose rule
	// asks for a review.
	Hold HoldFunc
	// MaskKey keys the hash transform of masking, so that the same value
	// gives the same token in every session. It stays with the connector.
	MaskKey []byte

	mu      sync.Mutex
	live    map[string]*Session
	rules   map[string]*policy.RuleSet   // compiled rules by policy digest and name
	maskers map[string]*mask.Masker      // compiled masking by policy digest and name
	columns map[string]*postgres.Columns // by connection and database
}

// errUnavailable is what a client sees when its connection cannot be
// opened; details go to the connector's log.
var errUnavailable = &postgres.Error{Severity: "FATAL", Code: "08006", Message: "gatehouse: cannot connect to the target database"}

// Open connects to the target of req and returns a session ready to Run. A
// *postgres.Error result is safe to show to the client.
func (c *Connector) Open(ctx context.Context, req *Request) (*Session, error) {
	log := c.Logger.With("session", req.Session, "connection", req.Connection)
	cn, ok := c.Connections[req.Connection]
	if !ok {
		log.Warn("session for a connection this connector does not serve")
		return nil, &postgres.Error{Severity: "FATAL", Code: "08006",
			Message: fmt.Sprintf("gatehouse: connection %q is not configured on connector %s", req.Connection, c.Name)}
	}
	target, err := targetFor(&cn)
	if err != nil {
		log.Error("connection misconfigured", "err", err)
		return nil, errUnavailable
	}
	if req.Database != "" {
		target.Database = req.Database
	}
	var chk *checker
	if len(req.Rules) > 0 {
		rs, err := c.compiled(req)
		if err != nil {
			log.Error("policy rules cannot be enforced", "policy", req.Policy, "err", err)
			return nil, &postgres.Error{Severity: "FATAL", Code: "42501",
				Message: fmt.Sprintf("gatehouse: policy %s cannot be enforced by connector %s", req.Policy, c.Name)}
		}
		chk = &checker{policy: req.Policy, rules: rs, cache: c.classifier(), req: req, hold: c.Hold}
	}
	up, err := postgres.Dial(ctx, target, req.Params)
	if err != nil {
		var pe *postgres.Error
		if errors.As(err, &pe) {
			// err carries the cause (address, the server's message), with
			// the password scrubbed; the client gets only pe.
			log.Warn("open target failed", "code", pe.Code, "target", target, "err", err)
			return nil, pe
		}
		log.Error("open target failed", "err", err)
		return nil, errUnavailable
	}
	if chk != nil {
		up.Check = chk.check
	}
	if len(req.Masking) > 0 {
		m, err := c.masker(req)
		if err != nil {
			up.Close()
			log.Error("masking cannot be applied", "policy", req.Policy, "err", err)
			return nil, &postgres.Error{Severity: "FATAL", Code: "42501",
				Message: fmt.Sprintf("gatehouse: the masking of policy %s cannot be applied by connector %s", req.Policy, c.Name)}
		}
		cols := c.columnsFor(req.Connection, target)
		up.Mask = &postgres.Masking{Masker: m, Columns: cols.Resolve, Copy: copySpecs(cols), Invalidate: cols.Invalidate, Generation: cols.Generation}
	}
	rows, bytes := cn.Recording.Limits()
	up.Rows = postgres.RowLimits{Rows: rows, Bytes: bytes}
	s := &Session{c: c, req: *req, up: up, log: log, chk: chk}
	c.mu.Lock()
	if c.live == nil {
		c.live = make(map[string]*Session)
	}
	c.live[req.Session] = s
	c.mu.Unlock()
	return s, nil
}

// compiled returns the compiled rules of the policy in req, compiling them
// once per policy version.
func (c *Connector) compiled(req *Request) (*policy.RuleSet, error) {
	key := req.PolicyDigest + "/" + req.Policy
	c.mu.Lock()
	rs := c.rules[key]
	c.mu.Unlock()
	if rs != nil {
		return rs, nil
	}
	rs, err := policy.CompileRules(req.Rules)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.rules == nil || len(c.rules) > 256 {
		c.rules = make(map[string]*policy.RuleSet)
	}
	c.rules[key] = rs
	c.mu.Unlock()
	return rs, nil
}

// masker returns the compiled masking of the policy in req, compiling it
// once per policy version.
func (c *Connector) masker(req *Request) (*mask.Masker, error) {
	key := req.PolicyDigest + "/" + req.Policy
	c.mu.Lock()
	m := c.maskers[key]
	c.mu.Unlock()
	if m != nil {
		return m, nil
	}
	profiles := make(map[string]mask.Profile, len(req.Masking))
	names := make([]string, 0, len(req.Masking))
	for _, p := range req.Masking {
		profiles[p.Name] = p.Profile
		names = append(names, p.Name)
	}
	m, err := mask.Compile(profiles, names, c.MaskKey)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.maskers == nil || len(c.maskers) > 256 {
		c.maskers = make(map[string]*mask.Masker)
	}
	c.maskers[key] = m
	c.mu.Unlock()
	return m, nil
}

// columnsFor returns the shared column-name cache of a connection's
// database.
func (c *Connector) columnsFor(conn string, target postgres.Target) *postgres.Columns {
	key := conn + "\x00" + target.Database
	c.mu.Lock()
	defer c.mu.Unlock()
	if cols := c.columns[key]; cols != nil {
		return cols
	}
	if c.columns == nil {
		c.columns = make(map[string]*postgres.Columns)
	}
	cols := &postgres.Columns{Target: target}
	c.columns[key] = cols
	return cols
}

// Close closes the connections the connector keeps for itself. Sessions
// are not affected.
func (c *Connector) Close() error {
	c.mu.Lock()
	cols := c.columns
	c.columns = nil
	c.mu.Unlock()
	var errs []error
	for _, cl := range cols {
		errs = append(errs, cl.Close())
	}
	return errors.Join(errs...)
}

func (c *Connector) classifier() *sqlclass.Cache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Classifier == nil {
		c.Classifier = sqlclass.NewCache(10000)
	}
	return c.Classifier
}

// Cancel cancels the statement running in a live session.
func (c *Connector) Cancel(ctx context.Context, session string) error {
	c.mu.Lock()
	s := c.live[session]
	c.mu.Unlock()
	if s == nil {
		return fmt.Errorf("cancel session %s: not live", session)
	}
	return s.up.Cancel(ctx)
}

// End ends a live session, telling its client cause (FATAL). It fails for
// a session that is not live.
func (c *Connector) End(session string, cause *postgres.Error) error {
	c.mu.Lock()
	s := c.live[session]
	c.mu.Unlock()
	if s == nil {
		return fmt.Errorf("end session %s: not live", session)
	}
	s.end(cause)
	return nil
}

// Live returns the number of live sessions.
func (c *Connector) Live() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.live)
}

func (c *Connector) forget(id string) {
	c.mu.Lock()
	delete(c.live, id)
	c.mu.Unlock()
}

func targetFor(cn *config.Connection) (postgres.Target, error) {
	if !cn.Targeted() {
		return postgres.Target{}, fmt.Errorf("connection %s has no address or username", cn.Name)
	}
	pw, err := cn.ResolvePassword()
	if err != nil {
		return postgres.Target{}, err
	}
	t := postgres.Target{
		Address:    cn.Address,
		Database:   cn.Database,
		User:       cn.Username,
		Password:   pw,
		TLSMode:    cn.TLS,
		ServerName: cn.TLSServer,
	}
	if cn.TLSCA != "" {
		pem, err := os.ReadFile(cn.TLSCA)
		if err != nil {
			return postgres.Target{}, fmt.Errorf("connection %s: read tls_ca: %w", cn.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return postgres.Target{}, fmt.Errorf("connection %s: tls_ca holds no PEM certificate", cn.Name)
		}
		t.RootCAs = pool
	}
	return t, nil
}

// Session is one open target session.
type Session struct {
	c     *Connector
	req   Request
	up    *postgres.Upstream
	log   *slog.Logger
	chk   *checker // nil when the session's policy has no rules
	close sync.Once

	mu       sync.Mutex
	cancel   context.CancelCauseFunc // set while Run runs
	endCause error                   // End before Run started
}

// end ends the session's relay, telling the client cause.
func (s *Session) end(cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		s.cancel(cause)
		return
	}
	s.endCause = cause
}

// Params returns the target's parameter statuses for the client.
func (s *Session) Params() []postgres.Param { return s.up.Params() }

// Close releases the target connection of a session that will not Run.
func (s *Session) Close() error {
	var err error
	s.close.Do(func() {
		s.c.forget(s.req.Session)
		err = s.up.Close()
	})
	return err
}

// Run records the session start, relays client until the session ends, and
// records the end. If the start cannot be recorded the session does not
// begin.
func (s *Session) Run(ctx context.Context, client net.Conn) (err error) {
	defer s.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.mu.Lock()
	s.cancel = cancel
	if s.endCause != nil {
		cancel(s.endCause)
	}
	s.mu.Unlock()
	rec := newRecorder(s.req.Session, s.c.Spool)
	if s.chk != nil {
		s.chk.rec = rec
	}
	start := sessionStart{
		Identity:     s.req.Identity,
		Groups:       s.req.Groups,
		Connection:   s.req.Connection,
		Database:     s.req.Database,
		ClientAddr:   s.req.ClientAddr,
		Policy:       s.req.Policy,
		PolicyDigest: s.req.PolicyDigest,
		Connector:    s.c.Name,
		Protocol:     KindPostgres,
		Application:  s.req.Params["application_name"],
	}
	if err := rec.record(time.Now(), recording.TypeSessionStart, &start); err != nil {
		return fmt.Errorf("record session start: %w", err)
	}
	relayErr := s.up.Relay(ctx, client, rec)
	end := sessionEnd{Statements: rec.statements, Reason: "client disconnected", Masked: rec.maskedTotals()}
	if relayErr != nil {
		end.Reason = "ended with error"
		end.Error = relayErr.Error()
	}
	if ctx.Err() != nil {
		end.Reason = "ended by gateway"
		var pe *postgres.Error
		if errors.As(context.Cause(ctx), &pe) {
			end.Reason = pe.Message
		}
	}
	if err := rec.record(time.Now(), recording.TypeSessionEnd, &end); err != nil {
		s.log.Error("record session end", "err", err)
		if relayErr == nil {
			relayErr = err
		}
	}
	return relayErr
}

// NewSessionID returns a new random session ID.
func NewSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "s_" + hex.EncodeToString(b[:])
}
