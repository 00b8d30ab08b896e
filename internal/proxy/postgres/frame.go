package postgres

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	// maxMessageLen caps a message at 1 GiB, the largest the server
	// accepts or produces (MaxAllocSize), counting the length field.
	maxMessageLen = 1 << 30
	// bufSize is the size of each bufio buffer of a relay direction.
	bufSize = 32 << 10
)

// errFrame reports a malformed message stream.
var errFrame = errors.New("malformed message")

// frameReader reads type-and-length framed messages from a bufio.Reader.
// Bodies that fit in the buffer are handed out in place (valid until the
// next read); larger ones stream or go to a buffer that is dropped after
// use.
type frameReader struct {
	r    *bufio.Reader
	hdr  [5]byte
	typ  byte
	n    int // body length of the current message
	left int // body bytes not yet consumed
}

// next reads the next message header.
func (f *frameReader) next() error {
	if f.left > 0 {
		if _, err := f.r.Discard(f.left); err != nil {
			return err
		}
		f.left = 0
	}
	b, err := f.r.Peek(5)
	if err != nil {
		if err == io.EOF && len(b) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	copy(f.hdr[:], b)
	f.r.Discard(5)
	l := int(int32(binary.BigEndian.Uint32(f.hdr[1:])))
	if l < 4 || l > maxMessageLen {
		return fmt.Errorf("%w: type %q length %d", errFrame, f.hdr[0], l)
	}
	f.typ = f.hdr[0]
	f.n = l - 4
	f.left = f.n
	return nil
}

// complete reports whether a whole next message is already buffered, so a
// writer can hold its output for a coalesced flush.
func (f *frameReader) complete() bool {
	off := f.left
	if f.r.Buffered() < off+5 {
		return false
	}
	b, _ := f.r.Peek(off + 5)
	l := int(int32(binary.BigEndian.Uint32(b[off+1:])))
	return l >= 4 && f.r.Buffered() >= off+1+l
}

// fits reports whether the current body can be read in place.
func (f *frameReader) fits() bool { return f.n <= f.r.Size() }

// body returns the whole current body: in place when it fits in the buffer
// (valid until the next read), otherwise in a new slice that the caller
// drops after use.
func (f *frameReader) body() ([]byte, error) {
	if f.fits() {
		b, err := f.r.Peek(f.n)
		if err != nil {
			return nil, unexpected(err)
		}
		f.r.Discard(f.n)
		f.left = 0
		return b, nil
	}
	// Grow with what actually arrives, so a header that merely claims a
	// huge body does not reserve the memory up front.
	var bb bytes.Buffer
	bb.Grow(min(f.n, 1<<20))
	if _, err := io.CopyN(&bb, f.r, int64(f.n)); err != nil {
		return nil, unexpected(err)
	}
	f.left = 0
	return bb.Bytes(), nil
}

// forward writes the header and the rest of the current body to w,
// in buffer-sized chunks.
func (f *frameReader) forward(w *bufio.Writer) error {
	if _, err := w.Write(f.hdr[:]); err != nil {
		return err
	}
	if n := f.left; n <= f.r.Buffered() {
		// The usual case: the whole body is buffered already.
		b, _ := f.r.Peek(n)
		if _, err := w.Write(b); err != nil {
			return err
		}
		f.r.Discard(n)
		f.left = 0
		return nil
	}
	return f.copyN(w, f.left)
}

// copyN copies n body bytes to w without allocating.
func (f *frameReader) copyN(w *bufio.Writer, n int) error {
	for n > 0 {
		c := f.r.Buffered()
		if c == 0 {
			if _, err := f.r.Peek(1); err != nil {
				return unexpected(err)
			}
			c = f.r.Buffered()
		}
		c = min(c, n)
		b, _ := f.r.Peek(c)
		if _, err := w.Write(b); err != nil {
			return err
		}
		f.r.Discard(c)
		n -= c
		f.left -= c
	}
	return nil
}

// take returns the next n (<= buffer size) body bytes in place and forwards
// them to w.
func (f *frameReader) take(w *bufio.Writer, n int) ([]byte, error) {
	if n > f.left {
		return nil, fmt.Errorf("%w: %q body too short", errFrame, f.typ)
	}
	b, err := f.r.Peek(n)
	if err != nil {
		return nil, unexpected(err)
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	f.r.Discard(n)
	f.left -= n
	return b, nil
}

// takeCString reads a NUL-terminated string from the body, forwarding it.
func (f *frameReader) takeCString(w *bufio.Writer) (string, error) {
	var acc []byte
	for {
		c := f.r.Buffered()
		if c == 0 {
			if _, err := f.r.Peek(1); err != nil {
				return "", unexpected(err)
			}
			c = f.r.Buffered()
		}
		c = min(c, f.left)
		if c == 0 {
			return "", fmt.Errorf("%w: %q unterminated string", errFrame, f.typ)
		}
		b, _ := f.r.Peek(c)
		i := bytes.IndexByte(b, 0)
		if i >= 0 {
			b, _ = f.take(w, i+1)
			if acc == nil {
				return string(b[:i]), nil
			}
			return string(append(acc, b[:i]...)), nil
		}
		acc = append(acc, b...)
		if len(acc) > maxNameLen {
			return "", fmt.Errorf("%w: %q name too long", errFrame, f.typ)
		}
		if _, err := f.take(w, c); err != nil {
			return "", err
		}
	}
}

// maxNameLen bounds statement and portal names in a streamed Bind.
const maxNameLen = 64 << 10

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
