package mask

import (
	"iter"
	"sync"
)

// Masker is a compiled set of masking profiles. It is immutable and safe
// for concurrent use; per-call state lives on the stack, in the caller's
// dst buffer and in the caller's Hits. A nil *Masker masks nothing.
type Masker struct {
	cols    []colRule
	det     [numDetectors]detRule
	customs []*customRule
	units   uint8 // bit per unit with at least one enabled detector
	numOn   bool  // card, phone, SSN or IPv4 is enabled
	upperOn bool  // IBAN or AWS key is enabled
	slots   []slot
	hashers *sync.Pool // of *hasher; nil when no rule hashes
}

type detRule struct {
	on bool
	t  transform
}

// slot names one hit counter: a detector (built-in or custom) or a column
// rule pattern.
type slot struct {
	name   string
	column bool
}

// Empty reports whether m masks nothing.
func (m *Masker) Empty() bool {
	return m == nil || len(m.cols) == 0 && m.units == 0
}

// HasDetectors reports whether Text can change anything; when it is false
// callers can skip Text for columns without a column rule.
func (m *Masker) HasDetectors() bool {
	return m != nil && m.units != 0
}

// Text masks every detector match in v. When something matched it appends
// the masked value to dst and returns changed true; otherwise it returns dst
// as it was and changed false, and the caller sends v as it is. isNull
// reports that a match had the null transform: the whole value must become
// SQL NULL, and nothing is appended. Text never modifies v. hits, if not
// nil, counts the matches per detector.
//
// With no match Text does not allocate; with matches it allocates only to
// grow dst, except for custom detectors, whose regexp matching allocates.
func (m *Masker) Text(dst, v []byte, hits *Hits) (out []byte, changed, isNull bool) {
	if m == nil || m.units == 0 {
		return dst, false, false
	}
	s := scanner{m: m, v: v}
	var pend [numUnits]span
	for u := range pend {
		pend[u].start = -1 // not computed yet
	}
	base := len(dst)
	out = dst
	from := 0
	for {
		best := span{start: noMatch}
		for u := range unit(numUnits) {
			if m.units&(1<<u) == 0 {
				continue
			}
			p := &pend[u]
			switch {
			case p.start < from+maxLookback:
				*p = s.next(u, from, len(v))
			case u == uWord || u == uJWT:
				// A match may now start right after the last one, whose
				// bytes no longer count as context.
				if q := s.next(u, from, from+maxLookback); q.start != noMatch {
					*p = q
				}
			}
			if p.better(best) {
				best = *p
			}
		}
		if best.start == noMatch {
			break
		}
		changed = true
		t, sl := m.rule(best.id)
		hits.add(m, sl)
		if t == tNull {
			return dst[:base], true, true
		}
		out = append(out, v[from:best.start]...)
		out = m.apply(out, v[best.start:best.end], best.id, t)
		from = best.end
	}
	if !changed {
		return dst, false, false
	}
	return append(out, v[from:]...), true, false
}

// maxLookback is how far before a candidate the word and jwt units look
// for context (attachedBefore reads the two bytes before a number).
const maxLookback = 2

// rule returns the transform and hit slot of detector id.
func (m *Masker) rule(id int) (transform, int) {
	if id < int(numDetectors) {
		return m.det[id].t, id
	}
	c := m.customs[id-int(numDetectors)]
	return c.t, c.slot
}

// Value applies a column rule's transform to the whole of v, appending the
// result to dst, or reports isNull for the null transform (nothing is
// appended). A zero ColumnMatch redacts. hits, if not nil, counts the rule.
func (m *Masker) Value(dst, v []byte, c ColumnMatch, hits *Hits) (out []byte, isNull bool) {
	t := tRedact
	if m != nil && c.rule > 0 && int(c.rule) <= len(m.cols) {
		r := &m.cols[c.rule-1]
		t = r.t
		hits.add(m, r.slot)
	}
	switch t {
	case tNull:
		return dst, true
	case tPartial:
		if end, ok := emailAt(v, 0); ok && end == len(v) {
			return partialEmail(dst, v), false
		}
		return partial(dst, v), false
	case tHash:
		return m.hash(dst, v, normNone), false
	}
	return append(dst, "[REDACTED]"...), false
}

// Hits counts how often each rule of one Masker fired, without keeping any
// value. The zero value is ready to use; the first hit allocates its
// counters, later ones do not. It is not safe for concurrent use (give each
// session its own). A Hits counts for the Masker it was first used with;
// using it with another Masker starts the counts over.
type Hits struct {
	m *Masker
	n []int
}

// Hit is one rule's count.
type Hit struct {
	// Rule is the detector name ("credit_card", a custom name) or, with
	// Column set, the column rule's pattern as written ("customers.ssn").
	Rule   string
	Column bool
	Count  int
}

func (h *Hits) add(m *Masker, slot int) {
	if h == nil {
		return
	}
	if h.m != m {
		h.m = m
		h.n = make([]int, len(m.slots))
	}
	h.n[slot]++
}

// All yields the rules that fired, detectors before column rules.
func (h *Hits) All() iter.Seq[Hit] {
	return func(yield func(Hit) bool) {
		if h == nil || h.m == nil {
			return
		}
		for _, column := range []bool{false, true} {
			for i, n := range h.n {
				s := h.m.slots[i]
				if n == 0 || s.column != column {
					continue
				}
				if !yield(Hit{Rule: s.name, Column: s.column, Count: n}) {
					return
				}
			}
		}
	}
}

// Total returns the number of masked values and matches counted.
func (h *Hits) Total() int {
	if h == nil {
		return 0
	}
	t := 0
	for _, n := range h.n {
		t += n
	}
	return t
}

// Reset sets all counts to zero.
func (h *Hits) Reset() {
	if h != nil {
		clear(h.n)
	}
}
