package sqlite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// A chunk is the blob of one event_chunks row: the events of one session
// with increasing seqs, encoded as
//
//	chunk = version n:uvarint event*n
//	event = flags seq:uvarint [time:varint] type data [prev] hash
//
// where every string (type, data, prev, hash) is a uvarint length and its
// bytes. The encoder writes n padded to two bytes (0x80|n&0x7f, n>>7),
// which a uvarint decoder reads as n, so that it can fill it in last. seq is the difference to the previous event's seq (to 0 for the
// first), at least 1. time is present when flagTime is set, in unix
// nanoseconds, as the difference to the previous event's time (to 0 for
// the first) with wrapping arithmetic, so any int64 round-trips. prev is
// absent when flagPrevChained is set: it equals the previous event's hash,
// as in an unbroken hash chain. flagPrevHex and flagHashHex mark a prev or
// hash of lowercase hex digits stored as the bytes they spell, half the
// length.
const (
	chunkVersion = 1

	flagTime        = 1 << 0
	flagPrevChained = 1 << 1
	flagPrevHex     = 1 << 2
	flagHashHex     = 1 << 3
	flagsKnown      = flagTime | flagPrevChained | flagPrevHex | flagHashHex
)

// Chunk bounds. A writer starts a new chunk after maxChunkEvents events or
// once the encoding reaches maxChunkBytes; a single event larger than that
// gets a chunk of its own. maxChunkEvents also bounds what a decoder
// allocates for a corrupt count.
const (
	maxChunkEvents = 256
	maxChunkBytes  = 1 << 20
)

// errCorrupt is wrapped by every decoding error.
var errCorrupt = errors.New("corrupt event chunk")

// chunkEncoder appends events of one session, in increasing seq order, to
// a chunk. The zero value is not usable; call reset first.
type chunkEncoder struct {
	buf      []byte
	countAt  int // offset of the event count, reserved as fixed-width uvarint
	n        int
	lastSeq  uint64
	lastTime int64
	lastHash string
}

// countWidth is the room reserved for the event count: a uvarint padded to
// two bytes holds up to 2^14-1 > maxChunkEvents.
const countWidth = 2

// reset starts a new chunk in buf[:0].
func (c *chunkEncoder) reset(buf []byte) {
	*c = chunkEncoder{buf: append(buf[:0], chunkVersion)}
	c.countAt = len(c.buf)
	c.buf = append(c.buf, 0x80, 0x00)
}

// full reports whether the chunk should take no more events.
func (c *chunkEncoder) full() bool {
	return c.n >= maxChunkEvents || len(c.buf) >= maxChunkBytes
}

// add appends e, whose seq must be greater than the previous event's and
// whose time must be in range for UnixNano (see nanos).
func (c *chunkEncoder) add(e *store.Event) {
	b := c.buf
	at := len(b)
	b = append(b, 0) // flags, set below
	b = binary.AppendUvarint(b, e.Seq-c.lastSeq)
	var flags byte
	if !e.Time.IsZero() {
		flags |= flagTime
		t := e.Time.UnixNano()
		b = binary.AppendVarint(b, int64(uint64(t)-uint64(c.lastTime)))
		c.lastTime = t
	}
	b = appendString(b, e.Type)
	b = appendBytes(b, e.Data)
	if c.n > 0 && e.Prev == c.lastHash {
		flags |= flagPrevChained
	} else {
		var isHex bool
		b, isHex = appendHexOrString(b, e.Prev)
		if isHex {
			flags |= flagPrevHex
		}
	}
	b, isHex := appendHexOrString(b, e.Hash)
	if isHex {
		flags |= flagHashHex
	}
	b[at] = flags
	c.buf = b
	c.n++
	c.lastSeq = e.Seq
	c.lastHash = e.Hash
}

// bytes returns the chunk, valid until the next reset.
func (c *chunkEncoder) bytes() []byte {
	// A padded uvarint: low 7 bits with the continuation bit, then the rest.
	c.buf[c.countAt] = byte(c.n&0x7f) | 0x80
	c.buf[c.countAt+1] = byte(c.n >> 7)
	return c.buf
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// appendHexOrString appends s as the bytes its digits spell when it is a
// non-empty, even-length string of lowercase hex digits (the form that
// survives decoding to bytes and encoding back), and as it is otherwise.
func appendHexOrString(b []byte, s string) ([]byte, bool) {
	if len(s) == 0 || len(s)%2 != 0 {
		return appendString(b, s), false
	}
	start := len(b)
	b = binary.AppendUvarint(b, uint64(len(s)/2))
	for i := 0; i < len(s); i += 2 {
		hi, lo := hexValues[s[i]], hexValues[s[i+1]]
		if hi|lo > 0x0f {
			return appendString(b[:start], s), false
		}
		b = append(b, hi<<4|lo)
	}
	return b, true
}

// hexValues maps lowercase hex digits to their values and every other byte
// to 0xff.
var hexValues = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range []byte(hexDigits) {
		t[c] = byte(i)
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// chunkDecoder decodes chunks. It keeps the strings it made for event types
// so that a list of events shares one string per type.
type chunkDecoder struct {
	types []string
}

// maxTypes bounds the types a decoder remembers.
const maxTypes = 8

// decode appends the events of chunk, for session, to evs. Data of the
// appended events aliases chunk, which the caller must not modify
// afterwards. A malformed chunk returns an error wrapping errCorrupt and evs
// unchanged in length.
func (d *chunkDecoder) decode(evs []store.Event, session string, chunk []byte) ([]store.Event, error) {
	start := len(evs)
	evs, err := d.decodeEvents(evs, session, chunk)
	if err != nil {
		clear(evs[start:])
		return evs[:start], fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return evs, nil
}

func (d *chunkDecoder) decodeEvents(evs []store.Event, session string, b []byte) ([]store.Event, error) {
	if len(b) == 0 || b[0] != chunkVersion {
		return evs, errors.New("unknown version")
	}
	r := reader{b: b[1:]}
	n := r.uvarint()
	switch {
	case r.err != nil:
		return evs, r.err
	case n == 0 || n > maxChunkEvents:
		return evs, fmt.Errorf("%d events", n)
	}
	evs = growEvents(evs, int(n))
	var (
		seq      uint64
		lastTime int64
		lastHash string
	)
	for i := range int(n) {
		flags := r.byte()
		if r.err != nil {
			return evs, r.err
		}
		if flags&^flagsKnown != 0 || flags&flagPrevChained != 0 && (i == 0 || flags&flagPrevHex != 0) {
			return evs, fmt.Errorf("event %d: flags %#x", i, flags)
		}
		delta := r.uvarint()
		if r.err == nil && (delta == 0 || delta > math.MaxInt64-seq) {
			return evs, fmt.Errorf("event %d: seq %d after %d", i, delta, seq)
		}
		seq += delta
		e := store.Event{Session: session, Seq: seq}
		if flags&flagTime != 0 {
			lastTime = int64(uint64(lastTime) + uint64(r.varint()))
			e.Time = time.Unix(0, lastTime).UTC()
		}
		e.Type = d.typeString(r.bytes())
		if data := r.bytes(); len(data) > 0 {
			e.Data = data
		}
		switch {
		case flags&flagPrevChained != 0:
			e.Prev = lastHash
		default:
			e.Prev = r.hexOrString(flags&flagPrevHex != 0)
		}
		e.Hash = r.hexOrString(flags&flagHashHex != 0)
		if r.err != nil {
			return evs, fmt.Errorf("event %d: %w", i, r.err)
		}
		lastHash = e.Hash
		evs = append(evs, e)
	}
	if len(r.b) > 0 {
		return evs, fmt.Errorf("%d bytes after the last event", len(r.b))
	}
	return evs, nil
}

// growEvents makes room for n more events.
func growEvents(evs []store.Event, n int) []store.Event {
	if cap(evs)-len(evs) >= n {
		return evs
	}
	grown := make([]store.Event, len(evs), len(evs)+max(n, len(evs)))
	copy(grown, evs)
	return grown
}

// typeString returns b as a string, reusing one made before.
func (d *chunkDecoder) typeString(b []byte) string {
	for _, t := range d.types {
		if t == string(b) {
			return t
		}
	}
	s := string(b)
	if len(d.types) < maxTypes {
		d.types = append(d.types, s)
	}
	return s
}

// reader consumes a chunk. After the first error every read returns zero
// values and err stays set.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail(errShort)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errors.New("bad uvarint"))
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errors.New("bad varint"))
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes returns a length-prefixed field, aliasing the chunk with its
// capacity capped so an append cannot overwrite what follows.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail(errShort)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) hexOrString(isHex bool) string {
	b := r.bytes()
	if !isHex {
		return string(b)
	}
	if len(b) == 0 {
		// The encoder writes an empty string raw; flagged hex would decode
		// to "" and re-encode differently.
		r.fail(errors.New("empty hex field"))
		return ""
	}
	var s strings.Builder
	s.Grow(2 * len(b))
	for _, c := range b {
		s.WriteByte(hexDigits[c>>4])
		s.WriteByte(hexDigits[c&0x0f])
	}
	return s.String()
}

// EncodeEventChunks encodes one session's events, in increasing seq order,
// as the data of event_chunks rows, splitting them as AppendEvents does.
// With DecodeEventChunk it lets tools that work on the database file
// directly (and tests that tamper with it as an attacker would) read and
// write recordings.
func EncodeEventChunks(evs []store.Event) [][]byte {
	var out [][]byte
	var c chunkEncoder
	for i := range evs {
		if i == 0 || c.full() {
			if i > 0 {
				out = append(out, bytes.Clone(c.bytes()))
			}
			c.reset(nil)
		}
		c.add(&evs[i])
	}
	if len(evs) > 0 {
		out = append(out, bytes.Clone(c.bytes()))
	}
	return out
}

// DecodeEventChunk decodes the data of one event_chunks row of session.
func DecodeEventChunk(session string, chunk []byte) ([]store.Event, error) {
	var d chunkDecoder
	return d.decode(nil, session, chunk)
}
