package recording

import (
	"fmt"
	"os"
	"syscall"
)

// mapSegment reserves size bytes of disk for f, an empty segment file, and
// maps them for writing. The reserved bytes read as zeros until written, and
// writing to them cannot fail for lack of space.
func mapSegment(f *os.File, size int64) ([]byte, error) {
	if size <= 0 || size != int64(int(size)) {
		return nil, fmt.Errorf("map segment: size %d", size)
	}
	fd := int(f.Fd())
	if err := syscall.Fallocate(fd, 0, 0, size); err != nil {
		return nil, fmt.Errorf("preallocate segment: %w", err)
	}
	m, err := syscall.Mmap(fd, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map segment: %w", err)
	}
	return m, nil
}

func unmapSegment(m []byte) error {
	if err := syscall.Munmap(m); err != nil {
		return fmt.Errorf("unmap segment: %w", err)
	}
	return nil
}
