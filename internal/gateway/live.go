package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/connector"
	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tunnel"
)

// What a client is told when the gateway ends its session.
var (
	errRevoked      = &postgres.Error{Severity: "FATAL", Code: "57P01", Message: "gatehouse: access revoked"}
	errTokenExpired = &postgres.Error{Severity: "FATAL", Code: "57P01", Message: "gatehouse: token expired"}
	errRateLimited  = &postgres.Error{Severity: "FATAL", Code: "28000", Message: "gatehouse: too many failed sign-ins from your address; try again later"}
)

// remoteEndGrace is how long the gateway waits for a connector to end a
// session with its message before it cuts the connection itself.
const remoteEndGrace = 2 * time.Second

// liveSession is a session the gateway relays now.
type liveSession struct {
	id, tokenID, identity string
	connector             string // "" for the embedded connector
	cancel                context.CancelCauseFunc
	once                  sync.Once
}

// liveSessions are the sessions in flight, so that revoking access ends
// them.
type liveSessions struct {
	mu sync.Mutex
	m  map[string]*liveSession
}

func (l *liveSessions) add(s *liveSession) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*liveSession)
	}
	l.m[s.id] = s
	l.mu.Unlock()
}

func (l *liveSessions) remove(id string) {
	l.mu.Lock()
	delete(l.m, id)
	l.mu.Unlock()
}

func (l *liveSessions) matching(f func(*liveSession) bool) []*liveSession {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*liveSession
	for _, s := range l.m {
		if f(s) {
			out = append(out, s)
		}
	}
	return out
}

// endLive ends a live session, telling its client cause. The embedded
// connector's engine sees the cause at once; a remote connector is asked
// over the tunnel, and the gateway cuts the connection itself if the
// session is still there after remoteEndGrace.
func (g *Gateway) endLive(s *liveSession, cause *postgres.Error) {
	s.once.Do(func() {
		if s.connector == "" || g.tun == nil {
			s.cancel(cause)
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), remoteEndGrace)
			defer cancel()
			if err := g.askEnd(ctx, s, cause); err != nil {
				g.Logger.Warn("ask connector to end session", logSession, s.id, "connector", s.connector, "err", err)
				s.cancel(cause)
				return
			}
			<-ctx.Done()
			s.cancel(cause)
		}()
	})
}

func (g *Gateway) askEnd(ctx context.Context, s *liveSession, cause *postgres.Error) error {
	cs, err := g.tun.Open(ctx, s.connector)
	if err != nil {
		return err
	}
	defer cs.Close()
	return tunnel.WriteFrame(cs, &connector.Request{Kind: connector.KindEnd, Session: s.id,
		End: &connector.ReplyError{Severity: cause.Severity, Code: cause.Code, Message: cause.Message}})
}

// endSessionsOf ends the live sessions that f selects because access was
// revoked, and records each in the audit log.
func (g *Gateway) endSessionsOf(ctx context.Context, f func(*liveSession) bool, reason string) int {
	ended := g.live.matching(f)
	for _, s := range ended {
		g.endLive(s, errRevoked)
		g.audit(ctx, &store.AuditEvent{Type: store.AuditSessionRevoked, OK: true, Identity: s.identity, TokenID: s.tokenID,
			Reason: fmt.Sprintf("session %s ended: %s", s.id, reason)})
	}
	return len(ended)
}

// revokeToken revokes a token for by and ends the sessions it opened.
func (g *Gateway) revokeToken(ctx context.Context, by *auth.Principal, id string) error {
	t, err := g.store.GetToken(ctx, id)
	if err != nil {
		return err
	}
	if err := g.issuer.Revoke(ctx, id); err != nil {
		return err
	}
	g.audit(ctx, &store.AuditEvent{Type: store.AuditRevoke, OK: true, Identity: t.Identity, Actor: actor(by), TokenID: id})
	n := g.endSessionsOf(ctx, func(s *liveSession) bool { return s.tokenID == id }, "token "+id+" revoked")
	g.Logger.Info("token revoked", "token_id", id, logIdentity, t.Identity, "sessions_ended", n)
	return nil
}

// disableIdentity disables an identity for by: its tokens are revoked and
// its live sessions end.
func (g *Gateway) disableIdentity(ctx context.Context, by *auth.Principal, name, reason string) error {
	revoked, err := g.store.DisableIdentity(ctx, name, actor(by), reason, time.Now().UTC())
	if err != nil {
		return err
	}
	g.audit(ctx, &store.AuditEvent{Type: store.AuditDisable, OK: true, Identity: name, Actor: actor(by), Reason: reason})
	for _, id := range revoked {
		g.audit(ctx, &store.AuditEvent{Type: store.AuditRevoke, OK: true, Identity: name, Actor: actor(by), TokenID: id, Reason: "identity disabled"})
	}
	n := g.endSessionsOf(ctx, func(s *liveSession) bool { return s.identity == name }, "identity "+name+" disabled")
	g.Logger.Info("identity disabled", logIdentity, name, "tokens_revoked", len(revoked), "sessions_ended", n)
	return nil
}

func (g *Gateway) enableIdentity(ctx context.Context, by *auth.Principal, name string) error {
	if err := g.store.EnableIdentity(ctx, name); err != nil {
		return err
	}
	g.audit(ctx, &store.AuditEvent{Type: store.AuditEnable, OK: true, Identity: name, Actor: actor(by)})
	return nil
}

func actor(p *auth.Principal) string {
	if p == nil {
		return ""
	}
	return p.Identity
}

// audit records an authentication event; a failure to record goes to the
// log, it does not fail what is being recorded.
func (g *Gateway) audit(ctx context.Context, e *store.AuditEvent) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := g.store.AppendAudit(ctx, e); err != nil {
		g.Logger.Error("record audit event", "type", e.Type, "err", err)
	}
}

// signInFailed records a token refused from source over proto with err
// (from Authenticate), and counts it against the source's allowance.
func (g *Gateway) signInFailed(ctx context.Context, source, proto string, err error) {
	g.limiter.fail("src:" + source)
	g.audit(ctx, refusedToken(source, proto, err))
}

// refusedToken is the audit event of a refused token. A token the store
// knows (revoked or expired) is recorded with whose it was; a malformed
// or unknown one with no identity. The token itself is never recorded.
func refusedToken(source, proto string, err error) *store.AuditEvent {
	e := &store.AuditEvent{Type: store.AuditLoginFailed, Source: source, Reason: "invalid or expired token (" + proto + ")"}
	var te *auth.TokenError
	if errors.As(err, &te) {
		e.Identity, e.TokenID = te.Identity, te.TokenID
		e.Reason = "token " + te.Reason + " (" + proto + ")"
	}
	return e
}

func (g *Gateway) signInBlocked(source string) bool {
	return g.limiter.blocked("src:" + source)
}
