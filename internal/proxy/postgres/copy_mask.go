package postgres

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// CopySpec describes the rows of one COPY ... TO STDOUT in text or CSV
// format, for column rules: which table column each field holds and how
// fields are written.
type CopySpec struct {
	// Columns holds, for each field, the table columns it may come from:
	// one, or several when the table name was not qualified and several
	// schemas have such a table. A column rule that covers any of them
	// applies.
	Columns [][]ColumnName
	CSV     bool
	Delim   byte   // default '\t' (text) or ',' (CSV)
	Quote   byte   // CSV; default '"'
	Escape  byte   // CSV; default Quote
	Null    string // default `\N` (text) or "" (CSV)
	Header  bool   // CSV: the first row holds the column names
}

// copyPlan is a CopySpec with each column's action.
type copyPlan struct {
	spec    CopySpec
	cols    []colPlan
	started bool // the header, if any, went by
}

// planCopy makes the plan for a COPY TO whose CopyOutResponse announced
// ncols text columns. It returns nil when the COPY cannot be masked.
func (k *masker) planCopy(spec *CopySpec, ncols int) (*copyPlan, error) {
	if spec == nil {
		return nil, errors.New("no column names for the COPY")
	}
	if len(spec.Columns) != ncols {
		return nil, fmt.Errorf("COPY has %d columns, its table description %d", ncols, len(spec.Columns))
	}
	p := &copyPlan{spec: *spec}
	for _, cands := range spec.Columns {
		c := colPlan{kind: vkText}
		for _, cn := range cands {
			if m, ok := k.m.Column(cn.Schema, cn.Table, cn.Column); ok {
				c.act, c.match = actRule, m
				break
			}
		}
		if c.act == actNone && k.m.HasDetectors() {
			c.act = actDetect
		}
		p.cols = append(p.cols, c)
	}
	return p, nil
}

// maskCopyFields masks one CopyData row of a planned COPY TO field by
// field. It returns the row to send.
func (k *masker) maskCopyFields(p *copyPlan, row []byte) ([]byte, error) {
	if p.spec.Header && !p.started {
		// The header holds the column names, which come from the
		// statement's text (an alias may be a value): the detectors mask
		// it, as they do every line of a COPY without column rules.
		p.started = true
		out, ok := k.maskCopyRow(row)
		if !ok {
			return nil, errors.New("a null transform matched the COPY header")
		}
		return out, nil
	}
	p.started = true
	body, ok := bytes.CutSuffix(row, []byte("\n"))
	if !ok {
		return nil, errors.New("COPY row does not end with a newline")
	}
	out := k.mout[:0]
	rest := body
	for i := range p.cols {
		var field []byte
		var quoted bool
		var err error
		if p.spec.CSV {
			field, quoted, rest, err = cutCSVField(rest, p.spec.Delim, p.spec.Quote, p.spec.Escape)
			if err != nil {
				return nil, err
			}
		} else {
			j := bytes.IndexByte(rest, p.spec.Delim)
			if j < 0 {
				field, rest = rest, nil
			} else {
				field, rest = rest[:j], rest[j:]
			}
		}
		if i > 0 {
			out = append(out, p.spec.Delim)
		}
		switch {
		case i == len(p.cols)-1 && len(rest) != 0:
			return nil, errors.New("COPY row has more fields than columns")
		case i < len(p.cols)-1:
			if len(rest) == 0 || rest[0] != p.spec.Delim {
				return nil, errors.New("COPY row has fewer fields than columns")
			}
			rest = rest[1:]
		}
		out = k.copyField(out, &p.cols[i], &p.spec, field, quoted)
	}
	out = append(out, '\n')
	k.mout = out
	return out, nil
}

// copyField appends field, masked by c, in the COPY's own encoding.
func (k *masker) copyField(out []byte, c *colPlan, spec *CopySpec, field []byte, quoted bool) []byte {
	isNull := !quoted && string(field) == spec.Null
	raw := field
	if spec.CSV && quoted {
		raw = unquoteCSV(k.num[:0], field, spec.Quote, spec.Escape)
		k.num = raw
	} else if !spec.CSV && bytes.IndexByte(field, '\\') >= 0 {
		raw = unescapeCopyText(k.num[:0], field)
		k.num = raw
	}
	if isNull || c.act == actNone {
		return k.writeCopyField(out, spec, field, quoted, false)
	}
	var v []byte
	var null, changed bool
	if c.act == actRule {
		v, null = k.m.Value(k.hex[:0], raw, c.match, &k.hits)
		changed = true
	} else {
		v, changed, null = k.m.Text(k.hex[:0], raw, &k.hits)
	}
	k.hex = v
	switch {
	case null:
		return append(out, spec.Null...)
	case !changed:
		return k.writeCopyField(out, spec, field, quoted, false)
	}
	return k.writeCopyField(out, spec, v, false, true)
}

// writeCopyField appends a field: as it came (encoded is false), or the
// raw value v encoded for the COPY format.
func (k *masker) writeCopyField(out []byte, spec *CopySpec, v []byte, quoted, encode bool) []byte {
	if !encode {
		if quoted {
			return appendCSVQuoted(out, v, spec.Quote, spec.Quote)
		}
		return append(out, v...)
	}
	if spec.CSV {
		return appendCSVQuoted(out, v, spec.Quote, spec.Escape)
	}
	return appendCopyText(out, v, spec.Delim)
}

// cutCSVField splits the first field off a CSV row: its content (still
// quoted when quoted is set) and the rest, starting at the delimiter.
func cutCSVField(row []byte, delim, quote, escape byte) (field []byte, quoted bool, rest []byte, err error) {
	if len(row) == 0 || row[0] != quote {
		j := bytes.IndexByte(row, delim)
		if j < 0 {
			return row, false, nil, nil
		}
		return row[:j], false, row[j:], nil
	}
	for i := 1; i < len(row); i++ {
		switch c := row[i]; {
		case c == escape && escape != quote && i+1 < len(row):
			i++
		case c == quote && escape == quote && i+1 < len(row) && row[i+1] == quote:
			i++
		case c == quote:
			return row[1:i], true, row[i+1:], nil
		}
	}
	return nil, false, nil, errors.New("COPY row has an unterminated quoted field")
}

func unquoteCSV(dst, field []byte, quote, escape byte) []byte {
	for i := 0; i < len(field); i++ {
		if field[i] == escape && i+1 < len(field) && (field[i+1] == quote || field[i+1] == escape) {
			i++
		}
		dst = append(dst, field[i])
	}
	return dst
}

func appendCSVQuoted(out, v []byte, quote, escape byte) []byte {
	out = append(out, quote)
	for _, c := range v {
		if c == quote || c == escape {
			out = append(out, escape)
		}
		out = append(out, c)
	}
	return append(out, quote)
}

// unescapeCopyText decodes the backslash escapes of COPY's text format.
func unescapeCopyText(dst, field []byte) []byte {
	for i := 0; i < len(field); i++ {
		c := field[i]
		if c != '\\' || i+1 == len(field) {
			dst = append(dst, c)
			continue
		}
		i++
		switch e := field[i]; e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'v':
			dst = append(dst, '\v')
		default:
			dst = append(dst, e)
		}
	}
	return dst
}

// appendCopyText encodes v for COPY's text format.
func appendCopyText(out, v []byte, delim byte) []byte {
	for _, c := range v {
		switch {
		case c == '\\':
			out = append(out, '\\', '\\')
		case c == '\n':
			out = append(out, '\\', 'n')
		case c == '\r':
			out = append(out, '\\', 'r')
		case c == '\t':
			out = append(out, '\\', 't')
		case c == delim:
			out = append(out, '\\', c)
		default:
			out = append(out, c)
		}
	}
	return out
}

// copyColumns reads the column count of a CopyOutResponse body, and
// whether it is a text (not binary) COPY.
func copyColumns(body []byte) (n int, text bool, err error) {
	if len(body) < 3 {
		return 0, false, fmt.Errorf("%w: CopyOutResponse too short", errFrame)
	}
	n = int(binary.BigEndian.Uint16(body[1:]))
	if len(body) != 3+2*n {
		return 0, false, fmt.Errorf("%w: CopyOutResponse length", errFrame)
	}
	return n, body[0] == 0, nil
}
