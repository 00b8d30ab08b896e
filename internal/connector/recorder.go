package connector

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/recording"
)

// maxRecordedText caps the statement text kept in one event. Longer texts
// are cut, and the event keeps their size and SHA-256 so the full text can
// still be matched.
const maxRecordedText = 256 << 10

type sessionStart struct {
	Identity     string   `json:"identity"`
	Groups       []string `json:"groups"`
	Connection   string   `json:"connection"`
	Database     string   `json:"database,omitempty"`
	ClientAddr   string   `json:"client_addr,omitempty"`
	Policy       string   `json:"policy"`
	PolicyDigest string   `json:"policy_digest"`
	Connector    string   `json:"connector"`
	Protocol     string   `json:"protocol"`
	Application  string   `json:"application_name,omitempty"`
}

type sessionEnd struct {
	Reason     string `json:"reason"`
	Statements int64  `json:"statements"`
	Error      string `json:"error,omitempty"`
}

type paramData struct {
	Null      bool   `json:"null,omitempty"`
	Format    int16  `json:"format,omitempty"`
	Text      string `json:"text,omitempty"`
	Base64    string `json:"base64,omitempty"`
	Size      int    `json:"size"`
	Truncated bool   `json:"truncated,omitempty"`
}

type statementData struct {
	Protocol      string      `json:"protocol"`
	Text          string      `json:"text"`
	TextSize      int         `json:"text_size,omitempty"`
	TextSHA256    string      `json:"text_sha256,omitempty"`
	TextTruncated bool        `json:"text_truncated,omitempty"`
	Name          string      `json:"name,omitempty"`
	Portal        string      `json:"portal,omitempty"`
	Params        []paramData `json:"params,omitempty"`
}

type errorData struct {
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Message  string `json:"message"`
}

type resultData struct {
	// Statement is the 1-based number of the session's statement event
	// this result belongs to.
	Statement  uint64     `json:"statement"`
	Tag        string     `json:"tag"`
	Rows       int64      `json:"rows"`
	DurationMS float64    `json:"duration_ms"`
	Error      *errorData `json:"error,omitempty"`
}

// recorder turns the engine's statement callbacks into hash-chained spool
// events. The engine calls it from both relay directions, so it locks.
type recorder struct {
	spool *recording.Spool

	mu         sync.Mutex
	chain      *recording.Chain
	statements int64
	stmt       statementData
}

var _ postgres.Recorder = (*recorder)(nil)

func newRecorder(session string, spool *recording.Spool) *recorder {
	return &recorder{spool: spool, chain: recording.NewChain(session)}
}

// record appends one event. It must be called with r.mu unlocked.
func (r *recorder) record(t time.Time, typ string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", typ, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.appendLocked(t, typ, data)
}

func (r *recorder) appendLocked(t time.Time, typ string, data []byte) error {
	ev := r.chain.Next(t, typ, data)
	if err := r.spool.Append(ev); err != nil {
		return fmt.Errorf("spool %s event: %w", typ, err)
	}
	return nil
}

// Statement records s before the engine forwards it.
func (r *recorder) Statement(s *postgres.Statement) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := &r.stmt
	*d = statementData{Protocol: s.Protocol, Name: s.Name, Portal: s.Portal, Params: d.Params[:0]}
	d.Text = s.Text
	if len(s.Text) > maxRecordedText {
		sum := sha256.Sum256([]byte(s.Text))
		cut := maxRecordedText
		for cut > 0 && !utf8.RuneStart(s.Text[cut]) {
			cut--
		}
		d.Text = s.Text[:cut]
		d.TextSize = len(s.Text)
		d.TextSHA256 = hex.EncodeToString(sum[:])
		d.TextTruncated = true
	}
	for _, v := range s.Params {
		p := paramData{Null: v.Null, Format: v.Format, Size: v.Size, Truncated: v.Truncated}
		if !v.Null {
			if v.Format == 0 && utf8.Valid(v.Data) {
				p.Text = string(v.Data)
			} else {
				p.Base64 = base64.StdEncoding.EncodeToString(v.Data)
			}
		}
		d.Params = append(d.Params, p)
	}
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode statement event: %w", err)
	}
	r.statements++
	return r.appendLocked(s.Time, recording.TypeStatement, data)
}

// Result records the outcome of the oldest pending statement.
func (r *recorder) Result(res *postgres.Result) error {
	d := resultData{Statement: res.Seq, Tag: res.Tag, Rows: res.Rows, DurationMS: float64(res.Duration.Microseconds()) / 1000}
	if res.Error != nil {
		d.Error = &errorData{Severity: res.Error.Severity, Code: res.Error.Code, Message: res.Error.Message}
	}
	data, err := json.Marshal(&d)
	if err != nil {
		return fmt.Errorf("encode result event: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// A result records what already happened: it may wait for the next
	// statement's write (or a few milliseconds) instead of costing a
	// write of its own.
	ev := r.chain.Next(res.Time, recording.TypeResult, data)
	if err := r.spool.AppendDeferred(ev); err != nil {
		return fmt.Errorf("spool result event: %w", err)
	}
	return nil
}
