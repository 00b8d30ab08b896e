package postgres

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/mask"
	"github.com/jackc/pgx/v5/pgproto3"
	"golang.org/x/sync/errgroup"
)

// maxPortals bounds the named portals remembered per session. The server
// drops named portals at the end of each transaction without telling us, so
// past this many the map is cleared (a later Execute of a forgotten portal
// is recorded with empty Text).
const maxPortals = 1024

// finalWriteTimeout bounds the last ErrorResponse sent to a client when the
// engine ends a session, so a client that stopped reading cannot hold it.
const finalWriteTimeout = 5 * time.Second

// sessionEnd is an error that ends the session and is shown to the client.
type sessionEnd struct {
	public *Error
	cause  error
}

func (e *sessionEnd) Error() string { return e.public.Message + ": " + e.cause.Error() }
func (e *sessionEnd) Unwrap() error { return e.cause }

// errClientDone ends the client direction on Terminate or a clean EOF.
var errClientDone = errors.New("client ended the session")

// relay is one session's engine state. The fields under "client direction"
// belong to the goroutine reading the client, those under "target
// direction" to the one reading the target; mu guards the FIFO between
// them.
type relay struct {
	rec    Recorder
	check  func(ctx context.Context, s *Statement, notice func(msg string) error) *Denial
	mk     *masker // nil when the session masks nothing
	client net.Conn
	target net.Conn
	ctx    context.Context // the session's; Check gets it

	// holdMu guards holding, which is true while Check runs: notice may
	// use the client direction's writer only then.
	holdMu    sync.Mutex
	holding   bool
	stopWatch func() // ends watchClient, once a hold has started it
	// hctx is what Check runs under; hcancel ends it early (a client
	// that went away, a cancel request).
	hctx     context.Context
	hcancel  context.CancelCauseFunc
	noticeFn func(msg string) error // r.notice, bound once

	// cwMu serializes writes to the client: the target direction holds it
	// except while it waits between messages, when notice may write.
	cwMu sync.Mutex

	// client direction
	cr         frameReader
	tw         *bufio.Writer
	seq        uint64
	stmts      map[string]string
	unnamed    string // text of the unnamed prepared statement
	portals    map[string]*portal
	unnamedP   portal
	st         Statement
	query      pgproto3.Query
	parse      pgproto3.Parse
	bind       pgproto3.Bind
	closeMsg   pgproto3.Close
	fcall      pgproto3.FunctionCall
	syn        []byte // a denied message's stand-in
	terminated atomic.Bool
	smask      []byte    // scratch for masking recorded statements
	shits      mask.Hits // what that masking fired
	shitList   []mask.Hit
	sparams    []Value
	text       string // the statement's text as sent, under masking
	// described is set when the client asked for the description of
	// descPortal since its last Bind, so the rows of its Execute come
	// with a RowDescription.
	described  bool
	descPortal string

	mu    sync.Mutex
	queue []pending
	head  int

	// target direction
	tr         frameReader
	cw         *bufio.Writer
	res        Result
	resErr     Error
	rows       int64
	skipping   bool // an extended batch failed; the server skips to Sync
	cc         pgproto3.CommandComplete
	er         pgproto3.ErrorResponse
	nr         pgproto3.NoticeResponse
	an         pgproto3.NotificationResponse
	ps         pgproto3.ParameterStatus
	lastTagStr string
	denyBuf    []byte
	atBoundary bool     // the client stream ends at a message boundary
	smp        *sampler // nil when no rows are kept for the recording

	up *Upstream // for Cancel to reach a held statement; nil in tests
}

func newRelay(client, target net.Conn, rec Recorder, check func(context.Context, *Statement, func(string) error) *Denial) *relay {
	r := &relay{
		rec:     rec,
		check:   check,
		client:  client,
		target:  target,
		ctx:     context.Background(),
		tw:      bufio.NewWriterSize(target, bufSize),
		cw:      bufio.NewWriterSize(client, bufSize),
		stmts:   make(map[string]string),
		portals: make(map[string]*portal),
		queue:   make([]pending, 0, 64),
	}
	r.cr.r = bufio.NewReaderSize(client, bufSize)
	r.tr.r = bufio.NewReaderSize(target, bufSize)
	r.noticeFn = r.notice
	return r
}

// Relay carries the session between client and the target until the client
// terminates, either side closes, ctx is cancelled or rec fails. It records
// every statement with rec and calls u.Check, if set, before recording and
// forwarding it. Relay closes client and u. It returns nil when the client ended the
// session (Terminate, or EOF between messages).
func (u *Upstream) Relay(ctx context.Context, client net.Conn, rec Recorder) error {
	defer u.Close()
	defer client.Close()
	r := newRelay(client, u.conn, rec, u.Check)
	r.up = u
	if u.Mask != nil && !u.Mask.Masker.Empty() {
		r.mk = &masker{cfg: u.Mask, m: u.Mask.Masker}
	}
	if u.Rows.Rows > 0 && u.Rows.Bytes > 0 {
		r.smp = &sampler{lim: u.Rows}
		if r.mk != nil {
			r.smp.names = r.mk.m
		}
	}
	err := r.run(ctx)
	if ctx.Err() != nil && r.outstanding() {
		// Ended from outside (access revoked, token expired, max_session)
		// with a statement still running: closing the connection does not
		// stop it on the server, a cancel does.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
		if cerr := u.Cancel(cctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cancel the running statement: %w", cerr))
		}
		cancel()
	}
	return err
}

// outstanding reports whether the target has not answered every request.
func (r *relay) outstanding() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.head < len(r.queue)
}

func (r *relay) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	r.ctx = gctx
	interrupted := make(chan struct{})
	stop := context.AfterFunc(gctx, func() {
		defer close(interrupted)
		r.target.Close()
		// A deadline, not Close, so the client can still be told why.
		r.client.SetDeadline(time.Unix(1, 0))
	})
	g.Go(r.clientToTarget)
	g.Go(r.targetToClient)
	err := g.Wait()
	if !stop() {
		<-interrupted
	}

	var public *Error
	var end *sessionEnd
	switch {
	case r.terminated.Load() || errors.Is(err, errClientDone):
		return nil
	case ctx.Err() != nil:
		// A cause that is an *Error says why, to the client too (access
		// revoked, token expired).
		public, err = errTerminated, fmt.Errorf("relay: %w", context.Cause(ctx))
		var pe *Error
		if errors.As(context.Cause(ctx), &pe) {
			public = pe
		}
	case errors.As(err, &end):
		public = end.public
	}
	if public != nil && r.atBoundary {
		r.client.SetDeadline(time.Time{})
		r.client.SetWriteDeadline(time.Now().Add(finalWriteTimeout))
		// What the engine already passed on goes first.
		r.cw.Flush()
		r.client.Write(public.appendTo(nil))
	}
	return err
}

// clientToTarget reads the client's messages, records statements and
// forwards everything to the target.
func (r *relay) clientToTarget() error {
	for {
		if !r.cr.complete() {
			if err := r.tw.Flush(); err != nil {
				return fmt.Errorf("write to target: %w", err)
			}
		}
		if err := r.cr.next(); err != nil {
			switch {
			case err == io.EOF:
				return errClientDone
			case errors.Is(err, errFrame):
				return &sessionEnd{public: errProtocol, cause: fmt.Errorf("read from client: %w", err)}
			}
			return fmt.Errorf("read from client: %w", err)
		}
		if err := r.clientMessage(); err != nil {
			return err
		}
	}
}

func (r *relay) clientMessage() error {
	switch r.cr.typ {
	case 'Q':
		body, err := r.cr.body()
		if err != nil {
			return fmt.Errorf("read from client: %w", err)
		}
		if err := r.query.Decode(body); err != nil {
			return r.malformed(err)
		}
		r.st = Statement{Protocol: ProtocolSimple, Text: r.query.String}
		r.described = false // its descriptions replace the client's
		if denied, err := r.statement(kindQuery); err != nil || denied {
			return err
		}
		return r.writeTarget(body)
	case 'P':
		body, err := r.cr.body()
		if err != nil {
			return fmt.Errorf("read from client: %w", err)
		}
		if err := r.parse.Decode(body); err != nil {
			return r.malformed(err)
		}
		if r.parse.Name == deniedStatement {
			return &sessionEnd{public: errProtocol, cause: fmt.Errorf("client sent a Parse of the reserved statement name %q", deniedStatement)}
		}
		if r.parse.Name == "" {
			r.unnamed = r.parse.Query
		} else {
			r.stmts[r.parse.Name] = r.parse.Query
		}
		r.push(pending{kind: kindParse})
		return r.writeTarget(body)
	case 'B':
		r.described = false
		r.push(pending{kind: kindBind})
		return r.clientBind()
	case 'D':
		body, err := r.cr.body()
		if err != nil {
			return fmt.Errorf("read from client: %w", err)
		}
		ofPortal := len(body) > 1 && body[0] == 'P'
		if ofPortal {
			name, _, _ := bytes.Cut(body[1:], []byte{0})
			if !r.described || string(name) != r.descPortal {
				r.described, r.descPortal = true, string(name)
			}
		}
		r.push(pending{kind: kindDescribe, ofPortal: ofPortal})
		return r.writeTarget(body)
	case 'E':
		body, err := r.cr.body()
		if err != nil {
			return fmt.Errorf("read from client: %w", err)
		}
		// By hand rather than pgproto3's Execute.Decode, which allocates
		// for every message: the unnamed portal costs nothing here.
		i := bytes.IndexByte(body, 0)
		if i < 0 || len(body)-i-1 < 4 {
			return r.malformed(errFrame)
		}
		portalName := string(body[:i])
		p := &r.unnamedP
		if portalName != "" {
			p = r.portals[portalName]
		}
		r.st = Statement{Protocol: ProtocolExtended, Portal: portalName}
		if p != nil {
			r.st.Text, r.st.Name, r.st.Params = p.text, p.stmt, p.params
		}
		if denied, err := r.statement(kindExecute); err != nil || denied {
			return err
		}
		return r.writeTarget(body)
	case 'C':
		body, err := r.cr.body()
		if err != nil {
			return fmt.Errorf("read from client: %w", err)
		}
		if err := r.closeMsg.Decode(body); err != nil {
			return r.malformed(err)
		}
		switch {
		case r.closeMsg.ObjectType == 'S' && r.closeMsg.Name == "":
			r.unnamed = ""
		case r.closeMsg.ObjectType == 'S':
			delete(r.stmts, r.closeMsg.Name)
		case r.closeMsg.ObjectType == 'P' && r.closeMsg.Name == "":
			r.unnamedP.text, r.unnamedP.stmt, r.unnamedP.params = "", "", r.unnamedP.params[:0]
		case r.closeMsg.ObjectType == 'P':
			delete(r.portals, r.closeMsg.Name)
		}
		r.push(pending{kind: kindClose})
		return r.writeTarget(body)
	case 'S':
		// Its ReadyForQuery ends the description the sampler holds.
		r.described = false
		r.push(pending{kind: kindSync})
		return r.forward()
	case 'F':
		body, err := r.cr.body()
		if err != nil {
			return fmt.Errorf("read from client: %w", err)
		}
		if err := r.fcall.Decode(body); err != nil {
			return r.malformed(err)
		}
		r.st = Statement{Protocol: ProtocolFunction, Text: "function " + strconv.FormatUint(uint64(r.fcall.Function), 10)}
		var p portal
		for i, a := range r.fcall.Arguments {
			p.addParam(int16(formatCode(r.fcall.ArgFormatCodes, i)), a, a == nil, len(a))
		}
		p.fix()
		r.st.Params = p.params
		if denied, err := r.statement(kindFunction); err != nil || denied {
			return err
		}
		return r.writeTarget(body)
	case 'X':
		r.terminated.Store(true)
		if err := r.forward(); err != nil {
			return err
		}
		r.tw.Flush()
		return errClientDone
	default:
		// Flush, CopyData, CopyDone, CopyFail: through as they are.
		return r.forward()
	}
}

// statement decides r.st with Check, records it and queues it for its
// Results. When it was denied, statement has forwarded the stand-in and
// reports denied; otherwise the caller forwards the message.
func (r *relay) statement(kind byte) (denied bool, err error) {
	r.seq++
	r.st.Seq = r.seq
	r.st.Time = time.Now()
	start := r.st.Time
	var d *Denial
	if r.check != nil {
		if d, err = r.decide(); err != nil {
			return false, err
		}
		start = time.Now() // after a hold
	}
	if r.mk != nil {
		r.text = r.st.Text
		r.maskStatement()
	}
	if err := r.rec.Statement(&r.st); err != nil {
		return false, &sessionEnd{public: errNotRecorded, cause: fmt.Errorf("record statement %d: %w", r.seq, err)}
	}
	if kind == kindExecute && d == nil && (r.mk != nil || r.smp != nil && !(r.described && r.descPortal == r.st.Portal)) {
		// Ask for the portal's description first, so the rows that follow
		// can be masked (and kept) whatever the client described or cached.
		// Its answer replaces the client's description in the sampler:
		// a later Execute of the portal the client described (rows left in
		// it after a row limit) is described again.
		r.described = false
		if err := r.describePortal(); err != nil {
			return false, err
		}
	}
	p := pending{kind: kind, seq: r.seq, start: start, denial: d}
	if r.mk != nil && r.mk.m.HasColumns() {
		p.text = r.text
	}
	r.push(p)
	r.st.Params = nil
	if d != nil {
		return true, r.writeDenied(kind)
	}
	return false, nil
}

func (r *relay) malformed(err error) error {
	return &sessionEnd{public: errProtocol, cause: fmt.Errorf("client sent a malformed %q message: %w", r.cr.typ, err)}
}

// writeTarget forwards the current client message whose body was read.
func (r *relay) writeTarget(body []byte) error {
	if _, err := r.tw.Write(r.cr.hdr[:]); err != nil {
		return fmt.Errorf("write to target: %w", err)
	}
	if _, err := r.tw.Write(body); err != nil {
		return fmt.Errorf("write to target: %w", err)
	}
	return nil
}

func (r *relay) forward() error {
	if err := r.cr.forward(r.tw); err != nil {
		return fmt.Errorf("relay %q to target: %w", r.cr.typ, err)
	}
	return nil
}

// targetToClient reads the target's messages, turns completions into
// Results and forwards everything to the client.
func (r *relay) targetToClient() error {
	r.cwMu.Lock()
	defer r.cwMu.Unlock()
	for {
		var err error
		if r.tr.complete() {
			err = r.tr.next()
		} else {
			if err := r.cw.Flush(); err != nil {
				return fmt.Errorf("write to client: %w", err)
			}
			r.atBoundary = true
			// Between messages with nothing buffered: a notice may go out.
			r.cwMu.Unlock()
			err = r.tr.next()
			r.cwMu.Lock()
		}
		if err != nil {
			if err == io.EOF {
				return fmt.Errorf("target closed the connection: %w", err)
			}
			return fmt.Errorf("read from target: %w", err)
		}
		r.atBoundary = false
		if err := r.targetMessage(); err != nil {
			return err
		}
	}
}

func (r *relay) targetMessage() error {
	switch r.tr.typ {
	case 'D':
		r.rows++
		if r.mk != nil {
			return r.maskedRow()
		}
		if r.smp != nil {
			return r.keptRow()
		}
		return r.forwardClient()
	case 'C':
		body, err := r.tr.body()
		if err != nil {
			return fmt.Errorf("read from target: %w", err)
		}
		if err := r.cc.Decode(body); err != nil {
			return fmt.Errorf("target sent a malformed CommandComplete: %w", err)
		}
		if r.mk != nil {
			if done, err := r.maskComplete(); done || err != nil {
				return err
			}
		}
		if r.smp != nil {
			r.smp.noRows()
		}
		if err := r.result(r.tagString(r.cc.CommandTag), nil); err != nil {
			return err
		}
		return r.writeClient(body)
	case 'I', 's', 'V':
		if r.mk != nil {
			r.mk.endResult()
			if r.tr.typ == 'V' {
				return r.maskFunctionResult()
			}
		}
		if err := r.result("", nil); err != nil {
			return err
		}
		return r.forwardClient()
	case 'E':
		body, err := r.tr.body()
		if err != nil {
			return fmt.Errorf("read from target: %w", err)
		}
		if err := r.er.Decode(body); err != nil {
			return fmt.Errorf("target sent a malformed ErrorResponse: %w", err)
		}
		masked := false
		if r.mk != nil {
			r.mk.endResult()
			masked = r.mk.maskError(&r.er)
		}
		if r.smp != nil {
			r.smp.noRows()
		}
		if d := r.deniedError(); d != nil {
			r.resErr = Error{Severity: "ERROR", Code: d.Code, Message: d.Message}
			if err := r.result("", &r.resErr); err != nil {
				return err
			}
			return r.writeDenial(d)
		}
		r.resErr = Error{Severity: r.er.Severity, Code: r.er.Code, Message: r.er.Message, Detail: r.er.Detail}
		if r.er.SeverityUnlocalized != "" {
			r.resErr.Severity = r.er.SeverityUnlocalized
		}
		if err := r.result("", &r.resErr); err != nil {
			return err
		}
		if masked {
			return r.writeEncoded(&r.er)
		}
		return r.writeClient(body)
	case 'Z':
		r.readyForQuery()
		if r.smp != nil {
			r.smp.noRows()
		}
		return r.forwardClient()
	case '1':
		r.popIf(kindParse)
		return r.forwardClient()
	case '2':
		r.popIf(kindBind)
		return r.forwardClient()
	case '3':
		r.popIf(kindClose)
		return r.forwardClient()
	case 'T', 'n':
		if r.mk != nil {
			if done, err := r.maskDescription(); done || err != nil {
				return err
			}
		} else if r.smp != nil {
			if done, err := r.sampleDescription(); done || err != nil {
				return err
			}
		}
		// The end of a Describe's answer; a simple Query's RowDescription
		// finds a Query at the front and pops nothing.
		r.popIf(kindDescribe)
		return r.forwardClient()
	case 'H', 'd', 'c', 'N', 'A', 'S':
		if r.mk != nil {
			return r.maskOther()
		}
		if r.smp != nil && (r.tr.typ == 'H' || r.tr.typ == 'd') {
			return r.keptCopy()
		}
		return r.forwardClient()
	default:
		return r.forwardClient()
	}
}

// popIf drops the oldest outstanding request if it is of kind k.
func (r *relay) popIf(k byte) {
	r.mu.Lock()
	if r.head < len(r.queue) && r.queue[r.head].kind == k {
		r.popLocked()
	}
	r.mu.Unlock()
}

// result reports the completion of the oldest outstanding statement.
func (r *relay) result(tag string, e *Error) error {
	p, ok := r.front()
	if !ok || r.skipping {
		return nil
	}
	switch p.kind {
	case kindExecute:
		r.pop()
		if e != nil {
			r.skipping = true
		}
	case kindQuery, kindFunction:
	case kindMaskDescribe:
		// The engine's own Describe of the portal failed (there is no
		// such portal): the error is the Execute's it was sent for, which
		// the server then skips.
		if e == nil {
			return nil
		}
		r.pop()
		r.skipping = true
		if p, ok = r.front(); !ok || p.kind != kindExecute {
			return nil
		}
		r.pop()
	case kindSync:
		if e != nil {
			r.skipping = true
		}
		return nil
	default:
		// A Parse, Bind, Describe or Close failed: no statement ran, and
		// the server skips the rest of the batch.
		if e != nil {
			r.pop()
			r.skipping = true
		}
		return nil
	}
	now := time.Now()
	rows := r.rows
	if rows == 0 && tag != "" {
		rows = tagRows(tag)
	}
	r.res = Result{Seq: p.seq, Tag: tag, Rows: rows, Duration: now.Sub(p.start), Error: e, Time: now}
	if r.mk != nil {
		r.res.Masked = r.mk.takeHits()
	}
	if r.smp != nil {
		r.res.Sample = r.smp.take()
		defer r.smp.reset()
	}
	r.rows = 0
	if p.kind == kindQuery {
		r.setFrontStart(now)
	}
	if err := r.rec.Result(&r.res); err != nil {
		return &sessionEnd{public: errNotRecorded, cause: fmt.Errorf("record result of statement %d: %w", p.seq, err)}
	}
	return nil
}

// tagString returns tag as a string, reusing the previous one when equal so
// a repeated "SELECT 1" costs no allocation.
func (r *relay) tagString(tag []byte) string {
	if string(tag) != r.lastTagStr {
		r.lastTagStr = string(tag)
	}
	return r.lastTagStr
}

// tagRows returns the row count at the end of a command tag ("INSERT 0 5",
// "UPDATE 3", "COPY 10"), or 0.
func tagRows(tag string) int64 {
	i := len(tag)
	for i > 0 && tag[i-1] >= '0' && tag[i-1] <= '9' {
		i--
	}
	if i == len(tag) || i == 0 || tag[i-1] != ' ' {
		return 0
	}
	n, err := strconv.ParseInt(tag[i:], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func (r *relay) writeClient(body []byte) error {
	if _, err := r.cw.Write(r.tr.hdr[:]); err != nil {
		return fmt.Errorf("write to client: %w", err)
	}
	if _, err := r.cw.Write(body); err != nil {
		return fmt.Errorf("write to client: %w", err)
	}
	return nil
}

func (r *relay) forwardClient() error {
	if err := r.tr.forward(r.cw); err != nil {
		return fmt.Errorf("relay %q to client: %w", r.tr.typ, err)
	}
	return nil
}
