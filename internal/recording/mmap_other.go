//go:build !linux

package recording

import (
	"errors"
	"os"
)

// mapSegment is only implemented on Linux; elsewhere the spool writes
// segments with write(2).
func mapSegment(f *os.File, size int64) ([]byte, error) {
	return nil, errors.New("map segment: not supported on this system")
}

func unmapSegment(m []byte) error { return nil }
