package postgres

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/mask"
	"github.com/jackc/pgx/v5/pgtype"
)

// RowLimits bounds the rows of each statement kept for the recording.
type RowLimits struct {
	Rows  int // rows kept per statement; 0 keeps none
	Bytes int // bytes of values kept per statement
}

// RowSample is the start of one statement's rows as the client received
// them, masked, within the session's RowLimits.
type RowSample struct {
	Columns []string
	// Types holds each column's type OID.
	Types []uint32
	// Values holds the kept rows, row after row, len(Columns) values each.
	// A binary value of a type the engine knows is converted to the text
	// format; others keep Format 1. Data holds at most MaxValueLen bytes.
	Values []Value
	// Truncated reports rows that were not kept: past the limits, too
	// large to look at without buffering, or with no description.
	Truncated bool
}

// Len returns the number of rows kept.
func (s *RowSample) Len() int {
	if len(s.Columns) == 0 {
		return 0
	}
	return len(s.Values) / len(s.Columns)
}

// Row returns the values of row i.
func (s *RowSample) Row(i int) []Value {
	w := len(s.Columns)
	return s.Values[i*w : (i+1)*w]
}

// sampler keeps the first rows of each statement. It belongs to the target
// direction of a relay.
type sampler struct {
	lim RowLimits
	// names, when the session masks, masks what its detectors find in
	// column names: they come from the statement's text (an alias may be
	// a value), which the recording keeps masked too.
	names *mask.Masker

	// The description of the rows that follow, from the last
	// RowDescription that announced rows; lastT saves decoding a repeated
	// one.
	ready   bool
	lastT   []byte
	cols    []string
	types   []uint32
	formats []int16
	copyOut bool // the rows that follow are COPY TO data
	copyFmt int16

	s      RowSample
	bytes  int
	arena  []byte
	text   []byte
	codecs *pgtype.Map // made on the first binary value
}

// minValueCost is what each kept value, even a NULL or an empty one,
// takes from the byte budget, so that the number of values (and the size
// of the event that records them) is bounded too.
const minValueCost = 8

// copyColumn names the one column of a COPY TO's kept rows.
const copyColumn = "copy"

// describe takes the columns of the rows that follow from a RowDescription.
func (m *sampler) describe(body []byte) error {
	m.copyOut = false
	if m.ready && bytes.Equal(body, m.lastT) {
		return nil
	}
	m.ready = false
	m.lastT = append(m.lastT[:0], body...)
	if len(body) < 2 {
		return fmt.Errorf("%w: RowDescription too short", errFrame)
	}
	n := int(binary.BigEndian.Uint16(body))
	p := body[2:]
	m.cols, m.types, m.formats = m.cols[:0], m.types[:0], m.formats[:0]
	for range n {
		i := bytes.IndexByte(p, 0)
		if i < 0 || len(p) < i+1+18 {
			return fmt.Errorf("%w: RowDescription truncated", errFrame)
		}
		f := p[i+1:]
		m.cols = append(m.cols, m.columnName(p[:i]))
		m.types = append(m.types, binary.BigEndian.Uint32(f[6:]))
		m.formats = append(m.formats, int16(binary.BigEndian.Uint16(f[16:])))
		p = f[18:]
	}
	m.ready = true
	return nil
}

// columnName returns a column name as the recording keeps it.
func (m *sampler) columnName(name []byte) string {
	out, changed, isNull := m.names.Text(nil, name, nil)
	switch {
	case isNull:
		return "[REDACTED]"
	case changed:
		return string(out)
	}
	return string(name)
}

// noRows notes a description that announces no rows (NoData), or the end
// of a statement's rows.
func (m *sampler) noRows() {
	m.ready, m.copyOut = false, false
}

// copyStart notes a CopyOutResponse: the CopyData that follow are kept as
// rows of one column, in the COPY's format.
func (m *sampler) copyStart(text bool) {
	m.ready, m.copyOut, m.copyFmt = false, true, 1
	if text {
		m.copyFmt = 0
	}
}

// want reports whether the next row would be kept; when it would not
// because of the limits or a missing description, the sample is marked
// truncated.
func (m *sampler) want() bool {
	if m.lim.Rows == 0 {
		return false
	}
	if (!m.ready && !m.copyOut) || m.s.Len() >= m.lim.Rows || m.bytes >= m.lim.Bytes {
		m.s.Truncated = true
		return false
	}
	return true
}

// skip notes a row that was not looked at.
func (m *sampler) skip() { m.s.Truncated = true }

// row keeps a DataRow body (as sent to the client) if want allowed it. A
// malformed row is not kept.
func (m *sampler) row(body []byte) {
	if len(m.s.Columns) == 0 {
		m.s.Columns = append(m.s.Columns, m.cols...)
		m.s.Types = append(m.s.Types, m.types...)
	}
	if len(body) < 2 || int(binary.BigEndian.Uint16(body)) != len(m.cols) || !slices.Equal(m.s.Columns, m.cols) {
		m.s.Truncated = true
		return
	}
	start, arenaStart := len(m.s.Values), len(m.arena)
	p := body[2:]
	for i := range m.cols {
		if len(p) < 4 {
			break
		}
		l := int(int32(binary.BigEndian.Uint32(p)))
		p = p[4:]
		if l < 0 {
			m.s.Values = append(m.s.Values, Value{Null: true})
			m.bytes += minValueCost
			continue
		}
		if l > len(p) {
			break
		}
		m.keep(p[:l], m.formats[i], m.types[i])
		p = p[l:]
	}
	if len(m.s.Values)-start != len(m.cols) {
		m.s.Values, m.arena = m.s.Values[:start], m.arena[:arenaStart]
		m.s.Truncated = true
	}
}

// copyRow keeps one CopyData message of a COPY TO as a row.
func (m *sampler) copyRow(data []byte) {
	if len(m.s.Columns) == 0 {
		m.s.Columns = append(m.s.Columns, copyColumn)
		m.s.Types = append(m.s.Types, oidText)
		if m.copyFmt != 0 {
			m.s.Types[len(m.s.Types)-1] = oidBytea
		}
	}
	if len(m.s.Columns) != 1 || m.s.Columns[0] != copyColumn {
		m.s.Truncated = true
		return
	}
	if m.copyFmt == 0 {
		data = bytes.TrimSuffix(data, []byte{'\n'})
	}
	m.keep(data, m.copyFmt, oidBytea)
}

// keep appends one value, converting a binary one to text where it can and
// cutting it to what the limits leave.
func (m *sampler) keep(v []byte, format int16, typ uint32) {
	size := len(v)
	if format == 1 && size <= MaxValueLen {
		if t, ok := m.binaryText(v, typ); ok {
			v, format = t, 0
		}
	}
	room := min(MaxValueLen, max(m.lim.Bytes-m.bytes, 0))
	val := Value{Format: format, Size: size}
	if len(v) > room {
		v = v[:room]
		val.Truncated = true
	}
	m.bytes += max(len(v), minValueCost)
	start := len(m.arena)
	m.arena = append(m.arena, v...)
	val.Data = m.arena[start:len(m.arena):len(m.arena)]
	m.s.Values = append(m.s.Values, val)
}

// binaryText converts a binary value to the text format through pgx's
// codecs. Bad input makes them fail, not panic; their fuzzing is theirs, and
// ours in FuzzSampler.
func (m *sampler) binaryText(v []byte, typ uint32) ([]byte, bool) {
	if m.codecs == nil {
		m.codecs = pgtype.NewMap()
	}
	t, ok := m.codecs.TypeForOID(typ)
	if !ok {
		return nil, false
	}
	val, err := t.Codec.DecodeValue(m.codecs, typ, pgtype.BinaryFormatCode, v)
	if err != nil || val == nil {
		return nil, false
	}
	out, err := m.codecs.Encode(typ, pgtype.TextFormatCode, val, m.text[:0])
	if err != nil || out == nil {
		return nil, false
	}
	m.text = out
	return out, true
}

// take returns the sample of the statement that just ended, or nil when
// no row came; it is valid until reset.
func (m *sampler) take() *RowSample {
	if len(m.s.Values) == 0 && !m.s.Truncated {
		return nil
	}
	return &m.s
}

// reset starts the next statement's sample.
func (m *sampler) reset() {
	m.s = RowSample{Columns: m.s.Columns[:0], Types: m.s.Types[:0], Values: m.s.Values[:0]}
	m.bytes = 0
	m.arena = m.arena[:0]
}

// sampleDescription takes the columns of the rows that follow from a
// RowDescription or NoData that answers a Describe of a portal (the
// engine's own, which goes no further, or the client's) or a simple Query.
// It reports whether it dealt with the message.
func (r *relay) sampleDescription() (bool, error) {
	p, ok := r.front()
	if !ok {
		return false, nil
	}
	injected := p.kind == kindMaskDescribe
	if !injected && !(p.kind == kindDescribe && p.ofPortal) && !(p.kind == kindQuery && r.tr.typ == 'T') {
		return false, nil
	}
	if r.tr.typ == 'n' {
		r.smp.noRows()
		if injected {
			r.pop()
			return true, nil
		}
		return false, nil
	}
	body, err := r.tr.body()
	if err != nil {
		return true, fmt.Errorf("read from target: %w", err)
	}
	if err := r.smp.describe(body); err != nil {
		return true, fmt.Errorf("target sent a malformed RowDescription: %w", err)
	}
	switch p.kind {
	case kindMaskDescribe:
		r.pop()
		return true, nil
	case kindDescribe:
		r.pop()
	}
	return true, r.writeClient(body)
}

// keptRow forwards a DataRow, keeping it for the recording while the
// limits allow. A row too large for the read buffer streams through
// unkept.
func (r *relay) keptRow() error {
	if !r.smp.want() {
		return r.forwardClient()
	}
	if !r.tr.fits() {
		r.smp.skip()
		return r.forwardClient()
	}
	body, err := r.tr.body()
	if err != nil {
		return fmt.Errorf("read from target: %w", err)
	}
	r.smp.row(body)
	return r.writeClient(body)
}

// keptCopy forwards a CopyOutResponse or a COPY TO's CopyData, keeping the
// data for the recording while the limits allow.
func (r *relay) keptCopy() error {
	if r.tr.typ == 'H' {
		body, err := r.tr.body()
		if err != nil {
			return fmt.Errorf("read from target: %w", err)
		}
		_, text, err := copyColumns(body)
		r.smp.copyStart(err == nil && text)
		return r.writeClient(body)
	}
	if !r.smp.copyOut || !r.smp.want() {
		return r.forwardClient()
	}
	if !r.tr.fits() {
		r.smp.skip()
		return r.forwardClient()
	}
	body, err := r.tr.body()
	if err != nil {
		return fmt.Errorf("read from target: %w", err)
	}
	return r.sendCopyData(body)
}

// sendCopyData sends one CopyData of a COPY TO, as it goes to the client,
// and keeps it for the recording while the limits allow.
func (r *relay) sendCopyData(data []byte) error {
	if r.smp != nil && r.smp.copyOut && r.smp.want() {
		r.smp.copyRow(data)
	}
	return r.writeClientMsg('d', data)
}
