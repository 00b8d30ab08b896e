package recording

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Event types used across gatehouse.
const (
	TypeSessionStart = "session.start"
	TypeStatement    = "statement"
	TypeResult       = "result"
	TypeSessionEnd   = "session.end"
	// TypeReviewHeld and TypeReviewDecided mark a statement held for
	// review and the decision on it.
	TypeReviewHeld    = "review.held"
	TypeReviewDecided = "review.decided"
)

// Event is one entry of a session's recording.
type Event struct {
	Session string          `json:"session"`
	Seq     uint64          `json:"seq"` // 1-based within a session
	Time    time.Time       `json:"time"`
	Type    string          `json:"type"`
	Data    json.RawMessage `json:"data"` // compact JSON object
	Prev    string          `json:"prev"` // hex hash of the previous event; "" for seq 1
	Hash    string          `json:"hash"` // hex HashEvent of this event
}

const eventDomain = "gatehouse.recording.event.v1\x00"

// HashEvent computes what e.Hash must be: the hex sha256 over the canonical
// encoding of e's session, seq, time, type, data and prev described in the
// package documentation. e.Hash itself is not read.
func HashEvent(e *Event) string {
	sum, _ := hashEvent(nil, e)
	return hex.EncodeToString(sum[:])
}

// hashEvent appends the canonical encoding of e to buf[:0], and returns its
// sha256 and the buffer for reuse.
func hashEvent(buf []byte, e *Event) ([sha256.Size]byte, []byte) {
	b := append(buf[:0], eventDomain...)
	b = appendField(b, e.Session)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(e.Time.Nanosecond()))
	b = appendField(b, e.Type)
	b = binary.BigEndian.AppendUint64(b, uint64(len(e.Data)))
	b = append(b, e.Data...)
	b = appendField(b, e.Prev)
	return sha256.Sum256(b), b
}

func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// Chain assigns seq, prev and hash to one session's events, in order. The
// zero value is not usable; use [NewChain]. A Chain is not safe for
// concurrent use.
type Chain struct {
	session string
	seq     uint64
	last    string // hex hash of the event numbered seq
	scratch []byte // canonical encoding, reused
	hexBuf  [2 * sha256.Size]byte
}

// NewChain returns a Chain for a session whose first event will be seq 1.
func NewChain(session string) *Chain {
	return &Chain{session: session}
}

// Next returns the session's next event at time t (stored in UTC, without a
// monotonic clock reading) with the given type and data. Data must be valid
// JSON; it is compacted if it is not compact already, and nil or empty data
// becomes "{}". The returned event holds on to data when it is already
// compact: the caller must not change it while the event is in use.
func (c *Chain) Next(t time.Time, typ string, data json.RawMessage) Event {
	switch {
	case len(data) == 0:
		data = json.RawMessage("{}")
	case !isCompact(data):
		var b bytes.Buffer
		if err := json.Compact(&b, data); err == nil {
			data = b.Bytes()
		}
		// Invalid JSON is kept as it is: Spool.Append refuses it, so it
		// cannot reach the store, and the caller sees the error there.
	}
	c.seq++
	e := Event{
		Session: c.session,
		Seq:     c.seq,
		Time:    t.Round(0).UTC(),
		Type:    typ,
		Data:    data,
		Prev:    c.last,
	}
	var sum [sha256.Size]byte
	sum, c.scratch = hashEvent(c.scratch, &e)
	hex.Encode(c.hexBuf[:], sum[:])
	e.Hash = string(c.hexBuf[:])
	c.last = e.Hash
	return e
}

// Last returns the seq and hash of the last event Next returned, or 0 and ""
// before the first.
func (c *Chain) Last() (seq uint64, hash string) {
	return c.seq, c.last
}

// isCompact reports whether data has no whitespace outside JSON strings. It
// does not check that data is valid JSON.
func isCompact(data []byte) bool {
	inString, escaped := false, false
	for _, ch := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case ch == '\\':
				escaped = true
			case ch == '"':
				inString = false
			}
		case ch == '"':
			inString = true
		case ch == ' ', ch == '\t', ch == '\n', ch == '\r':
			return false
		}
	}
	return true
}

// ChainError names the first event of a session whose chain is broken.
type ChainError struct {
	Seq    uint64 // the seq the broken event has, or should have had
	Reason string // "hash mismatch", "prev mismatch", ...
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("event %d: %s", e.Seq, e.Reason)
}

// Verify checks that events, one session's events in seq order, are numbered
// consecutively from seq 1, and that each event's hash and its link to the
// event before it are right. It returns nil or a [*ChainError] naming the
// first broken event. A removed or reordered event is named by the seq that
// was expected in its place.
//
// Verify cannot tell that events were removed from the end; check the
// session's signature with [VerifySignature] for that.
func Verify(events []Event) error {
	var (
		scratch []byte
		prev    string
		hexBuf  [2 * sha256.Size]byte
	)
	for i := range events {
		e := &events[i]
		want := uint64(i) + 1
		if e.Seq != want {
			return &ChainError{Seq: want, Reason: fmt.Sprintf("out of sequence: found seq %d", e.Seq)}
		}
		if e.Session != events[0].Session {
			return &ChainError{Seq: want, Reason: "session mismatch"}
		}
		var sum [sha256.Size]byte
		sum, scratch = hashEvent(scratch, e)
		hex.Encode(hexBuf[:], sum[:])
		if string(hexBuf[:]) != e.Hash {
			return &ChainError{Seq: want, Reason: "hash mismatch"}
		}
		if e.Prev != prev {
			return &ChainError{Seq: want, Reason: "prev mismatch"}
		}
		prev = e.Hash
	}
	return nil
}
