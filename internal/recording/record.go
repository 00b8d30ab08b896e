package recording

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"time"
	"unicode/utf8"
)

const (
	frameHeaderSize = 8
	// maxRecordSize caps one record's payload, so a corrupt length cannot
	// make the reader allocate without bound.
	maxRecordSize = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors from decodeRecord. errShortRecord means the bytes end inside the
// record: at the end of a segment, a torn write.
var (
	errShortRecord   = errors.New("incomplete record")
	errZeroHeader    = errors.New("zero-filled record header")
	errRecordTooBig  = errors.New("record too large")
	errRecordCRC     = errors.New("record checksum mismatch")
	errRecordPayload = errors.New("record payload is not an event")
)

// appendRecord appends e framed as a record. It fails if e cannot survive a
// round trip through JSON unchanged, because then its hash would no longer
// verify.
func appendRecord(b []byte, e *Event) ([]byte, error) {
	if !utf8.ValidString(e.Session) || !utf8.ValidString(e.Type) ||
		!utf8.ValidString(e.Prev) || !utf8.ValidString(e.Hash) {
		return b, fmt.Errorf("event %d: invalid UTF-8 in a string field", e.Seq)
	}
	if y := e.Time.UTC().Year(); y < 0 || y > 9999 {
		return b, fmt.Errorf("event %d: time out of range", e.Seq)
	}
	if !validJSON(e.Data) {
		return b, fmt.Errorf("event %d: data is not valid JSON", e.Seq)
	}
	start := len(b)
	b = append(b, make([]byte, frameHeaderSize)...)
	b = append(b, `{"session":`...)
	b = appendJSONString(b, e.Session)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"data":`...)
	b = append(b, e.Data...)
	b = append(b, `,"prev":`...)
	b = appendJSONString(b, e.Prev)
	b = append(b, `,"hash":`...)
	b = appendJSONString(b, e.Hash)
	b = append(b, '}')
	payload := b[start+frameHeaderSize:]
	if len(payload) > maxRecordSize {
		return b[:start], fmt.Errorf("event %d: %w (%d bytes)", e.Seq, errRecordTooBig, len(payload))
	}
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	return b, nil
}

// appendJSONString appends s, which must be valid UTF-8, as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendJSONChars(b, s)
	return append(b, '"')
}

// appendJSONChars appends s, which must be valid UTF-8, escaped for the
// inside of a JSON string.
func appendJSONChars(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	return append(b, s[start:]...)
}

// recordLen returns the length of the record at the start of b, or
// errShortRecord when b does not hold all of it yet.
func recordLen(b []byte) (int, error) {
	if len(b) < frameHeaderSize {
		return 0, errShortRecord
	}
	n := payloadLen(b)
	if n > maxRecordSize {
		return 0, fmt.Errorf("%w (%d bytes)", errRecordTooBig, n)
	}
	if len(b) < frameHeaderSize+n {
		return 0, errShortRecord
	}
	return frameHeaderSize + n, nil
}

// payloadLen returns the payload length a record header announces.
func payloadLen(hdr []byte) int {
	return int(binary.LittleEndian.Uint32(hdr))
}

// decodeRecord decodes the record at the start of b into e, and returns its
// length. e's fields do not alias b; e.Data is carved from a if it is not
// nil. last, if not nil, is the event decoded before: e shares its strings
// where they are equal.
func decodeRecord(b []byte, e *Event, last *Event, a *arena) (int, error) {
	n, err := recordLen(b)
	if err != nil {
		return 0, err
	}
	payload := b[frameHeaderSize:n]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return 0, errRecordCRC
	}
	if decodePayload(payload, e, last, a) {
		return n, nil
	}
	*e = Event{}
	if err := json.Unmarshal(payload, e); err != nil {
		return 0, fmt.Errorf("%w: %w", errRecordPayload, err)
	}
	if len(e.Data) == 0 || e.Data[0] == 'n' {
		// A missing or null data field cannot have come from appendRecord.
		return 0, fmt.Errorf("%w: no data", errRecordPayload)
	}
	return n, nil
}

// decodePayload decodes a record payload laid out exactly as appendRecord
// writes it, whose strings hold nothing to unescape, into e, without
// reflection. It reports false, leaving e in an unspecified state, for
// anything else; json.Unmarshal decodes those (the same event, more slowly).
func decodePayload(p []byte, e *Event, last *Event, a *arena) bool {
	var (
		ok            bool
		session, seq  []byte
		ts, typ, data []byte
		prev, hash    []byte
	)
	if p, ok = cutKey(p, `{"session":`); !ok {
		return false
	}
	if session, p, ok = cutPlainString(p); !ok {
		return false
	}
	if p, ok = cutKey(p, `,"seq":`); !ok {
		return false
	}
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	seq, p = p[:i], p[i:]
	if p, ok = cutKey(p, `,"time":`); !ok {
		return false
	}
	if ts, p, ok = cutPlainString(p); !ok {
		return false
	}
	if p, ok = cutKey(p, `,"type":`); !ok {
		return false
	}
	if typ, p, ok = cutPlainString(p); !ok {
		return false
	}
	if p, ok = cutKey(p, `,"data":`); !ok {
		return false
	}
	if len(p) == 0 || p[0] != '{' {
		return false
	}
	n := skipValue(p, 0) // also validates: tooDeep is left to encoding/json
	if n < 0 {
		return false
	}
	data, p = p[:n], p[n:]
	if p, ok = cutKey(p, `,"prev":`); !ok {
		return false
	}
	if prev, p, ok = cutPlainString(p); !ok {
		return false
	}
	if p, ok = cutKey(p, `,"hash":`); !ok {
		return false
	}
	if hash, p, ok = cutPlainString(p); !ok {
		return false
	}
	if string(p) != "}" {
		return false
	}
	// Leading zeros and overflow are left to encoding/json.
	if len(seq) == 0 || (seq[0] == '0' && len(seq) > 1) {
		return false
	}
	seqN, err := strconv.ParseUint(string(seq), 10, 64)
	if err != nil {
		return false
	}
	var t time.Time
	if err := t.UnmarshalText(ts); err != nil {
		return false
	}
	*e = Event{
		Session: shareString(session, last, func(l *Event) string { return l.Session }),
		Seq:     seqN,
		Time:    t,
		Type:    eventType(typ),
		Data:    json.RawMessage(a.clone(data)),
		Prev:    shareString(prev, last, func(l *Event) string { return l.Hash }),
		Hash:    string(hash),
	}
	return true
}

// shareString returns b as a string, using field(last) when it is equal:
// a batch's events share one session, and each one's prev is the hash
// before it.
func shareString(b []byte, last *Event, field func(*Event) string) string {
	if last != nil {
		if s := field(last); s == string(b) {
			return s
		}
	}
	return string(b)
}

// eventType returns b as a string, without allocating for the event types
// gatehouse writes.
func eventType(b []byte) string {
	for _, t := range [...]string{TypeStatement, TypeResult, TypeSessionStart, TypeSessionEnd, TypeReviewHeld, TypeReviewDecided} {
		if t == string(b) {
			return t
		}
	}
	return string(b)
}

// cutKey returns p after prefix, and whether p starts with it.
func cutKey(p []byte, prefix string) ([]byte, bool) {
	if len(p) < len(prefix) || string(p[:len(prefix)]) != prefix {
		return p, false
	}
	return p[len(prefix):], true
}

// cutPlainString splits a JSON string at the start of p into its contents
// and the rest. It reports false for a string holding an escape, a control
// character or invalid UTF-8, which need encoding/json's decoding.
func cutPlainString(p []byte) (s, rest []byte, ok bool) {
	if len(p) == 0 || p[0] != '"' {
		return nil, p, false
	}
	for i := 1; i < len(p); i++ {
		switch c := p[i]; {
		case c == '"':
			s = p[1:i]
			if !utf8.Valid(s) {
				return nil, p, false
			}
			return s, p[i+1:], true
		case c == '\\' || c < 0x20:
			return nil, p, false
		}
	}
	return nil, p, false
}

// arena hands out copies carved from larger blocks, so that the data of a
// batch of decoded events costs a few allocations instead of one per event.
// A nil *arena allocates every copy by itself.
type arena struct {
	buf  []byte
	hint int // how large the next block should be, if that is more than needed
}

// clone returns a copy of b, capped so that appending to it reallocates.
func (a *arena) clone(b []byte) []byte {
	if a == nil {
		return bytes.Clone(b)
	}
	if len(b) > cap(a.buf)-len(a.buf) {
		a.buf = make([]byte, 0, max(len(b), a.hint))
	}
	n := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[n:len(a.buf):len(a.buf)]
}
