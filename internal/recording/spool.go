package recording

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrClosed is returned by a Spool's methods after Close.
var ErrClosed = errors.New("spool closed")

const (
	defaultSegmentSize  = 16 << 20
	defaultSyncInterval = 200 * time.Millisecond
	segmentExt          = ".seg"
	readChunk           = 64 << 10
	// maxKeptBuffer bounds the append buffer kept between calls after an
	// unusually large Append.
	maxKeptBuffer = 1 << 20
)

// SpoolOptions configure a Spool. The zero value gives the defaults.
type SpoolOptions struct {
	// SegmentSize is the size after which appends go to a new segment file;
	// 0 means 16 MiB. One Append never spans two segments. On Linux it is
	// also the disk space reserved for the segment appends go to.
	SegmentSize int64
	// SyncInterval is how often a background goroutine fsyncs appended
	// data; 0 means 200ms, and a negative value turns it off (call Sync).
	SyncInterval time.Duration
	// Logger receives recovery warnings (truncated records) and background
	// sync failures; nil discards them.
	Logger *slog.Logger
}

// Position is a place in the spool: a byte offset within a segment file. The
// zero Position is before every event.
type Position struct {
	Segment uint64
	Offset  int64
}

func (p Position) less(q Position) bool {
	return p.Segment < q.Segment || p.Segment == q.Segment && p.Offset < q.Offset
}

// Spool is a write-ahead log of events in a directory, with one reader
// cursor for shipping. Append and Sync are safe for concurrent use; Next,
// Ack and Rewind are meant to be called by one shipping goroutine.
type Spool struct {
	dir  string
	opts SpoolOptions
	log  *slog.Logger

	mu       sync.Mutex
	closed   bool
	broken   error    // a failed write that could not be undone
	f        *os.File // the segment appends go to
	m        []byte   // f mapped, preallocated; nil when appends use write(2)
	mapped   uint64   // the last segment mapLocked was called for
	mapErr   error    // why the last segment could not be mapped, once logged
	seg      uint64   // f's segment number
	size     int64    // bytes written to f: readers read no further
	segments []uint64 // existing segments in order; the last is seg
	buf      []byte   // encoding buffer, reused
	deferred []byte   // records from AppendDeferred not yet written
	armed    bool     // a flush of deferred is scheduled
	dirty    bool     // written since the last fsync
	waiting  bool     // a reader waits on notify
	notify   chan struct{}

	// Reader state, owned by the goroutine calling Next/Ack/Rewind.
	readMu    sync.Mutex
	ack       *ackFile
	acked     Position
	delivered Position // the furthest position Next has returned
	rpos      Position // where the next record to return starts
	rf        *os.File // rpos.Segment, opened for reading; nil when not open
	rbuf      []byte   // rbuf[rlo:rhi] are the bytes of the file from rpos on
	rlo, rhi  int

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// OpenSpool opens the spool in dir, creating dir with mode 0700 if needed.
// It recovers from a crash: every segment not yet acknowledged is read, and
// a segment is truncated at the first record that is torn or corrupt, so that
// such bytes are never shipped. Reading starts at the acknowledged position.
func OpenSpool(dir string, opts SpoolOptions) (*Spool, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = defaultSegmentSize
	}
	if opts.SyncInterval == 0 {
		opts.SyncInterval = defaultSyncInterval
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	s := &Spool{
		dir:    dir,
		opts:   opts,
		log:    log,
		notify: make(chan struct{}),
	}
	if err := s.recover(); err != nil {
		if s.f != nil && s.sealLocked() != nil {
			s.f.Close()
		}
		if s.ack != nil {
			s.ack.close()
		}
		return nil, fmt.Errorf("open spool %s: %w", dir, err)
	}
	if opts.SyncInterval > 0 {
		s.stop = make(chan struct{})
		s.done = make(chan struct{})
		go s.syncLoop(opts.SyncInterval)
	}
	return s, nil
}

func (s *Spool) segmentPath(seg uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x%s", seg, segmentExt))
}

// recover reads the acked position and the segments, repairs them and opens
// the segment appends go to.
func (s *Spool) recover() error {
	ack, acked, err := openAcked(s.dir, s.log)
	if err != nil {
		return err
	}
	s.ack = ack
	segs, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	sizes := make(map[uint64]int64, len(segs))
	for _, seg := range segs {
		if seg < acked.Segment {
			// Acknowledged; a crash came between the ack and the removal.
			if err := os.Remove(s.segmentPath(seg)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove acknowledged segment: %w", err)
			}
			continue
		}
		size, boundary, err := s.repairSegment(seg, acked)
		if err != nil {
			return err
		}
		if seg == acked.Segment && !boundary {
			if acked.Offset < size {
				return fmt.Errorf("acked position %d:%d is not at a record boundary", acked.Segment, acked.Offset)
			}
			// The acknowledged records were written but never reached the
			// disk before the machine stopped; they were shipped, so start
			// after what is left.
			s.log.Warn("spool: acknowledged position beyond segment end",
				"segment", seg, "acked_offset", acked.Offset, "size", size)
			acked.Offset = size
		}
		s.segments = append(s.segments, seg)
		sizes[seg] = size
	}
	s.acked, s.delivered, s.rpos = acked, acked, acked

	// Appends go to a fresh segment, so that they never follow bytes of a
	// previous run and never land before the acknowledged position.
	if n := len(s.segments); n > 0 && sizes[s.segments[n-1]] == 0 && s.segments[n-1] > acked.Segment {
		s.seg = s.segments[n-1]
		s.f, err = os.OpenFile(s.segmentPath(s.seg), os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("open segment: %w", err)
		}
		return nil
	}
	next := acked.Segment + 1
	if n := len(s.segments); n > 0 && s.segments[n-1] >= next {
		next = s.segments[n-1] + 1
	}
	return s.createSegment(next)
}

// createSegment makes seg, a new file, the segment appends go to.
func (s *Spool) createSegment(seg uint64) error {
	f, err := os.OpenFile(s.segmentPath(seg), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.f, s.seg, s.size, s.dirty = f, seg, 0, false
	s.segments = append(s.segments, seg)
	return nil
}

// mapLocked preallocates the current segment, which is empty, to
// SegmentSize and maps it, so that appends are copies into the page cache
// instead of write(2) calls. If that fails, appends to this segment use
// write(2). It is called at a segment's first append, not when the segment
// is created, so that a spool opened and closed without appends leaves its
// files as they were. s.mu is held.
func (s *Spool) mapLocked() {
	s.mapped = s.seg
	m, err := mapSegment(s.f, s.opts.SegmentSize)
	if err == nil {
		s.m, s.mapErr = m, nil
		return
	}
	if s.mapErr == nil {
		s.log.Warn("spool: appending with write(2): cannot map segment", "segment", s.seg, "err", err)
	}
	s.mapErr = err
	// Take back a preallocation that the mapping failed after.
	if terr := s.f.Truncate(0); terr != nil {
		s.broken = fmt.Errorf("append to spool: segment %d: %w", s.seg, terr)
	}
}

// unmapLocked ends appends by copying into the current segment's mapping;
// appends after it use write(2). s.mu is held.
func (s *Spool) unmapLocked() error {
	if s.m == nil {
		return nil
	}
	if err := unmapSegment(s.m); err != nil {
		return err
	}
	s.m = nil
	return nil
}

// sealLocked unmaps the current segment, cuts its unused preallocated
// space, so that its file ends where its records do, fsyncs and closes it.
// On failure the segment stays open, to be sealed again. s.mu is held.
func (s *Spool) sealLocked() error {
	if err := s.unmapLocked(); err != nil {
		return err
	}
	if err := s.f.Truncate(s.size); err != nil {
		return fmt.Errorf("truncate segment: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync segment: %w", err)
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close segment: %w", err)
	}
	return nil
}

// repairSegment reads segment seg, truncates it after its last good record,
// and returns its size and whether acked is at one of its record boundaries.
func (s *Spool) repairSegment(seg uint64, acked Position) (size int64, boundary bool, err error) {
	path := s.segmentPath(seg)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, false, fmt.Errorf("open segment: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, false, fmt.Errorf("stat segment: %w", err)
	}
	br := bufio.NewReaderSize(f, readChunk)
	good, bad := scanRecords(br, func(off int64) {
		if seg == acked.Segment && off == acked.Offset {
			boundary = true
		}
	})
	if good == fi.Size() {
		return good, boundary, nil
	}
	if errors.Is(bad, errZeroHeader) && onlyZeros(br) {
		// The process stopped while appending to a preallocated segment:
		// its records end where the zeros begin.
		s.log.Debug("spool: cutting unused preallocated space",
			"segment", seg, "offset", good, "dropped_bytes", fi.Size()-good)
	} else {
		s.log.Warn("spool: truncating torn or corrupt records",
			"segment", seg, "offset", good, "dropped_bytes", fi.Size()-good, "reason", bad)
	}
	if err := f.Truncate(good); err != nil {
		return 0, false, fmt.Errorf("truncate segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, false, fmt.Errorf("truncate segment: %w", err)
	}
	return good, boundary, nil
}

// scanRecords reads records from r until the end or the first bad record,
// calling at with the offset of every record boundary (including 0 and the
// end). It returns the offset after the last good record, and why it stopped
// if that was not the end of r.
func scanRecords(r io.Reader, at func(off int64)) (good int64, bad error) {
	var (
		hdr [frameHeaderSize]byte
		buf []byte
		e   Event
	)
	for {
		at(good)
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF {
				return good, nil
			}
			return good, errShortRecord
		}
		if hdr == [frameHeaderSize]byte{} {
			// No record is empty: this is space preallocated and never
			// written, or the start of a record torn before its header was.
			return good, errZeroHeader
		}
		size := frameHeaderSize + payloadLen(hdr[:])
		if size > frameHeaderSize+maxRecordSize {
			return good, errRecordTooBig
		}
		buf = slices.Grow(buf[:0], size)[:size]
		copy(buf, hdr[:])
		if _, err := io.ReadFull(r, buf[frameHeaderSize:]); err != nil {
			return good, errShortRecord
		}
		m, err := decodeRecord(buf, &e, nil, nil)
		if err != nil {
			return good, err
		}
		good += int64(m)
	}
}

// onlyZeros reports whether every byte left in r is zero.
func onlyZeros(r io.Reader) bool {
	buf := make([]byte, readChunk)
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			if c != 0 {
				return false
			}
		}
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
}

func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	var segs []uint64
	for _, de := range entries {
		name, ok := strings.CutSuffix(de.Name(), segmentExt)
		if !ok || len(name) != 16 || !de.Type().IsRegular() {
			continue
		}
		seg, err := strconv.ParseUint(name, 16, 64)
		if err != nil || seg == 0 {
			continue
		}
		segs = append(segs, seg)
	}
	slices.Sort(segs)
	return segs, nil
}

// Append writes events to the spool, encoding them into a buffer under the
// spool's lock and copying that into the segment's mapping (or with one
// write(2) call where segments are not mapped), and returns once the bytes
// are in the file (not necessarily on the disk; see Sync). Every event's Data must be
// valid JSON and its strings valid UTF-8, or Append writes nothing and
// returns an error. It is safe for concurrent use, and returns ErrClosed
// after Close.
func (s *Spool) Append(evs ...Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	if len(evs) == 0 {
		return nil
	}
	// Deferred records go first, in the same write: they are older.
	b := append(s.buf[:0], s.deferred...)
	for i := range evs {
		var err error
		if b, err = appendRecord(b, &evs[i]); err != nil {
			s.keepBuf(b)
			return fmt.Errorf("append to spool: %w", err)
		}
	}
	err := s.writeLocked(b)
	s.keepBuf(b)
	if err == nil {
		s.deferred = s.deferred[:0]
	}
	return err
}

// AppendDeferred queues events to be written with the next Append, or
// within DeferredFlush at the latest, so that a session's statement and
// the previous statement's result cost one copy between them. Use it
// only for events that record what has already happened (a result), never
// for one that must be in the spool before it is acted on: a crash can lose
// at most the last DeferredFlush of deferred events. Order is kept: a
// deferred event is written before any event appended after it.
func (s *Spool) AppendDeferred(evs ...Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	n := len(s.deferred)
	for i := range evs {
		var err error
		if s.deferred, err = appendRecord(s.deferred, &evs[i]); err != nil {
			s.deferred = s.deferred[:n]
			return fmt.Errorf("append to spool: %w", err)
		}
	}
	if !s.armed && len(s.deferred) > 0 {
		s.armed = true
		time.AfterFunc(DeferredFlush, s.flushDeferred)
	}
	return nil
}

// DeferredFlush bounds how long AppendDeferred holds events back.
const DeferredFlush = 5 * time.Millisecond

func (s *Spool) flushDeferred() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = false
	_ = s.flushDeferredLocked() // a failure marks the spool; the next Append reports it
}

func (s *Spool) flushDeferredLocked() error {
	if s.closed || s.broken != nil || len(s.deferred) == 0 {
		return nil
	}
	if err := s.writeLocked(s.deferred); err != nil {
		s.broken = err
		return err
	}
	s.deferred = s.deferred[:0]
	return nil
}

func (s *Spool) usable() error {
	if s.closed {
		return ErrClosed
	}
	return s.broken
}

func (s *Spool) keepBuf(b []byte) {
	if cap(b) <= maxKeptBuffer {
		s.buf = b[:0]
	} else {
		s.buf = nil
	}
}

// writeLocked writes encoded records to the current segment, rotating first
// if they do not fit, and wakes a waiting reader. s.mu is held.
func (s *Spool) writeLocked(b []byte) error {
	if s.size > 0 && s.size+int64(len(b)) > s.opts.SegmentSize {
		if err := s.rotate(); err != nil {
			return fmt.Errorf("append to spool: %w", err)
		}
	}
	if s.m == nil && s.size == 0 && s.mapped != s.seg && int64(len(b)) <= s.opts.SegmentSize {
		s.mapLocked()
		if s.broken != nil {
			return s.broken
		}
	}
	if s.m != nil && int64(len(b)) > int64(len(s.m))-s.size {
		// Not reached, since a segment is mapped only for an Append that
		// fits; kept so that a copy can never run past the mapping.
		if err := s.unmapLocked(); err != nil {
			return fmt.Errorf("append to spool: %w", err)
		}
	}
	if s.m != nil {
		if err := copyMapped(s.m[s.size:], b); err != nil {
			// Part of the records may be in the file: recovery cuts them
			// by their CRC, but nothing may follow them.
			s.broken = fmt.Errorf("append to spool: segment %d: %w", s.seg, err)
			return s.broken
		}
	} else if n, err := s.f.WriteAt(b, s.size); err != nil {
		if n > 0 {
			// Take back the partial record, so later appends do not follow it.
			if terr := s.f.Truncate(s.size); terr != nil {
				s.broken = fmt.Errorf("append to spool: segment %d has a partial record: %w", s.seg, terr)
			}
		}
		return fmt.Errorf("append to spool: %w", err)
	}
	s.size += int64(len(b))
	s.dirty = true
	if s.waiting {
		close(s.notify)
		s.notify = make(chan struct{})
		s.waiting = false
	}
	return nil
}

// rotate seals the current segment and starts the next. s.mu is held.
func (s *Spool) rotate() error {
	if err := s.sealLocked(); err != nil {
		return err
	}
	if err := s.createSegment(s.seg + 1); err != nil {
		s.broken = fmt.Errorf("append to spool: %w", err)
		return err
	}
	return nil
}

// Sync flushes appended events to the disk (fsync).
func (s *Spool) Sync() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if err := s.flushDeferredLocked(); err != nil {
		s.mu.Unlock()
		return err
	}
	f, dirty := s.f, s.dirty
	s.dirty = false
	s.mu.Unlock()
	if !dirty {
		return nil
	}
	// Appends go on while the disk works.
	if err := f.Sync(); err != nil {
		if errors.Is(err, os.ErrClosed) {
			// Rotated or closed meanwhile: both sync the file first.
			return nil
		}
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		return fmt.Errorf("sync spool: %w", err)
	}
	return nil
}

func (s *Spool) syncLoop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		err := s.Sync()
		switch {
		case err != nil && !failing && !errors.Is(err, ErrClosed):
			s.log.Error("spool: background sync failed", "dir", s.dir, "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("spool: background sync recovered", "dir", s.dir)
			failing = false
		}
	}
}

// Next returns up to max events (max > 0) that follow the last events it
// returned, or the acknowledged position after OpenSpool, Rewind or a
// restart, with the position just after them. When there are none it blocks
// until an Append or until ctx is done, then returns ctx's error; after Close
// it returns ErrClosed. Events are returned as soon as some exist, so under
// load batches grow up to max by themselves. The events belong to the
// caller; the Data of events in one batch may share a backing array, capped
// so that appending to one never changes another.
func (s *Spool) Next(ctx context.Context, max int) ([]Event, Position, error) {
	if max <= 0 {
		return nil, Position{}, fmt.Errorf("spool next: max %d is not positive", max)
	}
	for {
		s.readMu.Lock()
		evs, err := s.read(max)
		pos, seen := s.rpos, s.rpos.Offset+int64(s.rhi-s.rlo)
		if len(evs) > 0 && s.delivered.less(pos) {
			s.delivered = pos
		}
		s.readMu.Unlock()
		if err != nil || len(evs) > 0 {
			return evs, pos, err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, Position{}, ErrClosed
		}
		if s.seg != pos.Segment || s.size > seen {
			// Written since read looked.
			s.mu.Unlock()
			continue
		}
		s.waiting = true
		ch := s.notify
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, Position{}, ctx.Err()
		}
	}
}

// segmentEnd returns how far seg may be read: the bytes written so far for
// the segment appends go to, or the end of the file (-1) for a sealed one;
// and the segment after seg, if there is one.
func (s *Spool) segmentEnd(seg uint64) (end int64, next uint64, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, 0, false, ErrClosed
	}
	i, _ := slices.BinarySearch(s.segments, seg+1)
	if i < len(s.segments) {
		next, ok = s.segments[i], true
	}
	if seg == s.seg {
		return s.size, next, ok, nil
	}
	return -1, next, ok, nil
}

// read returns up to max events from s.rpos on, without waiting. s.readMu
// is held.
func (s *Spool) read(max int) ([]Event, error) {
	var (
		evs []Event
		a   arena // the events' data
	)
	for len(evs) < max {
		unread := s.rbuf[s.rlo:s.rhi]
		evs = slices.Grow(evs, countRecords(unread, max-len(evs)))
		a.hint = len(unread) // more than the data of the records in it
		for len(evs) < max && s.rlo < s.rhi {
			evs = append(evs, Event{})
			e := &evs[len(evs)-1]
			var last *Event // shares its strings with e
			if len(evs) > 1 {
				last = &evs[len(evs)-2]
			}
			n, err := decodeRecord(s.rbuf[s.rlo:s.rhi], e, last, &a)
			if err != nil {
				evs = evs[:len(evs)-1]
				if errors.Is(err, errShortRecord) {
					break
				}
				return evs, fmt.Errorf("spool: segment %d offset %d: %w", s.rpos.Segment, s.rpos.Offset, err)
			}
			s.rlo += n
			s.rpos.Offset += int64(n)
		}
		if len(evs) >= max {
			break
		}
		end, next, hasNext, err := s.segmentEnd(s.rpos.Segment)
		if err != nil {
			return evs, err
		}
		fileEnd := s.rpos.Offset + int64(s.rhi-s.rlo)
		if end >= 0 && fileEnd >= end {
			break // caught up with the appends
		}
		n, err := s.fill(end, fileEnd)
		if err != nil {
			return evs, err
		}
		if n > 0 {
			continue
		}
		// The end of a sealed segment.
		if s.rlo < s.rhi {
			return evs, fmt.Errorf("spool: segment %d offset %d: %w", s.rpos.Segment, s.rpos.Offset, errShortRecord)
		}
		if !hasNext {
			break
		}
		s.closeReader()
		s.rpos = Position{Segment: next}
	}
	return evs, nil
}

// countRecords returns how many whole records b starts with, up to max.
func countRecords(b []byte, max int) int {
	n := 0
	for n < max {
		m, err := recordLen(b)
		if err != nil {
			break
		}
		b = b[m:]
		n++
	}
	return n
}

// fill reads more of segment s.rpos.Segment, from fileEnd up to end (-1: to
// the end of the file), after the unparsed bytes. It returns 0 at the end of
// the file or when the segment does not exist.
func (s *Spool) fill(end, fileEnd int64) (int, error) {
	if s.rf == nil {
		f, err := os.Open(s.segmentPath(s.rpos.Segment))
		if errors.Is(err, fs.ErrNotExist) && end < 0 {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("spool: open segment for reading: %w", err)
		}
		s.rf = f
	}
	need := readChunk
	if unread := s.rbuf[s.rlo:s.rhi]; len(unread) >= frameHeaderSize {
		// Make room for all of a record larger than a chunk.
		need = max(need, frameHeaderSize+payloadLen(unread))
	}
	if len(s.rbuf)-s.rhi < need {
		unread := s.rhi - s.rlo
		if len(s.rbuf) < unread+need {
			nb := make([]byte, unread+need)
			copy(nb, s.rbuf[s.rlo:s.rhi])
			s.rbuf = nb
		} else {
			copy(s.rbuf, s.rbuf[s.rlo:s.rhi])
		}
		s.rlo, s.rhi = 0, unread
	}
	space := s.rbuf[s.rhi:]
	if end >= 0 && int64(len(space)) > end-fileEnd {
		space = space[:end-fileEnd]
	}
	n, err := s.rf.ReadAt(space, fileEnd)
	s.rhi += n
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("spool: read segment: %w", err)
	}
	if n == 0 && end >= 0 {
		return 0, fmt.Errorf("spool: segment %d shorter than written", s.rpos.Segment)
	}
	return n, nil
}

func (s *Spool) closeReader() {
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
	s.rlo, s.rhi = 0, 0
}

// Ack records that every event before pos has been stored by the gateway:
// it writes pos into the older of the "acked" file's two slots (one pwrite),
// and deletes the segments before pos.Segment. The file is synced to disk
// only when segments are deleted, before they are: an acknowledged position
// lost in a machine crash only makes Ship send those events again, which the
// receiver ignores as repeats, while a deleted segment must never be needed.
// pos must be a position Next returned, and not before the last one
// acknowledged.
func (s *Spool) Ack(pos Position) error {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if pos == s.acked {
		return nil
	}
	if pos.less(s.acked) {
		return fmt.Errorf("spool ack %d:%d: before the acknowledged position %d:%d",
			pos.Segment, pos.Offset, s.acked.Segment, s.acked.Offset)
	}
	if s.delivered.less(pos) {
		return fmt.Errorf("spool ack %d:%d: beyond what was delivered", pos.Segment, pos.Offset)
	}
	s.mu.Lock()
	var old []uint64
	for _, seg := range s.segments {
		if seg < pos.Segment && seg != s.seg {
			old = append(old, seg)
		}
	}
	s.mu.Unlock()
	if err := s.ack.write(s.dir, pos, len(old) > 0); err != nil {
		return fmt.Errorf("spool ack: %w", err)
	}
	s.acked = pos
	if s.rpos.less(pos) {
		// Rewound, then acknowledged what was sent before: skip ahead.
		s.closeReader()
		s.rpos = pos
	}
	for _, seg := range old {
		if err := os.Remove(s.segmentPath(seg)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("spool ack: remove segment: %w", err)
		}
		s.mu.Lock()
		s.segments = slices.DeleteFunc(s.segments, func(x uint64) bool { return x == seg })
		s.mu.Unlock()
	}
	return nil
}

// Rewind makes the next Next start again from the acknowledged position, to
// send again what a failed send did not deliver.
func (s *Spool) Rewind() {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	s.closeReader()
	s.rpos = s.acked
}

// Close stops the background sync, cuts the current segment to its
// records, fsyncs and closes it, and wakes a blocked Next. It is idempotent;
// Append, Next, Ack and Sync return ErrClosed afterwards.
func (s *Spool) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		ferr := s.flushDeferredLocked()
		s.closed = true
		close(s.notify)
		s.mu.Unlock()
		if s.stop != nil {
			close(s.stop)
			<-s.done
		}
		s.mu.Lock()
		err := s.sealLocked()
		if err != nil {
			s.f.Close()
		}
		s.mu.Unlock()
		if err == nil {
			err = ferr
		}
		if err != nil {
			s.closeErr = fmt.Errorf("close spool: %w", err)
		}
		s.readMu.Lock()
		s.closeReader()
		s.ack.close()
		s.readMu.Unlock()
	})
	return s.closeErr
}

// copyMapped copies b into m, a mapped file. A fault on the mapping (an I/O
// error reading a page back in) is returned as an error instead of crashing
// the process.
func copyMapped(m, b []byte) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = fmt.Errorf("fault writing to mapped segment: %v", r)
		}
	}()
	copy(m, b)
	return nil
}
