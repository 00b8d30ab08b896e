package gateway

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/connector"
	"github.com/gatehouse-dev/gatehouse/internal/notify"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/recording"
	"github.com/gatehouse-dev/gatehouse/internal/review"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tunnel"
)

var errBadToken = &postgres.Error{Severity: "FATAL", Code: "28P01", Message: "gatehouse: invalid or expired token"}

// noAccess is the one answer for a connection that does not exist and for
// one the caller may not use, so that names do not leak.
func noAccess(name string) *postgres.Error {
	return &postgres.Error{Severity: "FATAL", Code: "28000",
		Message: fmt.Sprintf("gatehouse: connection %q does not exist or you are not allowed to use it", name)}
}

// openPostgres authenticates, authorizes and routes a PostgreSQL session.
func (g *Gateway) openPostgres(ctx context.Context, req *postgres.OpenRequest) (*postgres.Opened, error) {
	log := g.Logger.With("proto", "postgres", logConnection, req.Connection, "client", req.ClientAddr.String())
	source := hostOf(req.ClientAddr)
	p, err := g.issuer.Authenticate(ctx, req.Token)
	if errors.Is(err, auth.ErrInvalidToken) {
		// A valid token works from any address; past the failures allowed,
		// an address's bad tokens are not even counted or told apart, so
		// that guessing gets nothing back, and the log stays quiet.
		if g.signInBlocked(source) {
			e := refusedToken(source, "postgres", err)
			e.Reason = "too many failed sign-ins (postgres)"
			g.audit(ctx, e)
			return nil, errRateLimited
		}
		log.Info("session refused", "reason", "invalid token")
		g.signInFailed(ctx, source, "postgres", err)
		return nil, errBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	g.audit(ctx, &store.AuditEvent{Type: store.AuditLogin, OK: true, Identity: p.Identity, TokenID: p.TokenID, Source: source,
		Reason: "postgres connection " + req.Connection})
	log = log.With(logIdentity, p.Identity)
	cn, ok := g.conns[req.Connection]
	pols := g.policies.Load()
	if !ok {
		log.Info("session refused", "reason", "unknown connection")
		return nil, noAccess(req.Connection)
	}
	d := pols.Access(policy.Subject{Identity: p.Identity, Groups: p.Groups}, policy.Target{Name: cn.Name, Tags: cn.Tags})
	var grantEnd time.Time
	if d.NeedsGrant {
		if grantEnd, err = g.grant(ctx, p.Identity, cn.Name); err != nil {
			return nil, fmt.Errorf("look up access grant: %w", err)
		}
		if grantEnd.IsZero() {
			log.Info("session refused", "reason", "no approved access request", "policy", d.Policy)
			return nil, &postgres.Error{Severity: "FATAL", Code: "28000", Message: fmt.Sprintf(
				"gatehouse: connection %q needs an approved access request: gatehouse request %s --for 1h --reason \"...\"", cn.Name, cn.Name)}
		}
		d.Allowed = true
	}
	if !d.Allowed {
		log.Info("session refused", "reason", d.Reason)
		return nil, noAccess(req.Connection)
	}
	if cn.Connector != config.EmbeddedConnector && !g.connectorOnline(cn.Connector) {
		log.Warn("session refused", "reason", "connector offline", "connector", cn.Connector)
		return nil, &postgres.Error{Severity: "FATAL", Code: "08006", Message: fmt.Sprintf("gatehouse: connector %s is offline", cn.Connector)}
	}
	database := req.Database
	if database == "" || database == req.Connection {
		// libpq defaults the database to the user name, which is the
		// connection name here: that means "the connection's database".
		database = cn.Database
	}
	sreq := &connector.Request{
		Kind:         connector.KindPostgres,
		Session:      connector.NewSessionID(),
		Connection:   cn.Name,
		Database:     database,
		Identity:     p.Identity,
		Groups:       p.Groups,
		ClientAddr:   req.ClientAddr.String(),
		Policy:       d.Policy,
		PolicyDigest: pols.Digest(),
		Params:       req.Params,
		Rules:        d.Rules,
		Masking:      d.Masking,
	}
	log = log.With(logSession, sreq.Session)
	sess := &store.Session{
		ID:           sreq.Session,
		Identity:     p.Identity,
		Groups:       p.Groups,
		Connection:   cn.Name,
		Connector:    cn.Connector,
		Protocol:     "postgres",
		Database:     database,
		ClientAddr:   sreq.ClientAddr,
		Policy:       d.Policy,
		PolicyDigest: sreq.PolicyDigest,
		TokenID:      p.TokenID,
		StartedAt:    time.Now().UTC(),
		Status:       store.StatusActive,
	}
	if err := g.store.CreateSession(ctx, sess); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	var opened *postgres.Opened
	if cn.Connector == config.EmbeddedConnector {
		opened, err = g.openLocal(ctx, sreq)
	} else {
		opened, err = g.openRemote(ctx, cn.Connector, sreq)
	}
	if err != nil {
		g.endSession(sreq.Session, store.StatusFailed, err)
		return nil, err
	}
	log.Info("session opened", "policy", d.Policy, "database", database)
	relay := opened.Relay
	opened.Relay = func(ctx context.Context, client net.Conn) error {
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		ls := &liveSession{id: sreq.Session, tokenID: p.TokenID, identity: p.Identity, cancel: cancel}
		if cn.Connector != config.EmbeddedConnector {
			ls.connector = cn.Connector
		}
		g.live.add(ls)
		defer g.live.remove(ls.id)
		if !d.OutliveToken && !p.Expires.IsZero() {
			// The session ends with the token that opened it.
			t := time.AfterFunc(time.Until(p.Expires), func() { g.endLive(ls, errTokenExpired) })
			defer t.Stop()
		}
		if d.MaxSession > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d.MaxSession)
			defer cancel()
		}
		if !grantEnd.IsZero() {
			// Live sessions end when the access grant does.
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, grantEnd)
			defer cancel()
		}
		err := relay(ctx, client)
		status := store.StatusEnded
		if err != nil && ctx.Err() == nil {
			status = store.StatusFailed
		}
		if ctx.Err() != nil {
			var pe *postgres.Error
			if errors.As(context.Cause(ctx), &pe) {
				err = errors.New("session ended by gateway: " + strings.TrimPrefix(pe.Message, "gatehouse: "))
			} else {
				err = errors.New("session ended by gateway: " + ctx.Err().Error())
			}
		}
		g.endSession(sreq.Session, status, err)
		log.Info("session ended", "err", err)
		return err
	}
	return opened, nil
}

func (g *Gateway) endSession(id, status string, cause error) {
	reason := ""
	if cause != nil {
		var pe *postgres.Error
		if errors.As(cause, &pe) {
			reason = pe.Message
		} else {
			reason = "session ended with an error"
			if strings.HasPrefix(cause.Error(), "session ended by gateway") {
				reason = cause.Error()
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.store.EndSession(ctx, id, time.Now().UTC(), status, reason); err != nil {
		g.Logger.Error("end session", logSession, id, "err", err)
	}
}

func (g *Gateway) openLocal(ctx context.Context, req *connector.Request) (*postgres.Opened, error) {
	if g.local == nil {
		return nil, &postgres.Error{Severity: "FATAL", Code: "08006", Message: "gatehouse: connector embedded is offline"}
	}
	s, err := g.local.Open(ctx, req)
	if err != nil {
		return nil, err
	}
	return &postgres.Opened{
		Params: s.Params(),
		Relay:  s.Run,
		Cancel: func(ctx context.Context) error { return g.local.Cancel(ctx, req.Session) },
		Close:  s.Close,
	}, nil
}

func (g *Gateway) openRemote(ctx context.Context, name string, req *connector.Request) (*postgres.Opened, error) {
	offline := &postgres.Error{Severity: "FATAL", Code: "08006", Message: fmt.Sprintf("gatehouse: connector %s is offline", name)}
	if g.tun == nil {
		return nil, offline
	}
	stream, err := g.tun.Open(ctx, name)
	if errors.Is(err, tunnel.ErrOffline) {
		return nil, offline
	}
	if err != nil {
		return nil, fmt.Errorf("open stream to connector %s: %w", name, err)
	}
	_ = stream.SetDeadline(time.Now().Add(30 * time.Second))
	var reply connector.Reply
	if err := tunnel.WriteFrame(stream, req); err == nil {
		err = tunnel.ReadFrame(stream, &reply)
	}
	if err != nil {
		stream.Close()
		return nil, fmt.Errorf("open session on connector %s: %w", name, err)
	}
	_ = stream.SetDeadline(time.Time{})
	if e := reply.Error; e != nil {
		stream.Close()
		return nil, &postgres.Error{Severity: e.Severity, Code: e.Code, Message: e.Message}
	}
	return &postgres.Opened{
		Params: reply.Params,
		Relay: func(ctx context.Context, client net.Conn) error {
			return pipe(ctx, client, stream)
		},
		Cancel: func(ctx context.Context) error {
			cs, err := g.tun.Open(ctx, name)
			if err != nil {
				return err
			}
			defer cs.Close()
			return tunnel.WriteFrame(cs, &connector.Request{Kind: connector.KindCancel, Session: req.Session})
		},
		Close: stream.Close,
	}, nil
}

// pipe copies bytes both ways until either side ends or ctx is done.
func pipe(ctx context.Context, a, b net.Conn) error {
	g, ctx := errgroup.WithContext(ctx)
	stop := context.AfterFunc(ctx, func() {
		a.Close()
		b.Close()
	})
	defer stop()
	cp := func(dst, src net.Conn) error {
		_, err := io.Copy(dst, src)
		// Half-close so the other direction can drain, then stop both.
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		a.Close()
		b.Close()
		if err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}
	g.Go(func() error { return cp(b, a) })
	g.Go(func() error { return cp(a, b) })
	return g.Wait()
}

// ingest stores shipped events and signs each session's closing event.
func (g *Gateway) ingest(ctx context.Context, evs []recording.Event) error {
	out := make([]store.Event, len(evs))
	for i, e := range evs {
		out[i] = store.Event{Session: e.Session, Seq: e.Seq, Time: e.Time, Type: e.Type, Data: e.Data, Prev: e.Prev, Hash: e.Hash}
	}
	if err := g.store.AppendEvents(ctx, out); err != nil {
		return err
	}
	for _, e := range evs {
		if e.Type != recording.TypeSessionEnd {
			continue
		}
		sig := recording.Sign(g.key, e.Session, e.Seq, e.Hash)
		if err := g.store.SignSession(ctx, e.Session, e.Seq, sig); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("sign session %s: %w", e.Session, err)
		}
	}
	return nil
}

func (g *Gateway) newJoinToken(ctx context.Context, name string, ttl time.Duration) (string, error) {
	if name == "" || name == config.EmbeddedConnector {
		return "", fmt.Errorf("invalid connector name %q", name)
	}
	if ttl <= 0 {
		ttl = time.Hour
	}
	tok, secret, err := tunnel.NewJoinToken(g.ca.Fingerprint())
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	jt := &store.JoinToken{Hash: auth.HashToken(string(secret)), Connector: name, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := g.store.CreateJoinToken(ctx, jt); err != nil {
		return "", fmt.Errorf("store join token: %w", err)
	}
	return tok, nil
}

func (g *Gateway) consumeJoinToken(ctx context.Context, secret []byte) (string, error) {
	jt, err := g.store.ConsumeJoinToken(ctx, auth.HashToken(string(secret)), time.Now().UTC())
	if err != nil {
		return "", err
	}
	// The store matched on the hash; compare again in constant time so a
	// driver's comparison cannot leak timing.
	if subtle.ConstantTimeCompare(jt.Hash, auth.HashToken(string(secret))) != 1 {
		return "", store.ErrNotFound
	}
	return jt.Connector, nil
}

// hold creates a statement review for the embedded connector and waits for
// its decision.
func (g *Gateway) hold(ctx context.Context, r *store.Review, created func(*store.Review)) (*store.Review, error) {
	r, err := g.reviews.Create(ctx, r)
	if err != nil {
		return nil, err
	}
	g.Logger.Info("statement held for review", "review", r.ID, logSession, r.Session, logIdentity, r.Requester)
	created(r)
	decided, err := g.reviews.Wait(ctx, r.ID)
	if err != nil && ctx.Err() != nil {
		// The statement's session stopped waiting: the statement will not
		// run, so the review must not stay open for approval.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, werr := g.reviews.Withdraw(wctx, r.ID); werr != nil {
			g.Logger.Warn("withdraw review", "review", r.ID, "err", werr)
		}
	}
	return decided, err
}

// notifyReview tells the webhooks about a review's state change.
func (g *Gateway) notifyReview(_ context.Context, r *store.Review, event string) {
	var text string
	switch event {
	case review.EventCreated:
		text = fmt.Sprintf("gatehouse: %s asks to run a statement on %s (policy %s); approve with: gatehouse reviews approve %s", r.Requester, r.Connection, r.Policy, r.ID)
	default:
		text = fmt.Sprintf("gatehouse: review %s for %s on %s is %s", r.ID, r.Requester, r.Connection, r.Status)
	}
	e := notify.Event{Event: event, Text: text, Data: r}
	if u := strings.TrimRight(g.Config.Gateway.PublicURL, "/"); u != "" {
		e.URL = u + "/console/reviews/" + r.ID
	}
	g.notifier.Send(e)
}

// grant returns when identity's newest approved access request for the
// connection ends, or the zero time when none is in force.
func (g *Gateway) grant(ctx context.Context, identity, conn string) (time.Time, error) {
	rs, err := g.store.ListReviews(ctx, store.ReviewFilter{Status: store.ReviewApproved, Requester: identity, Connection: conn})
	if err != nil {
		return time.Time{}, err
	}
	now := time.Now()
	var end time.Time
	for _, r := range rs {
		if r.Kind != store.ReviewAccess {
			continue
		}
		if e := r.DecidedAt.Add(r.AccessFor); e.After(now) && e.After(end) {
			end = e
		}
	}
	return end, nil
}

// requestAccess creates an access review for p on a connection whose
// policy says access: review.
func (g *Gateway) requestAccess(ctx context.Context, p *auth.Principal, conn string, d time.Duration, reason string) (*store.Review, error) {
	cn, ok := g.conns[conn]
	var dec policy.Decision
	if ok {
		dec = g.policies.Load().Access(policy.Subject{Identity: p.Identity, Groups: p.Groups}, policy.Target{Name: cn.Name, Tags: cn.Tags})
	}
	if !dec.NeedsGrant {
		// The same answer for unknown connections, forbidden ones and ones
		// that need no request, so names do not leak.
		return nil, api.AccessError(fmt.Sprintf("connection %q does not exist or takes no access requests from you", conn))
	}
	r, err := g.reviews.Create(ctx, &store.Review{
		Kind:            store.ReviewAccess,
		Requester:       p.Identity,
		RequesterGroups: p.Groups,
		Connection:      cn.Name,
		Policy:          dec.Policy,
		AccessFor:       d,
		Reason:          reason,
		Approvers:       dec.Approvers,
		MinApprovals:    dec.MinApprovals,
	})
	if err != nil {
		return nil, err
	}
	g.Logger.Info("access requested", "review", r.ID, logIdentity, p.Identity, logConnection, cn.Name, "for", d)
	return r, nil
}

// hostOf returns the IP of a client address, or its text.
func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// reachable lists the connections p's policies let them reach (directly,
// or after an approved access request) and where the listeners are.
func (g *Gateway) reachable(ctx context.Context, p *auth.Principal) (*api.ConnectionList, error) {
	// The bound address: the configured one may ask for port 0.
	out := &api.ConnectionList{Listeners: api.Listeners{Postgres: g.Addrs().Postgres}}
	if g.Config.Gateway.TLS == nil {
		out.Listeners.CA = string(g.ca.CertPEM())
	}
	pols := g.policies.Load()
	sub := policy.Subject{Identity: p.Identity, Groups: p.Groups}
	for _, cn := range g.conns {
		d := pols.Access(sub, policy.Target{Name: cn.Name, Tags: cn.Tags})
		access := "allow"
		switch {
		case d.NeedsGrant:
			access = "review"
		case !d.Allowed:
			continue
		}
		out.Connections = append(out.Connections, api.Connection{Name: cn.Name, Type: cn.Type, Database: cn.Database, Tags: cn.Tags, Access: access})
	}
	slices.SortFunc(out.Connections, func(a, b api.Connection) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
