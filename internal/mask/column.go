package mask

import (
	"errors"
	"fmt"
	"strings"
)

// ColumnMatch is the column rule that applies to one result column; pass it
// to Value for each of the column's values. The zero value redacts.
type ColumnMatch struct {
	rule int32 // index into Masker.cols, plus one
}

// colRule is a compiled ColumnRule.
type colRule struct {
	pattern string    // as written, for hit counts
	segs    [3]string // column, table, schema; only the first n are set
	n       int
	t       transform
	slot    int
}

// Column returns the first column rule that matches the column, and whether
// there is one. schema and table may be empty when the result column has no
// source table (an expression); a literal segment never matches an empty
// name and '*' matches any, so "*.email" also covers a computed column
// named email. Callers resolve the column once per result and keep the
// answer.
func (m *Masker) Column(schema, table, column string) (ColumnMatch, bool) {
	if m == nil {
		return ColumnMatch{}, false
	}
	names := [3]string{column, table, schema}
	for i := range m.cols {
		r := &m.cols[i]
		ok := true
		for k := 0; k < r.n && ok; k++ {
			ok = glob(r.segs[k], names[k])
		}
		if ok {
			return ColumnMatch{rule: int32(i + 1)}, true
		}
	}
	return ColumnMatch{}, false
}

// HasColumns reports whether m has column rules, so that callers can skip
// naming result columns when it has none.
func (m *Masker) HasColumns() bool {
	return m != nil && len(m.cols) > 0
}

// TableHasColumns reports whether a column rule may cover some column of
// the table: one whose table and schema parts match it.
func (m *Masker) TableHasColumns(schema, table string) bool {
	if m == nil {
		return false
	}
	names := [3]string{"", table, schema}
	for i := range m.cols {
		r := &m.cols[i]
		ok := true
		for k := 1; k < r.n && ok; k++ {
			ok = glob(r.segs[k], names[k])
		}
		if ok {
			return true
		}
	}
	return false
}

func parsePattern(p string) (colRule, error) {
	r := colRule{pattern: p}
	if p == "" {
		return r, errors.New("empty column pattern")
	}
	parts := strings.Split(p, ".")
	if len(parts) > 3 {
		return r, fmt.Errorf("column pattern %q has more than three parts (schema.table.column)", p)
	}
	for i, s := range parts {
		if s == "" {
			return r, fmt.Errorf("column pattern %q has an empty part", p)
		}
		for j := 0; j < len(s); j++ {
			c := s[j]
			if c < 0x80 && c != '*' && c != '_' && c != '$' && byteClass[c]&cAlnum == 0 {
				return r, fmt.Errorf("column pattern %q: unexpected %q (names are letters, digits, '_', '$' and '*')", p, c)
			}
		}
		r.segs[len(parts)-1-i] = s
	}
	r.n = len(parts)
	return r, nil
}

// glob reports whether name matches pattern, where '*' stands for any run
// of bytes, ignoring ASCII case. It backtracks only to the last '*', so it
// runs in O(len(pattern) * len(name)) at worst and does not allocate.
func glob(pattern, name string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && lower(pattern[p]) == lower(name[n]):
			p++
			n++
		case star >= 0:
			mark++
			p, n = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
