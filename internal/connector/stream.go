package connector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/recording"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tunnel"
)

// ServeStream serves one stream the gateway opened: a session or a cancel.
// It closes the stream.
func (c *Connector) ServeStream(ctx context.Context, stream net.Conn) {
	defer stream.Close()
	_ = stream.SetReadDeadline(time.Now().Add(30 * time.Second))
	var req Request
	if err := tunnel.ReadFrame(stream, &req); err != nil {
		c.Logger.Warn("bad session stream header", "err", err)
		return
	}
	_ = stream.SetReadDeadline(time.Time{})
	switch req.Kind {
	case KindCancel:
		if err := c.Cancel(ctx, req.Session); err != nil {
			c.Logger.Info("cancel", "session", req.Session, "err", err)
		}
	case KindPostgres:
		c.servePostgres(ctx, stream, &req)
	case KindEnd:
		if req.End == nil {
			c.Logger.Warn("end request without a reason", "session", req.Session)
			return
		}
		if err := c.End(req.Session, &postgres.Error{Severity: req.End.Severity, Code: req.End.Code, Message: req.End.Message}); err != nil {
			c.Logger.Info("end", "session", req.Session, "err", err)
		}
	default:
		c.Logger.Warn("unknown session stream kind", "kind", req.Kind)
	}
}

func (c *Connector) servePostgres(ctx context.Context, stream net.Conn, req *Request) {
	s, err := c.Open(ctx, req)
	if err != nil {
		var pe *postgres.Error
		if !errors.As(err, &pe) {
			pe = errUnavailable
		}
		_ = tunnel.WriteFrame(stream, &Reply{Error: &ReplyError{Severity: pe.Severity, Code: pe.Code, Message: pe.Message}})
		return
	}
	if err := tunnel.WriteFrame(stream, &Reply{Params: s.Params()}); err != nil {
		s.Close()
		return
	}
	if err := s.Run(ctx, stream); err != nil {
		s.log.Info("session ended", "err", err)
	}
}

// upHeader opens a stream from the connector to the gateway: event
// shipping (KindEvents) or a statement held for review (KindReview).
type upHeader struct {
	Kind   string        `json:"kind"`
	Review *store.Review `json:"review,omitempty"`
}

// EventsAck acknowledges one batch of shipped events.
type EventsAck struct {
	Count int    `json:"count"`
	Error string `json:"error,omitempty"`
}

// maxBatchBytes keeps one shipped batch under the tunnel's frame limit.
const maxBatchBytes = 768 << 10

// shipper sends spooled events over a stream it (re)opens on demand.
type shipper struct {
	open   func(context.Context) (net.Conn, error)
	stream net.Conn
	br     *bufio.Reader
}

func (sh *shipper) send(ctx context.Context, evs []recording.Event) error {
	if sh.stream == nil {
		st, err := sh.open(ctx)
		if err != nil {
			return err
		}
		if err := tunnel.WriteFrame(st, upHeader{Kind: KindEvents}); err != nil {
			st.Close()
			return fmt.Errorf("open event stream: %w", err)
		}
		sh.stream, sh.br = st, bufio.NewReader(st)
	}
	for len(evs) > 0 {
		n, size := 0, 0
		for n < len(evs) && (n == 0 || size+len(evs[n].Data)+256 < maxBatchBytes) {
			size += len(evs[n].Data) + 256
			n++
		}
		if err := sh.roundTrip(evs[:n]); err != nil {
			sh.stream.Close()
			sh.stream = nil
			return err
		}
		evs = evs[n:]
	}
	return nil
}

func (sh *shipper) close() {
	if sh.stream != nil {
		sh.stream.Close()
		sh.stream = nil
	}
}

func (sh *shipper) roundTrip(batch []recording.Event) error {
	_ = sh.stream.SetDeadline(time.Now().Add(30 * time.Second))
	defer sh.stream.SetDeadline(time.Time{})
	if err := tunnel.WriteFrame(sh.stream, batch); err != nil {
		return fmt.Errorf("ship events: %w", err)
	}
	var ack EventsAck
	if err := tunnel.ReadFrame(sh.br, &ack); err != nil {
		return fmt.Errorf("read events ack: %w", err)
	}
	if ack.Error != "" {
		return fmt.Errorf("gateway refused events: %s", ack.Error)
	}
	if ack.Count != len(batch) {
		return fmt.Errorf("gateway acknowledged %d of %d events", ack.Count, len(batch))
	}
	return nil
}

// GatewayStreams is the gateway's side of the streams a connector opens.
type GatewayStreams struct {
	// Ingest stores a batch of shipped events.
	Ingest func(context.Context, []recording.Event) error
	// Hold creates a review and waits for its decision, as Connector.Hold.
	Hold HoldFunc
}

// Serve serves one stream a connector opened. It closes stream.
func (g *GatewayStreams) Serve(ctx context.Context, stream net.Conn) error {
	defer stream.Close()
	br := bufio.NewReader(stream)
	var h upHeader
	if err := tunnel.ReadFrame(br, &h); err != nil {
		return fmt.Errorf("read stream header: %w", err)
	}
	switch h.Kind {
	case KindEvents:
		return g.events(ctx, br, stream)
	case KindReview:
		if h.Review == nil {
			return errors.New("review stream without a review")
		}
		return g.review(ctx, br, stream, h.Review)
	}
	return fmt.Errorf("unexpected stream kind %q", h.Kind)
}

// review creates the review, answers with it, then with its decision. The
// connector closing the stream (its session ended) ends the wait.
func (g *GatewayStreams) review(ctx context.Context, br *bufio.Reader, stream net.Conn, r *store.Review) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = br.ReadByte() // the connector sends nothing more: any return means it went away
		cancel()
	}()
	var werr error
	decided, err := g.Hold(ctx, r, func(created *store.Review) {
		werr = tunnel.WriteFrame(stream, created)
		if werr != nil {
			cancel()
		}
	})
	if werr != nil {
		return fmt.Errorf("answer review: %w", werr)
	}
	if err != nil {
		return fmt.Errorf("hold for review: %w", err)
	}
	return tunnel.WriteFrame(stream, decided)
}

func (g *GatewayStreams) events(ctx context.Context, br *bufio.Reader, stream net.Conn) error {
	for {
		var batch []recording.Event
		if err := tunnel.ReadFrame(br, &batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read event batch: %w", err)
		}
		ack := EventsAck{Count: len(batch)}
		if err := g.Ingest(ctx, batch); err != nil {
			ack = EventsAck{Error: "store unavailable"}
			_ = tunnel.WriteFrame(stream, &ack)
			return fmt.Errorf("ingest events: %w", err)
		}
		if err := tunnel.WriteFrame(stream, &ack); err != nil {
			return fmt.Errorf("ack events: %w", err)
		}
	}
}

// remoteHold holds a statement for review through the gateway, over a
// stream of its own.
func remoteHold(open func(context.Context) (net.Conn, error)) HoldFunc {
	return func(ctx context.Context, r *store.Review, created func(*store.Review)) (*store.Review, error) {
		st, err := open(ctx)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		stop := context.AfterFunc(ctx, func() { st.Close() })
		defer stop()
		if err := tunnel.WriteFrame(st, upHeader{Kind: KindReview, Review: r}); err != nil {
			return nil, fmt.Errorf("send review: %w", err)
		}
		br := bufio.NewReader(st)
		var got store.Review
		if err := tunnel.ReadFrame(br, &got); err != nil {
			return nil, fmt.Errorf("read created review: %w", err)
		}
		created(&got)
		var decided store.Review
		if err := tunnel.ReadFrame(br, &decided); err != nil {
			return nil, fmt.Errorf("read review decision: %w", err)
		}
		return &decided, nil
	}
}
