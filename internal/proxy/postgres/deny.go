package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Denial is what the client sees when a statement is not allowed to run:
// an ErrorResponse with severity ERROR, Code and Message, such as 42501
// "gatehouse: blocked by policy ci-deploy: schema changes go through
// migrations", or 57014 for a review that timed out. The session stays
// usable; inside a transaction block the transaction is aborted, exactly as
// if the statement had failed on the server.
type Denial struct {
	Code    string // SQLSTATE; "" means 42501
	Message string // "" means "gatehouse: statement not allowed"
}

// Decisions the engine writes into Statement.Decision when Check leaves it
// empty.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// The messages forwarded in place of a denied one. Each makes the server
// fail in exactly the position of the statement it replaces, so the server
// itself aborts the transaction (or skips to Sync) and its ErrorResponse is
// then rewritten into the Denial.
const (
	// deniedQuery replaces a simple Query: a syntax error, raised by the
	// raw parser before anything runs, even in an aborted transaction.
	deniedQuery = "SELECT gatehouse_denied("
	// deniedStatement names a prepared statement that cannot exist. A
	// denied Execute is replaced by a Bind of it (26000). Names longer than
	// NAMEDATALEN-1 (63) bytes can only be made by a protocol Parse, which
	// the relay refuses for this name; SQL PREPARE truncates. (A portal
	// name would not do: PL/pgSQL opens refcursor portals of any name.)
	deniedStatement = "gatehouse_denied_statement_reserved_name_longer_than_namedatalen_0"
	// deniedFunction replaces a FunctionCall: no function has OID 0, so
	// the server answers 42883 (or 25P02 in an aborted transaction).
	deniedFunction = 0
)

// flushMessage is a Flush ('H') as the client would send it.
const flushMessage = "H\x00\x00\x00\x04"

var errNoticeAfterCheck = errors.New("postgres: notice called after Check returned")

// decide calls Check for r.st and fills the decision fields. It returns
// the normalized Denial, or nil to allow.
func (r *relay) decide() (*Denial, error) {
	// One cancelable context serves every Check until something cancels
	// it, so an allowed statement costs no allocation.
	if r.hctx == nil || r.hctx.Err() != nil {
		r.hctx, r.hcancel = context.WithCancelCause(r.ctx)
	}
	hctx := r.hctx
	if r.up != nil {
		r.up.setHold(r.hcancel)
	}
	r.holdMu.Lock()
	r.holding = true
	r.holdMu.Unlock()
	d := r.check(hctx, &r.st, r.noticeFn)
	if r.up != nil {
		r.up.setHold(nil)
	}
	// Wait for a notice in flight on another goroutine before the client
	// direction touches its writer again.
	r.holdMu.Lock()
	r.holding = false
	stopWatch := r.stopWatch
	r.stopWatch = nil
	r.holdMu.Unlock()
	if stopWatch != nil {
		stopWatch()
	}
	if r.ctx.Err() != nil {
		return nil, fmt.Errorf("check statement %d: %w", r.seq, context.Cause(r.ctx))
	}
	switch cause := context.Cause(hctx); {
	case cause == nil:
	case errors.Is(cause, errClientGone):
		// Nothing held may run for a client that is not there.
		return nil, fmt.Errorf("check statement %d: %w", r.seq, cause)
	case errors.Is(cause, errHoldCanceled):
		if r.st.Decision == "" {
			r.st.Decision = DecisionDeny
		}
		r.st.Reason = "canceled by the client while held"
		return &Denial{Code: "57014", Message: "gatehouse: canceling statement due to user request"}, nil
	}
	if d == nil {
		if r.st.Decision == "" {
			r.st.Decision = DecisionAllow
		}
		return nil, nil
	}
	if r.st.Decision == "" {
		r.st.Decision = DecisionDeny
	}
	n := *d
	if n.Code == "" {
		n.Code = "42501"
	}
	if n.Message == "" {
		n.Message = "gatehouse: statement not allowed"
	}
	return &n, nil
}

// Causes that end a Check early.
var (
	errClientGone   = errors.New("the client went away while its statement was held")
	errHoldCanceled = errors.New("the client canceled its held statement")
)

// watchClient watches the client connection while Check runs, so that a
// client that disconnects ends the hold (with errClientGone) instead of
// letting its statement run later. It only peeks: what the client sends
// meanwhile stays buffered for the client direction. The returned stop
// ends the watch and restores the connection for reading.
func (r *relay) watchClient(cancel context.CancelCauseFunc) (stop func()) {
	if r.client == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		br := r.cr.r
		for {
			n := br.Buffered() + 1
			if n > br.Size() {
				return // the client keeps sending: it is there
			}
			if _, err := br.Peek(n); err != nil {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					cancel(errClientGone)
				}
				return
			}
		}
	}()
	return func() {
		r.client.SetReadDeadline(time.Unix(1, 0))
		<-done
		r.client.SetReadDeadline(time.Time{})
		if r.ctx.Err() != nil {
			// run interrupts the client direction with a deadline.
			r.client.SetDeadline(time.Unix(1, 0))
		}
	}
}

// notice sends the client a NoticeResponse while Check holds a statement.
// It first forwards what the client sent before the held statement, and a
// Flush, so the target works on it and its results flow during the hold.
func (r *relay) notice(msg string) error {
	r.holdMu.Lock()
	defer r.holdMu.Unlock()
	if !r.holding {
		return errNoticeAfterCheck
	}
	if r.stopWatch == nil {
		// Check is holding the statement: from now on a client that
		// goes away ends the hold.
		r.stopWatch = r.watchClient(r.hcancel)
	}
	// A Flush message too: in the extended protocol the server holds its
	// answers until Sync or Flush. It answers nothing, so the FIFO holds.
	if _, err := r.tw.WriteString(flushMessage); err != nil {
		return fmt.Errorf("write to target: %w", err)
	}
	if err := r.tw.Flush(); err != nil {
		return fmt.Errorf("write to target: %w", err)
	}
	n := pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: msg}
	b, err := n.Encode(nil)
	if err != nil {
		return fmt.Errorf("encode notice: %w", err)
	}
	// The target direction holds cwMu except between messages.
	r.cwMu.Lock()
	defer r.cwMu.Unlock()
	if _, err := r.cw.Write(b); err != nil {
		return fmt.Errorf("write to client: %w", err)
	}
	if err := r.cw.Flush(); err != nil {
		return fmt.Errorf("write to client: %w", err)
	}
	return nil
}

// writeDenied forwards the stand-in for a denied message of kind k.
func (r *relay) writeDenied(k byte) error {
	var err error
	switch k {
	case kindQuery:
		r.syn, err = (&pgproto3.Query{String: deniedQuery}).Encode(r.syn[:0])
	case kindExecute:
		r.syn, err = (&pgproto3.Bind{PreparedStatement: deniedStatement}).Encode(r.syn[:0])
	case kindFunction:
		r.syn, err = (&pgproto3.FunctionCall{Function: deniedFunction}).Encode(r.syn[:0])
	}
	if err != nil {
		return fmt.Errorf("encode denied stand-in: %w", err)
	}
	if _, err := r.tw.Write(r.syn); err != nil {
		return fmt.Errorf("write to target: %w", err)
	}
	return nil
}

// deniedError reports whether the ErrorResponse in r.er answers a denied
// statement's stand-in, and returns its Denial. Only an ERROR answering
// the oldest outstanding request, when that is the denied statement and
// the server is not skipping to Sync, qualifies: a real error of an
// earlier message, or a FATAL, is passed on as it is.
func (r *relay) deniedError() *Denial {
	if r.skipping {
		return nil
	}
	sev := r.er.SeverityUnlocalized
	if sev == "" {
		sev = r.er.Severity
	}
	if sev != "ERROR" {
		return nil
	}
	p, ok := r.front()
	if !ok {
		return nil
	}
	return p.denial
}

// writeDenial sends the client d in place of the stand-in's ErrorResponse
// (in r.er): the server's severity, d's code and message, none of the
// synthetic error's position, detail or source fields.
func (r *relay) writeDenial(d *Denial) error {
	e := pgproto3.ErrorResponse{Severity: r.er.Severity, SeverityUnlocalized: r.er.SeverityUnlocalized, Code: d.Code, Message: d.Message}
	var err error
	if r.denyBuf, err = e.Encode(r.denyBuf[:0]); err != nil {
		return fmt.Errorf("encode denial: %w", err)
	}
	if _, err := r.cw.Write(r.denyBuf); err != nil {
		return fmt.Errorf("write to client: %w", err)
	}
	return nil
}
