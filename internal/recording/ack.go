package recording

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The "acked" file holds the acknowledged position in two slots, laid out
// as the package documentation describes. Ack overwrites the older slot in
// place with one pwrite, so a write torn by a crash leaves the other slot,
// one acknowledgement older, intact. The slots sit in different pages and
// disk sectors so that one torn page or sector cannot damage both.
const (
	ackedName     = "acked"
	ackedMagicV1  = "gatehouse-spool-ack v1"
	ackSlotMagic  = "GHA2"
	ackSlotSize   = 32
	ackSlotStride = 4096
	ackFileSize   = ackSlotStride + ackSlotSize
)

// ackFile writes the acknowledged position. Its zero value has no file open
// yet: the first write creates the slot file.
type ackFile struct {
	f   *os.File // the slot file, opened for writing
	gen uint64   // the newest slot's generation
}

// openAcked reads the acknowledged position in dir, and opens the "acked"
// file for writing if it holds slots. A slot file in which neither slot is
// intact yields the zero Position, so that everything still in the spool is
// sent again, with a warning.
func openAcked(dir string, log *slog.Logger) (*ackFile, Position, error) {
	path := filepath.Join(dir, ackedName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &ackFile{}, Position{}, nil
	}
	if err != nil {
		return nil, Position{}, fmt.Errorf("read acked position: %w", err)
	}
	if len(b) != ackFileSize || strings.HasPrefix(string(b), ackedMagicV1) {
		pos, err := parseAckedV1(b)
		if err != nil {
			return nil, Position{}, fmt.Errorf("read acked position %s: %w", path, err)
		}
		return &ackFile{}, pos, nil
	}
	var (
		pos   Position
		gen   uint64
		found bool
	)
	for _, off := range [...]int{0, ackSlotStride} {
		g, p, ok := decodeAckSlot(b[off : off+ackSlotSize])
		if ok && (!found || g > gen) {
			pos, gen, found = p, g, true
		}
	}
	if !found {
		log.Warn("spool: no intact acknowledged position, sending everything in the spool again", "file", path)
		return &ackFile{}, Position{}, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, Position{}, fmt.Errorf("open acked position: %w", err)
	}
	return &ackFile{f: f, gen: gen}, pos, nil
}

func parseAckedV1(b []byte) (Position, error) {
	rest, ok := strings.CutPrefix(string(b), ackedMagicV1+" ")
	rest, ok2 := strings.CutSuffix(rest, "\n")
	segStr, offStr, ok3 := strings.Cut(rest, " ")
	seg, err1 := strconv.ParseUint(segStr, 10, 64)
	off, err2 := strconv.ParseInt(offStr, 10, 64)
	if !ok || !ok2 || !ok3 || err1 != nil || err2 != nil || off < 0 {
		return Position{}, errors.New("malformed")
	}
	return Position{Segment: seg, Offset: off}, nil
}

func appendAckSlot(b []byte, gen uint64, pos Position) []byte {
	start := len(b)
	b = append(b, ackSlotMagic...)
	b = binary.LittleEndian.AppendUint64(b, gen)
	b = binary.LittleEndian.AppendUint64(b, pos.Segment)
	b = binary.LittleEndian.AppendUint64(b, uint64(pos.Offset))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// decodeAckSlot decodes one slot; ok is false unless it is intact.
func decodeAckSlot(b []byte) (gen uint64, pos Position, ok bool) {
	if len(b) != ackSlotSize || string(b[:4]) != ackSlotMagic ||
		crc32.Checksum(b[:28], castagnoli) != binary.LittleEndian.Uint32(b[28:]) {
		return 0, Position{}, false
	}
	gen = binary.LittleEndian.Uint64(b[4:])
	pos = Position{Segment: binary.LittleEndian.Uint64(b[12:]), Offset: int64(binary.LittleEndian.Uint64(b[20:]))}
	if pos.Offset < 0 {
		return 0, Position{}, false
	}
	return gen, pos, true
}

// write records pos, on the disk before it returns when durable is set.
func (a *ackFile) write(dir string, pos Position, durable bool) error {
	if a.f == nil {
		return a.create(dir, pos)
	}
	gen := a.gen + 1
	var buf [ackSlotSize]byte
	if _, err := a.f.WriteAt(appendAckSlot(buf[:0], gen, pos), int64(gen%2)*ackSlotStride); err != nil {
		return fmt.Errorf("write acked position: %w", err)
	}
	a.gen = gen
	if durable {
		if err := a.f.Sync(); err != nil {
			return fmt.Errorf("write acked position: %w", err)
		}
	}
	return nil
}

// create writes a slot file holding pos in both slots, durably, in place
// of the "acked" file, and opens it.
func (a *ackFile) create(dir string, pos Position) error {
	tmp := filepath.Join(dir, ackedName+".tmp")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write acked position: %w", err)
	}
	b := make([]byte, ackFileSize)
	appendAckSlot(b[:0], 1, pos)
	appendAckSlot(b[ackSlotStride:ackSlotStride], 2, pos)
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, ackedName))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write acked position: %w", err)
	}
	a.f, a.gen = f, 2
	return nil
}

func (a *ackFile) close() {
	if a.f != nil {
		a.f.Close()
		a.f = nil
	}
}
