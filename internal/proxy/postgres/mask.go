package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/mask"
)

// Masking configures result masking for a session.
type Masking struct {
	// Masker holds the session's masking profiles; nil or empty masks
	// nothing.
	Masker *mask.Masker
	// Columns names the table column behind a result column, from the
	// table OID and attribute number of its RowDescription field. It is
	// called from the session's engine, which waits for it, once per
	// distinct RowDescription; it should cache. A nil Columns, or an error
	// from it, ends the session (fail closed) whenever a result column
	// comes from a table and the Masker has column rules.
	Columns func(ctx context.Context, table uint32, attnum int16) (ColumnName, error)
	// Generation, if set, reports a number that changes whenever answers
	// of Columns may have changed; a session then plans its columns anew.
	Generation func() uint64
	// Copy, if set, describes the index-th COPY ... TO STDOUT (from 0) of
	// the statement text, so that column rules apply to its fields. Without
	// it, or when it fails, a COPY TO under column rules is refused.
	Copy func(ctx context.Context, text string, index int) (*CopySpec, error)
	// Invalidate, if set, is called after a statement that may rename or
	// redefine tables and views (ALTER, DROP, CREATE VIEW), so that Columns
	// forgets what it cached.
	Invalidate func()
}

// ColumnName is the table column a result column comes from.
type ColumnName struct {
	Schema, Table, Column string
}

// replanAfter bounds how long a session reuses the masking plan of a
// repeated RowDescription without naming its columns again, so that a view
// redefined elsewhere is seen.
const replanAfter = 2 * time.Second

// Type OIDs the masker treats specially.
const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidXML         = 142
	oidFloat4      = 700
	oidFloat8      = 701
	oidUnknown     = 705
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidInterval    = 1186
	oidTimetz      = 1266
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
	oidCIDR        = 650
	oidInet        = 869
)

// How a column's values are read and written when masked.
const (
	vkSkip       = iota // cannot hold text a detector finds (int4, uuid, timestamps, ...)
	vkText              // the bytes are the text, in either format
	vkJSON              // JSON text: masked output must stay valid JSON
	vkJSONBBin          // binary jsonb: a version byte, then JSON text
	vkNumber            // text int8 or numeric: a match makes the value NULL
	vkInt8Bin           // binary int8: scanned as decimal text; a match makes it NULL
	vkNumericBin        // binary numeric: likewise
	vkByteaHex          // text bytea in hex: scanned decoded, re-encoded
	vkOpaque            // binary of any other type: arrays and records read element by element; a match makes it NULL
	vkFloat             // text float4 or float8: scanned in positional form; a match makes it NULL
	vkFloatBin          // binary float4 or float8: likewise
)

// Column actions.
const (
	actNone = iota
	actRule
	actDetect
)

type colPlan struct {
	act   uint8
	kind  uint8
	match mask.ColumnMatch
	typ   uint32
}

// maskedCol is one rewritten value of the current DataRow: its bytes are
// mval[start:end], or NULL.
type maskedCol struct {
	col        int
	start, end int
	null       bool
}

// masker is the target direction's masking state.
type masker struct {
	cfg     *Masking
	m       *mask.Masker
	hits    mask.Hits
	plan    []colPlan
	planned bool // plan was made from lastT
	planGen uint64
	planAt  time.Time
	ready   bool // plan describes the rows that follow
	anyOn   bool // some column of plan has an action
	lastT   []byte

	// copyOut is set between a CopyOutResponse and the end of its COPY;
	// copySuppress when its rows cannot be masked and are dropped.
	copyOut, copySuppress bool
	copyPlan              *copyPlan // field by field, under column rules
	copySeq               uint64    // the statement whose COPYs copyIdx counts
	copyIdx               int

	hitList []mask.Hit
	msg     []byte

	mval  []byte
	mcols []maskedCol
	mout  []byte
	num   []byte
	hex   []byte
}

var (
	errMaskUnavailable = &Error{Severity: "FATAL", Code: "XX000", Message: "gatehouse: result masking failed, so the session was ended"}
	errCopyNotMasked   = &Error{Severity: "ERROR", Code: "42501", Message: "gatehouse: COPY TO cannot be masked in this form (binary format, a null transform, or a table name found in several schemas: name the schema); use SELECT"}
)

// errMaskColumns reports a result column whose table could not be named.
var errMaskColumns = errors.New("cannot name the table column behind a result column")

func textLike(typ uint32) bool {
	switch typ {
	case oidText, oidVarchar, oidBPChar, oidName, oidXML, oidUnknown, oidChar:
		return true
	}
	return false
}

func skipType(typ uint32) bool {
	switch typ {
	case oidBool, oidInt2, oidInt4, oidOID, oidDate, oidTime,
		oidTimestamp, oidTimestamptz, oidInterval, oidTimetz, oidUUID:
		return true
	}
	return false
}

func valueKind(typ uint32, format int16) uint8 {
	switch {
	case skipType(typ):
		return vkSkip
	case textLike(typ):
		return vkText
	case typ == oidJSON || typ == oidJSONB && format == 0:
		return vkJSON
	case typ == oidJSONB:
		return vkJSONBBin
	case typ == oidFloat4 || typ == oidFloat8:
		if format == 0 {
			return vkFloat
		}
		return vkFloatBin
	case typ == oidInt8 || typ == oidNumeric:
		if format == 0 {
			return vkNumber
		}
		if typ == oidInt8 {
			return vkInt8Bin
		}
		return vkNumericBin
	case typ == oidBytea:
		if format == 0 {
			return vkByteaHex
		}
		return vkText
	case format == 0:
		// Arrays, records, enums, domains and extension types in text
		// form: the replacement text keeps them readable.
		return vkText
	}
	return vkOpaque
}

// planRows builds the plan for the DataRows a RowDescription announces. It
// reuses the last plan when the description is the same.
func (k *masker) planRows(ctx context.Context, body []byte) error {
	var gen uint64
	if k.cfg.Generation != nil {
		gen = k.cfg.Generation()
	}
	now := time.Now()
	if k.planned && gen == k.planGen && now.Sub(k.planAt) < replanAfter && bytes.Equal(body, k.lastT) {
		k.ready = true
		return nil
	}
	k.ready, k.planned, k.planGen, k.planAt = false, false, gen, now
	k.lastT = append(k.lastT[:0], body...)
	if len(body) < 2 {
		return fmt.Errorf("%w: RowDescription too short", errFrame)
	}
	n := int(binary.BigEndian.Uint16(body))
	p := body[2:]
	k.plan = k.plan[:0]
	k.anyOn = false
	for range n {
		i := bytes.IndexByte(p, 0)
		if i < 0 || len(p) < i+1+18 {
			return fmt.Errorf("%w: RowDescription truncated", errFrame)
		}
		name := p[:i]
		f := p[i+1:]
		table := binary.BigEndian.Uint32(f)
		attnum := int16(binary.BigEndian.Uint16(f[4:]))
		typ := binary.BigEndian.Uint32(f[6:])
		format := int16(binary.BigEndian.Uint16(f[16:]))
		p = f[18:]

		c := colPlan{kind: valueKind(typ, format), typ: typ}
		var ok bool
		if table != 0 && attnum > 0 && k.m.HasColumns() {
			if k.cfg.Columns == nil {
				return errMaskColumns
			}
			cn, err := k.cfg.Columns(ctx, table, attnum)
			if err != nil {
				return fmt.Errorf("%w: table %d column %d: %w", errMaskColumns, table, attnum, err)
			}
			c.match, ok = k.m.Column(cn.Schema, cn.Table, cn.Column)
		} else {
			c.match, ok = k.m.Column("", "", string(name))
		}
		switch {
		case ok:
			c.act = actRule
		case k.m.HasDetectors() && c.kind != vkSkip:
			c.act = actDetect
		}
		if c.act != actNone {
			k.anyOn = true
		}
		k.plan = append(k.plan, c)
	}
	k.ready, k.planned = true, true
	return nil
}

// maskRow masks a DataRow body by the current plan. It returns the body to
// send: body itself when nothing changed.
func (k *masker) maskRow(body []byte) ([]byte, error) {
	if !k.anyOn {
		return body, nil
	}
	if len(body) < 2 || int(binary.BigEndian.Uint16(body)) != len(k.plan) {
		return nil, fmt.Errorf("%w: DataRow does not match its RowDescription", errFrame)
	}
	k.mval = k.mval[:0]
	k.mcols = k.mcols[:0]
	p := body[2:]
	for i := range k.plan {
		if len(p) < 4 {
			return nil, fmt.Errorf("%w: DataRow truncated", errFrame)
		}
		l := int32(binary.BigEndian.Uint32(p))
		p = p[4:]
		if l < 0 {
			continue
		}
		if int(l) > len(p) {
			return nil, fmt.Errorf("%w: DataRow truncated", errFrame)
		}
		v := p[:l]
		p = p[l:]
		c := &k.plan[i]
		if c.act == actNone {
			continue
		}
		start := len(k.mval)
		var changed, null bool
		if c.act == actRule {
			changed = true
			null = k.ruleValue(c, v)
		} else {
			changed, null = k.detectValue(c, v)
		}
		if !changed {
			k.mval = k.mval[:start]
			continue
		}
		if null {
			k.mval = k.mval[:start]
		}
		k.mcols = append(k.mcols, maskedCol{col: i, start: start, end: len(k.mval), null: null})
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: DataRow has trailing bytes", errFrame)
	}
	if len(k.mcols) == 0 {
		return body, nil
	}
	// Assemble the new row: changed values from mval, the others as they
	// were.
	out := append(k.mout[:0], body[:2]...)
	p = body[2:]
	next := 0
	for i := range k.plan {
		l := int32(binary.BigEndian.Uint32(p))
		n := max(int(l), 0)
		if next < len(k.mcols) && k.mcols[next].col == i {
			mc := k.mcols[next]
			next++
			if mc.null {
				out = binary.BigEndian.AppendUint32(out, 0xFFFFFFFF)
			} else {
				out = binary.BigEndian.AppendUint32(out, uint32(mc.end-mc.start))
				out = append(out, k.mval[mc.start:mc.end]...)
			}
		} else {
			out = append(out, p[:4+n]...)
		}
		p = p[4+n:]
	}
	k.mout = out
	return out, nil
}

// ruleValue appends the column rule's output for v to mval, or reports
// null.
func (k *masker) ruleValue(c *colPlan, v []byte) (null bool) {
	switch c.kind {
	case vkText:
		var isNull bool
		k.mval, isNull = k.m.Value(k.mval, v, c.match, &k.hits)
		return isNull
	case vkJSON, vkJSONBBin:
		if c.kind == vkJSONBBin {
			if len(v) == 0 {
				return true
			}
			k.mval = append(k.mval, v[0])
			v = v[1:]
		}
		// The replacement becomes a JSON string, so the value stays JSON.
		start := len(k.mval)
		var isNull bool
		k.num, isNull = k.m.Value(k.num[:0], v, c.match, &k.hits)
		if isNull {
			return true
		}
		k.mval = appendJSONString(k.mval[:start], k.num)
		return false
	case vkByteaHex:
		var isNull bool
		k.num, isNull = k.m.Value(k.num[:0], v, c.match, &k.hits)
		if isNull {
			return true
		}
		k.mval = append(k.mval, `\x`...)
		k.mval = hex.AppendEncode(k.mval, k.num)
		return false
	}
	// A type that cannot carry the replacement text.
	k.m.Value(k.num[:0], nil, c.match, &k.hits)
	return true
}

// detectValue runs the detectors over v, appending the masked value to
// mval when something matched.
func (k *masker) detectValue(c *colPlan, v []byte) (changed, null bool) {
	switch c.kind {
	case vkText:
		var isNull bool
		k.mval, changed, isNull = k.m.Text(k.mval, v, &k.hits)
		return changed, isNull
	case vkJSON, vkJSONBBin:
		start := len(k.mval)
		if c.kind == vkJSONBBin {
			if len(v) == 0 {
				return false, false
			}
			k.mval = append(k.mval, v[0])
			v = v[1:]
		}
		var isNull bool
		k.mval, changed, isNull = k.m.Text(k.mval, v, &k.hits)
		if !changed {
			k.mval = k.mval[:start]
			return false, false
		}
		text := k.mval[start:]
		if c.kind == vkJSONBBin {
			text = text[1:]
		}
		if isNull || !json.Valid(text) {
			return true, true
		}
		return true, false
	case vkNumber:
		_, changed, _ = k.m.Text(k.num[:0], v, &k.hits)
		return changed, changed
	case vkOpaque:
		// Binary arrays and records: their text, numbers and nested
		// values are read one by one; anything a detector finds makes the
		// whole value NULL.
		changed = k.scanBinary(c.typ, v, 0)
		return changed, changed
	case vkFloat, vkFloatBin:
		var f float64
		switch {
		case c.kind == vkFloat:
			var err error
			if f, err = strconv.ParseFloat(string(v), 64); err != nil {
				return false, false // NaN, Infinity
			}
		case len(v) == 8:
			f = math.Float64frombits(binary.BigEndian.Uint64(v))
		case len(v) == 4:
			f = float64(math.Float32frombits(binary.BigEndian.Uint32(v)))
		default:
			return true, true
		}
		// Digits in positional form: 4.242424242424242e+15 hides a card.
		k.num = strconv.AppendFloat(k.num[:0], f, 'f', -1, 64)
		_, changed, _ = k.m.Text(k.hex[:0], k.num, &k.hits)
		return changed, changed
	case vkInt8Bin:
		if len(v) != 8 {
			return false, false
		}
		k.num = strconv.AppendInt(k.num[:0], int64(binary.BigEndian.Uint64(v)), 10)
		_, changed, _ = k.m.Text(k.hex[:0], k.num, &k.hits)
		return changed, changed
	case vkNumericBin:
		var ok bool
		k.num, ok = appendNumeric(k.num[:0], v)
		if !ok {
			// Not a numeric we can read: do not pass it on unread.
			return true, true
		}
		_, changed, _ = k.m.Text(k.hex[:0], k.num, &k.hits)
		return changed, changed
	case vkByteaHex:
		if len(v) < 2 || v[0] != '\\' || v[1] != 'x' {
			// The escape format (bytea_output = escape).
			var ok bool
			if k.num, ok = decodeByteaEscape(k.num[:0], v); !ok {
				return true, true
			}
			var isNull bool
			k.hex, changed, isNull = k.m.Text(k.hex[:0], k.num, &k.hits)
			if !changed || isNull {
				return changed, isNull
			}
			k.mval = encodeByteaEscape(k.mval, k.hex)
			return true, false
		}
		var err error
		k.num, err = hex.AppendDecode(k.num[:0], v[2:])
		if err != nil {
			return true, true
		}
		var isNull bool
		k.hex, changed, isNull = k.m.Text(k.hex[:0], k.num, &k.hits)
		if !changed || isNull {
			return changed, isNull
		}
		k.mval = append(k.mval, `\x`...)
		k.mval = hex.AppendEncode(k.mval, k.hex)
		return true, false
	}
	return false, false
}

// appendNumeric appends the decimal text of a binary numeric value.
func appendNumeric(dst, v []byte) ([]byte, bool) {
	if len(v) < 8 {
		return dst, false
	}
	ndigits := int(binary.BigEndian.Uint16(v))
	weight := int(int16(binary.BigEndian.Uint16(v[2:])))
	sign := binary.BigEndian.Uint16(v[4:])
	if len(v) != 8+2*ndigits {
		return dst, false
	}
	switch sign {
	case 0xC000, 0xD000, 0xF000: // NaN, +Inf, -Inf
		return append(dst, "NaN"...), true
	case 0x4000:
		dst = append(dst, '-')
	}
	if ndigits == 0 {
		return append(dst, '0'), true
	}
	d := v[8:]
	// Digits are base 10000; weight is the power of the first one.
	for i := 0; i < ndigits; i++ {
		g := int(binary.BigEndian.Uint16(d[2*i:]))
		if g > 9999 {
			return dst, false
		}
		if i == weight+1 {
			dst = append(dst, '.')
		}
		if i == 0 && weight >= 0 {
			dst = strconv.AppendInt(dst, int64(g), 10)
		} else {
			dst = append(dst, byte('0'+g/1000), byte('0'+g/100%10), byte('0'+g/10%10), byte('0'+g%10))
		}
	}
	for i := ndigits; i <= weight; i++ {
		dst = append(dst, "0000"...)
	}
	return dst, true
}

// maskCopyRow masks one CopyData row of a text or CSV COPY TO by the
// detectors. It returns the body to send, and ok false when the row cannot
// be masked in place.
func (k *masker) maskCopyRow(body []byte) (out []byte, ok bool) {
	var changed, isNull bool
	k.mval, changed, isNull = k.m.Text(k.mval[:0], body, &k.hits)
	switch {
	case isNull:
		return nil, false
	case !changed:
		return body, true
	}
	return k.mval, true
}

// maskFields masks the text fields of an ErrorResponse or NoticeResponse
// with the detectors, and the values of a unique violation's "Key (...)=
// (...)" detail when a column rule covers one of its columns. It reports
// whether anything changed.
func (k *masker) maskFields(schema, table string, fields ...*string) bool {
	changed := false
	for _, f := range fields {
		if *f == "" {
			continue
		}
		if k.m.HasColumns() && table != "" && k.keyDetail(schema, table, f) {
			changed = true
		}
		if !k.m.HasDetectors() {
			continue
		}
		out, ch, isNull := k.m.Text(k.mval[:0], []byte(*f), &k.hits)
		switch {
		case isNull:
			*f, changed = "[REDACTED]", true
		case ch:
			*f, changed = string(out), true
		}
		k.mval = out[:0]
	}
	return changed
}

// keyDetail redacts the values of "Key (a, b)=(x, y) ..." and "Failing
// row contains (...)" when a column rule covers a column of the table.
func (k *masker) keyDetail(schema, table string, f *string) bool {
	s := *f
	switch {
	case len(s) > 5 && s[:5] == "Key (":
		i := bytes.Index([]byte(s), []byte(")=("))
		if i < 0 {
			return false
		}
		covered := false
		for _, col := range bytes.Split([]byte(s[5:i]), []byte(", ")) {
			if _, ok := k.m.Column(schema, table, string(col)); ok {
				covered = true
			}
		}
		if !covered {
			return false
		}
		j := bytes.LastIndexByte([]byte(s), ')')
		if j <= i+2 {
			return false
		}
		*f = s[:i+3] + "[REDACTED]" + s[j:]
		return true
	case bytes.HasPrefix([]byte(s), []byte("Failing row contains (")):
		if !k.m.TableHasColumns(schema, table) {
			return false
		}
		*f = "Failing row contains ([REDACTED])."
		return true
	}
	return false
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// maxBinaryDepth bounds how deep scanBinary follows nested arrays and
// records.
const maxBinaryDepth = 8

// scanBinary reports whether a detector finds something in a binary value
// of type typ: text-like values as they are, int8, numeric and floats as
// decimal text, arrays and records element by element, other types by
// their raw bytes. A value it cannot read counts as found (fail closed).
func (k *masker) scanBinary(typ uint32, v []byte, depth int) bool {
	if depth > maxBinaryDepth {
		return true
	}
	found := func(text []byte) bool {
		_, changed, _ := k.m.Text(nil, text, &k.hits)
		return changed
	}
	var buf [64]byte
	switch {
	case skipType(typ):
		return false
	case typ == oidInt8:
		if len(v) != 8 {
			return true
		}
		return found(strconv.AppendInt(buf[:0], int64(binary.BigEndian.Uint64(v)), 10))
	case typ == oidNumeric:
		d, ok := appendNumeric(buf[:0], v)
		return !ok || found(d)
	case typ == oidFloat8 && len(v) == 8:
		return found(strconv.AppendFloat(buf[:0], math.Float64frombits(binary.BigEndian.Uint64(v)), 'f', -1, 64))
	case typ == oidFloat4 && len(v) == 4:
		return found(strconv.AppendFloat(buf[:0], float64(math.Float32frombits(binary.BigEndian.Uint32(v))), 'f', -1, 64))
	case typ == oidJSONB && len(v) > 0:
		return found(v[1:])
	case typ == oidInet || typ == oidCIDR:
		// Family, bits, is_cidr, length, then the address: the ipv4
		// detector looks for its text form.
		var a netip.Addr
		switch {
		case len(v) == 8 && v[3] == 4:
			a = netip.AddrFrom4([4]byte(v[4:]))
		case len(v) == 20 && v[3] == 16:
			a = netip.AddrFrom16([16]byte(v[4:]))
		default:
			return true
		}
		return found(a.AppendTo(buf[:0]))
	}
	if elems, ok := binaryArray(v); ok {
		for _, e := range elems.values {
			if e != nil && k.scanBinary(elems.elemType, e, depth+1) {
				return true
			}
		}
		return false
	}
	if fields, ok := binaryRecord(v); ok {
		for _, f := range fields {
			if f.value != nil && k.scanBinary(f.typ, f.value, depth+1) {
				return true
			}
		}
		return false
	}
	return found(v)
}

type arrayElems struct {
	elemType uint32
	values   [][]byte
}

// binaryArray splits an array in binary form, if v is one.
func binaryArray(v []byte) (arrayElems, bool) {
	var a arrayElems
	if len(v) < 12 {
		return a, false
	}
	ndim := int(int32(binary.BigEndian.Uint32(v)))
	flags := binary.BigEndian.Uint32(v[4:])
	a.elemType = binary.BigEndian.Uint32(v[8:])
	if ndim < 0 || ndim > 6 || flags > 1 || len(v) < 12+8*ndim {
		return a, false
	}
	n := 1
	p := v[12:]
	for range ndim {
		d := int(int32(binary.BigEndian.Uint32(p)))
		if d < 0 || d > len(v) {
			return a, false
		}
		n *= d
		if n > len(v) {
			return a, false
		}
		p = p[8:]
	}
	if ndim == 0 {
		n = 0
	}
	for range n {
		if len(p) < 4 {
			return a, false
		}
		l := int(int32(binary.BigEndian.Uint32(p)))
		p = p[4:]
		if l < 0 {
			a.values = append(a.values, nil)
			continue
		}
		if l > len(p) {
			return a, false
		}
		a.values = append(a.values, p[:l:l])
		p = p[l:]
	}
	return a, len(p) == 0
}

type recordField struct {
	typ   uint32
	value []byte
}

// binaryRecord splits a record (composite) in binary form, if v is one.
func binaryRecord(v []byte) ([]recordField, bool) {
	if len(v) < 4 {
		return nil, false
	}
	n := int(int32(binary.BigEndian.Uint32(v)))
	if n < 0 || n > len(v)/8 {
		return nil, false
	}
	p := v[4:]
	var out []recordField
	for range n {
		if len(p) < 8 {
			return nil, false
		}
		f := recordField{typ: binary.BigEndian.Uint32(p)}
		l := int(int32(binary.BigEndian.Uint32(p[4:])))
		p = p[8:]
		if l >= 0 {
			if l > len(p) {
				return nil, false
			}
			f.value = p[:l:l]
			p = p[l:]
		}
		out = append(out, f)
	}
	return out, len(p) == 0
}

// decodeByteaEscape decodes bytea's escape output format.
func decodeByteaEscape(dst, v []byte) ([]byte, bool) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		switch {
		case i+1 < len(v) && v[i+1] == '\\':
			dst = append(dst, '\\')
			i++
		case i+3 < len(v) && isOctal(v[i+1]) && isOctal(v[i+2]) && isOctal(v[i+3]):
			dst = append(dst, (v[i+1]-'0')<<6|(v[i+2]-'0')<<3|(v[i+3]-'0'))
			i += 3
		default:
			return dst, false
		}
	}
	return dst, true
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// encodeByteaEscape appends v in bytea's escape output format.
func encodeByteaEscape(dst, v []byte) []byte {
	for _, c := range v {
		switch {
		case c == '\\':
			dst = append(dst, '\\', '\\')
		case c < 0x20 || c > 0x7e:
			dst = append(dst, '\\', '0'+c>>6, '0'+c>>3&7, '0'+c&7)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
