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

// eventsHeader opens an event-shipping stream.
type eventsHeader struct {
	Kind string `json:"kind"`
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
		if err := tunnel.WriteFrame(st, eventsHeader{Kind: KindEvents}); err != nil {
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

// ServeEvents is the gateway's side of an event-shipping stream: it reads
// batches, hands them to ingest, and acknowledges each. It closes stream.
func ServeEvents(ctx context.Context, stream net.Conn, ingest func(context.Context, []recording.Event) error) error {
	defer stream.Close()
	br := bufio.NewReader(stream)
	var h eventsHeader
	if err := tunnel.ReadFrame(br, &h); err != nil {
		return fmt.Errorf("read stream header: %w", err)
	}
	if h.Kind != KindEvents {
		return fmt.Errorf("unexpected stream kind %q", h.Kind)
	}
	for {
		var batch []recording.Event
		if err := tunnel.ReadFrame(br, &batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read event batch: %w", err)
		}
		ack := EventsAck{Count: len(batch)}
		if err := ingest(ctx, batch); err != nil {
			ack = EventsAck{Error: "store unavailable"}
			_ = tunnel.WriteFrame(stream, &ack)
			return fmt.Errorf("ingest events: %w", err)
		}
		if err := tunnel.WriteFrame(stream, &ack); err != nil {
			return fmt.Errorf("ack events: %w", err)
		}
	}
}
