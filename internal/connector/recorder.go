package connector

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/gatehouse-dev/gatehouse/internal/mask"
	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/recording"
	"github.com/gatehouse-dev/gatehouse/internal/sqlclass"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// maxRecordedText caps the statement text kept in one event. Longer texts
// are cut, and the event keeps their size and SHA-256 so the full text can
// still be matched.
const maxRecordedText = 256 << 10

// sessionStart is a session.start event's data. Empty Database, ClientAddr
// and Application are left out.
type sessionStart struct {
	Identity     string
	Groups       []string
	Connection   string
	Database     string
	ClientAddr   string
	Policy       string
	PolicyDigest string
	Connector    string
	Protocol     string
	Application  string
}

func (s *sessionStart) encode(o *recording.Object) {
	o.String("identity", s.Identity)
	o.Strings("groups", s.Groups)
	o.String("connection", s.Connection)
	if s.Database != "" {
		o.String("database", s.Database)
	}
	if s.ClientAddr != "" {
		o.String("client_addr", s.ClientAddr)
	}
	o.String("policy", s.Policy)
	o.String("policy_digest", s.PolicyDigest)
	o.String("connector", s.Connector)
	o.String("protocol", s.Protocol)
	if s.Application != "" {
		o.String("application_name", s.Application)
	}
}

// sessionEnd is a session.end event's data. An empty Error and Masked
// are left out.
type sessionEnd struct {
	Reason     string
	Statements int64
	Error      string
	// Masked totals, per rule, what masking replaced in the session.
	Masked []mask.Hit
}

func (s *sessionEnd) encode(o *recording.Object) {
	o.String("reason", s.Reason)
	o.Int("statements", s.Statements)
	if s.Error != "" {
		o.String("error", s.Error)
	}
	if len(s.Masked) > 0 {
		var p recording.Object
		o.Raw("masked", appendHits(nil, &p, s.Masked))
	}
}

// appendHits appends hits as a JSON array of {rule, column, count}, using p
// for each element.
func appendHits(b []byte, p *recording.Object, hits []mask.Hit) []byte {
	b = append(b, '[')
	for i, h := range hits {
		if i > 0 {
			b = append(b, ',')
		}
		p.Reset()
		p.String("rule", h.Rule)
		if h.Column {
			p.Bool("column", true)
		}
		p.Int("count", int64(h.Count))
		b = append(b, p.JSON()...)
	}
	return append(b, ']')
}

// addHits adds hits to the session's totals in r.masked.
func (r *recorder) addHits(hits []mask.Hit) {
	for _, h := range hits {
		i := slices.IndexFunc(r.masked, func(t mask.Hit) bool { return t.Rule == h.Rule && t.Column == h.Column })
		if i < 0 {
			r.masked = append(r.masked, h)
			continue
		}
		r.masked[i].Count += h.Count
	}
}

// maskedTotals returns a copy of the session's masking totals.
func (r *recorder) maskedTotals() []mask.Hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.masked)
}

// recorder turns the engine's statement callbacks into hash-chained spool
// events. The engine calls it from both relay directions, so it locks.
//
// Event data is built in buffers the recorder reuses: the event returned by
// the chain aliases them, and the spool copies it before Append or
// AppendDeferred returns, all under r.mu.
type recorder struct {
	spool *recording.Spool

	mu         sync.Mutex
	chain      *recording.Chain
	statements int64
	masked     []mask.Hit       // totals for the session
	obj        recording.Object // the event's data
	param      recording.Object // one Bind parameter
	scratch    []byte           // params array, numbers, base64
}

var _ postgres.Recorder = (*recorder)(nil)

func newRecorder(session string, spool *recording.Spool) *recorder {
	return &recorder{spool: spool, chain: recording.NewChain(session)}
}

// record appends one session event. It must be called with r.mu unlocked.
func (r *recorder) record(t time.Time, typ string, v interface{ encode(*recording.Object) }) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.obj.Reset()
	v.encode(&r.obj)
	return r.appendLocked(t, typ, r.obj.JSON())
}

func (r *recorder) appendLocked(t time.Time, typ string, data []byte) error {
	ev := r.chain.Next(t, typ, data)
	if err := r.spool.Append(ev); err != nil {
		return fmt.Errorf("spool %s event: %w", typ, err)
	}
	return nil
}

// Statement records s before the engine forwards it. Its data holds
// protocol and text; text_size, text_sha256 and text_truncated when the
// text was cut; name, portal and params when not empty. Each param holds
// null, format, text or base64 (binary, or text that is not UTF-8), and
// truncated when set, and always size.
func (r *recorder) Statement(s *postgres.Statement) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := &r.obj
	o.Reset()
	o.String("protocol", s.Protocol)
	// Passwords in role statements stay out of the recording.
	text, _ := sqlclass.RedactSecrets(s.Text)
	if len(text) > maxRecordedText {
		sum := sha256.Sum256([]byte(text))
		cut := maxRecordedText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		o.String("text", text[:cut])
		o.Int("text_size", int64(len(text)))
		o.String("text_sha256", hex.EncodeToString(sum[:]))
		o.Bool("text_truncated", true)
	} else {
		o.String("text", text)
	}
	if s.Name != "" {
		o.String("name", s.Name)
	}
	if s.Portal != "" {
		o.String("portal", s.Portal)
	}
	if len(s.Params) > 0 {
		o.Raw("params", r.appendParams(r.scratch[:0], s.Params))
	}
	if len(s.Masked) > 0 {
		// What the recording shows of the text and params was masked.
		r.scratch = appendHits(r.scratch[:0], &r.param, s.Masked)
		o.Raw("masked", r.scratch)
		r.addHits(s.Masked)
	}
	r.statements++
	return r.appendLocked(s.Time, recording.TypeStatement, o.JSON())
}

// appendParams appends params as a JSON array to b, and keeps b for reuse.
func (r *recorder) appendParams(b []byte, params []postgres.Value) []byte {
	b = append(b, '[')
	for i := range params {
		v := &params[i]
		if i > 0 {
			b = append(b, ',')
		}
		p := &r.param
		p.Reset()
		if v.Null {
			p.Bool("null", true)
		}
		if v.Format != 0 {
			p.Int("format", int64(v.Format))
		}
		if !v.Null && len(v.Data) > 0 {
			if v.Format == 0 && utf8.Valid(v.Data) {
				p.String("text", string(v.Data))
			} else {
				// Base64 needs no escaping: write it in place, quoted.
				start := len(b)
				b = append(b, '"')
				b = base64.StdEncoding.AppendEncode(b, v.Data)
				b = append(b, '"')
				p.Raw("base64", b[start:])
				b = b[:start]
			}
		}
		p.Int("size", int64(v.Size))
		if v.Truncated {
			p.Bool("truncated", true)
		}
		b = append(b, p.JSON()...)
	}
	b = append(b, ']')
	r.scratch = b
	return b
}

// Result records the outcome of the oldest pending statement. Its data
// holds statement (the 1-based number of the session's statement event it
// belongs to), tag, rows and duration_ms, and error (severity, code,
// message) when the statement failed.
func (r *recorder) Result(res *postgres.Result) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := &r.obj
	o.Reset()
	num := strconv.AppendUint(r.scratch[:0], res.Seq, 10)
	o.Raw("statement", num)
	o.String("tag", res.Tag)
	o.Int("rows", res.Rows)
	num = appendFloat(num[:0], float64(res.Duration.Microseconds())/1000)
	o.Raw("duration_ms", num)
	r.scratch = num
	if e := res.Error; e != nil {
		p := &r.param
		p.Reset()
		p.String("severity", e.Severity)
		p.String("code", e.Code)
		p.String("message", e.Message)
		o.Raw("error", p.JSON())
	}
	if len(res.Masked) > 0 {
		r.scratch = appendHits(r.scratch[:0], &r.param, res.Masked)
		o.Raw("masked", r.scratch)
		r.addHits(res.Masked)
	}
	if sm := res.Sample; sm != nil {
		r.appendSample(o, sm)
	}
	// A result records what already happened: it may wait for the next
	// statement's write (or a few milliseconds) instead of costing a
	// write of its own.
	ev := r.chain.Next(res.Time, recording.TypeResult, o.JSON())
	if err := r.spool.AppendDeferred(ev); err != nil {
		return fmt.Errorf("spool result event: %w", err)
	}
	return nil
}

// appendSample adds the rows kept of a result: columns, types (OIDs),
// sample (an array of rows, each an array of values) and sample_truncated
// when rows were left out. A value is null, a string, or an object with
// text or base64 (binary, or text that is not UTF-8), format when binary,
// size, and truncated when cut.
func (r *recorder) appendSample(o *recording.Object, sm *postgres.RowSample) {
	o.Strings("columns", sm.Columns)
	b := append(r.scratch[:0], '[')
	for i, t := range sm.Types {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(t), 10)
	}
	b = append(b, ']')
	o.Raw("types", b)
	b = append(b[:0], '[')
	for i := range sm.Len() {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j, v := range sm.Row(i) {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendSampleValue(b, &v)
		}
		b = append(b, ']')
	}
	b = append(b, ']')
	o.Raw("sample", b)
	r.scratch = b
	if sm.Truncated {
		o.Bool("sample_truncated", true)
	}
}

func appendSampleValue(b []byte, v *postgres.Value) []byte {
	if v.Null {
		return append(b, "null"...)
	}
	data := v.Data
	if v.Format == 0 && v.Truncated {
		// A cut may split a character.
		for n := 0; n < utf8.UTFMax && len(data) > 0 && !utf8.Valid(data); n++ {
			data = data[:len(data)-1]
		}
	}
	text := v.Format == 0 && utf8.Valid(data)
	// No copy: data does not change while it is appended.
	str := unsafe.String(unsafe.SliceData(data), len(data))
	if text && !v.Truncated {
		return recording.AppendString(b, str)
	}
	if text {
		b = append(b, `{"text":`...)
		b = recording.AppendString(b, str)
	} else {
		b = append(b, `{"base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, data)
		b = append(b, '"')
		if v.Format != 0 {
			b = append(b, `,"format":`...)
			b = strconv.AppendInt(b, int64(v.Format), 10)
		}
	}
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, int64(v.Size), 10)
	if v.Truncated {
		b = append(b, `,"truncated":true`...)
	}
	return append(b, '}')
}

// appendFloat appends f as encoding/json writes a float64: shortest
// decimal, exponent form only below 1e-6 or from 1e21 on. f must be finite.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// reviewEvent is a review.held or review.decided event's data: the review,
// what it is bound to, and (when decided) its status and votes.
type reviewEvent struct {
	r *store.Review
}

func (e reviewEvent) encode(o *recording.Object) {
	o.String("review", e.r.ID)
	o.String("status", e.r.Status)
	o.String("statement_sha256", e.r.StatementHash)
	o.Strings("approvers", e.r.Approvers)
	o.Int("min_approvals", int64(e.r.MinApprovals))
	var approved, rejected []string
	for _, v := range e.r.Votes {
		if v.Approve {
			approved = append(approved, v.Identity)
		} else {
			rejected = append(rejected, v.Identity)
		}
	}
	if len(approved) > 0 {
		o.Strings("approved_by", approved)
	}
	if len(rejected) > 0 {
		o.Strings("rejected_by", rejected)
	}
}
