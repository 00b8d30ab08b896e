package recording

import (
	"slices"
	"time"
)

// EncodeRecordForTest returns e framed as one spool record.
func EncodeRecordForTest(e *Event) ([]byte, error) {
	return appendRecord(nil, e)
}

// DecodeRecordForTest decodes the record at the start of b.
func DecodeRecordForTest(b []byte) (Event, int, error) {
	var e Event
	n, err := decodeRecord(b, &e, nil, nil)
	return e, n, err
}

// SegmentPathForTest returns the file name of segment seg.
func SegmentPathForTest(s *Spool, seg uint64) string {
	return s.segmentPath(seg)
}

// SegmentsForTest returns the segments s knows, in order.
func SegmentsForTest(s *Spool) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.segments)
}

// ReaderWaitingForTest reports whether a Next call is blocked waiting for an
// Append.
func ReaderWaitingForTest(s *Spool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// NextBackoffForTest returns Ship's pause after a failed send that followed
// a pause of d.
func NextBackoffForTest(d time.Duration) time.Duration {
	return nextBackoff(d)
}

// ValidJSONForTest reports whether b is valid JSON by the spool's own
// validator.
func ValidJSONForTest(b []byte) bool {
	return validJSON(b)
}
