package recording

import (
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
	if !json.Valid(e.Data) {
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
// length. e's fields do not alias b.
func decodeRecord(b []byte, e *Event) (int, error) {
	n, err := recordLen(b)
	if err != nil {
		return 0, err
	}
	payload := b[frameHeaderSize:n]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return 0, errRecordCRC
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
