package tunnel

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxFrameSize is the largest frame body WriteFrame writes and ReadFrame
// accepts, in bytes.
const MaxFrameSize = 1 << 20

// WriteFrame writes v as one frame: a 4-byte big-endian body length followed
// by the JSON encoding of v. It writes the frame with a single Write call so
// that a header and the bytes that follow it are not interleaved with other
// writers' frames at a lower level. Frames larger than MaxFrameSize are refused.
func WriteFrame(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode frame: %w", err)
	}
	if len(body) > MaxFrameSize {
		return fmt.Errorf("encode frame: %d bytes exceeds the %d byte limit", len(body), MaxFrameSize)
	}
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// ReadFrame reads one frame written by WriteFrame and decodes its JSON body
// into v. It reads exactly the frame's bytes and no more, so the stream can
// carry raw bytes after it. An empty, oversize or malformed frame is an error.
func ReadFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("read frame header: truncated: %w", err)
		}
		return fmt.Errorf("read frame header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return errors.New("read frame: empty frame")
	}
	if n > MaxFrameSize {
		return fmt.Errorf("read frame: %d bytes exceeds the %d byte limit", n, MaxFrameSize)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return fmt.Errorf("read frame body: %w", err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode frame: %w", err)
	}
	return nil
}
