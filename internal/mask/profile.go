package mask

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
)

// Profile is one named masking profile from the config. A policy attaches a
// list of profile names; Compile combines them into one Masker.
type Profile struct {
	// Columns are column rules, tried in order; the first match wins.
	Columns []ColumnRule `yaml:"columns" json:"columns,omitempty"`
	// Detect names the built-in detectors to run on every text value.
	Detect []string `yaml:"detect" json:"detect,omitempty"`
	// Custom are user-defined detectors; they run on every text value.
	Custom []Custom `yaml:"custom" json:"custom,omitempty"`
	// With is the transform for the profile's detectors; "" means redact.
	With string `yaml:"with" json:"with,omitempty"`
}

// ColumnRule masks every value of the result columns whose name matches.
type ColumnRule struct {
	// Match is column, table.column or schema.table.column; each segment is
	// a name that may contain '*' (any run of characters, also none).
	// Matching ignores ASCII case.
	Match string `yaml:"match" json:"match,omitempty"`
	// With is the transform for the whole value; "" means redact.
	With string `yaml:"with" json:"with,omitempty"`
}

// Custom is a user-defined detector: every match of Regex (Go RE2 syntax)
// in a text value is masked.
type Custom struct {
	// Name labels the detector in redactions and hit counts: [a-z0-9_]+,
	// not the name of a built-in detector.
	Name  string `yaml:"name" json:"name,omitempty"`
	Regex string `yaml:"regex" json:"regex,omitempty"`
	// With is the transform; "" means the profile's With.
	With string `yaml:"with" json:"with,omitempty"`
}

var (
	// ErrUnknownProfile is returned by Compile for a name that is not in
	// the profiles map.
	ErrUnknownProfile = errors.New("unknown masking profile")
	// ErrHashKey is returned by Compile when a hash transform is configured
	// and the key is shorter than MinKeyLen.
	ErrHashKey = fmt.Errorf("the hash transform needs a key of at least %d bytes", MinKeyLen)
)

// MinKeyLen is the shortest key Compile accepts for the hash transform.
const MinKeyLen = 16

// FieldError is a problem with one field of a profile. Field is the path as
// the user wrote it, for example "masking.pii.columns[1].with".
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Validate checks one profile as it appears under masking.<name> in the
// config. Compile validates the profiles it combines; Validate lets a config
// loader check profiles that no policy uses yet.
func Validate(name string, p Profile) error {
	_, err := compileProfile(name, p)
	return err
}

// Compile validates the profiles listed in names and combines them, in that
// order, into one Masker. Names listed twice count once; an empty list gives
// a Masker that masks nothing. key is the HMAC key for the hash transform:
// the caller keeps it secret (Compile keeps a copy and never puts it in an
// error) and uses the same key everywhere tokens must agree.
//
// Column rules keep their order, profile after profile. A built-in detector
// named by several profiles takes the transform of the first. Custom
// detectors with the same name and regex count once; with the same name and
// different regexes both run and share one hit count.
func Compile(profiles map[string]Profile, names []string, key []byte) (*Masker, error) {
	m := &Masker{}
	for d := range detector(numDetectors) {
		m.slots = append(m.slots, slot{name: detectorNames[d]})
	}
	customSlot := map[string]int{}
	columnSlot := map[string]int{}
	hashField := ""
	done := map[string]bool{}
	for _, name := range names {
		if done[name] {
			continue
		}
		done[name] = true
		p, ok := profiles[name]
		if !ok {
			return nil, &FieldError{Field: "masking." + name, Err: ErrUnknownProfile}
		}
		cp, err := compileProfile(name, p)
		if err != nil {
			return nil, err
		}
		if hashField == "" {
			hashField = cp.hashField
		}
		for _, c := range cp.cols {
			k := strings.ToLower(c.pattern)
			s, ok := columnSlot[k]
			if !ok {
				s = len(m.slots)
				columnSlot[k] = s
				m.slots = append(m.slots, slot{name: c.pattern, column: true})
			}
			c.slot = s
			m.cols = append(m.cols, c)
		}
		for _, d := range cp.detect {
			if !m.det[d].on {
				m.det[d] = detRule{on: true, t: cp.with}
				m.units |= 1 << unitOf[d]
				switch d {
				case detCard, detPhone, detSSN, detIPv4:
					m.numOn = true
				case detIBAN, detAWS:
					m.upperOn = true
				}
			}
		}
	custom:
		for _, c := range cp.custom {
			for _, o := range m.customs {
				if o.name == c.name && o.re.String() == c.re.String() {
					continue custom
				}
			}
			s, ok := customSlot[c.name]
			if !ok {
				s = len(m.slots)
				customSlot[c.name] = s
				m.slots = append(m.slots, slot{name: c.name})
			}
			c.slot = s
			m.customs = append(m.customs, c)
			m.units |= 1 << uCustom
		}
	}
	if hashField != "" {
		if len(key) < MinKeyLen {
			return nil, &FieldError{Field: hashField, Err: ErrHashKey}
		}
		k := bytes.Clone(key)
		m.hashers = &sync.Pool{New: func() any { return newHasher(k) }}
	}
	return m, nil
}

// compiled is one validated profile.
type compiled struct {
	cols      []colRule
	detect    []detector
	custom    []*customRule
	with      transform
	hashField string // the first field that asks for hash, "" if none
}

func compileProfile(name string, p Profile) (*compiled, error) {
	f := "masking." + name
	if !validName(name, true) {
		return nil, fieldErr("masking", "invalid profile name %q: use letters, digits, '_' and '-'", name)
	}
	if len(p.Columns) == 0 && len(p.Detect) == 0 && len(p.Custom) == 0 {
		return nil, fieldErr(f, "profile masks nothing: set columns, detect or custom")
	}
	cp := &compiled{}
	useT := func(field, s string, def transform) (transform, error) {
		t, err := parseTransform(s, def)
		if err != nil {
			return 0, &FieldError{Field: field, Err: err}
		}
		if t == tHash && cp.hashField == "" {
			cp.hashField = field
		}
		return t, nil
	}
	var err error
	// The profile's With only matters to detectors; record its field for
	// the key check only when some detector uses it.
	if cp.with, err = parseTransform(p.With, tRedact); err != nil {
		return nil, &FieldError{Field: f + ".with", Err: err}
	}
	for i, c := range p.Columns {
		cf := fmt.Sprintf("%s.columns[%d]", f, i)
		r, err := parsePattern(c.Match)
		if err != nil {
			return nil, &FieldError{Field: cf + ".match", Err: err}
		}
		if r.t, err = useT(cf+".with", c.With, tRedact); err != nil {
			return nil, err
		}
		cp.cols = append(cp.cols, r)
	}
	for i, s := range p.Detect {
		df := fmt.Sprintf("%s.detect[%d]", f, i)
		d, ok := lookupDetector(s)
		if !ok {
			return nil, fieldErr(df, "unknown detector %q (known: %s)", s, strings.Join(detectorNames[:], ", "))
		}
		for _, o := range cp.detect {
			if o == d {
				return nil, fieldErr(df, "detector %q is listed twice", s)
			}
		}
		cp.detect = append(cp.detect, d)
		if cp.with == tHash && cp.hashField == "" {
			cp.hashField = f + ".with"
		}
	}
	for i, c := range p.Custom {
		cf := fmt.Sprintf("%s.custom[%d]", f, i)
		if !validName(c.Name, false) {
			return nil, fieldErr(cf+".name", "invalid detector name %q: use [a-z0-9_]+", c.Name)
		}
		if _, ok := lookupDetector(c.Name); ok {
			return nil, fieldErr(cf+".name", "%q is the name of a built-in detector", c.Name)
		}
		for _, o := range cp.custom {
			if o.name == c.Name {
				return nil, fieldErr(cf+".name", "detector %q is defined twice", c.Name)
			}
		}
		r, err := compileCustom(c.Regex)
		if err != nil {
			return nil, &FieldError{Field: cf + ".regex", Err: err}
		}
		r.name = c.Name
		if c.With == "" && cp.with == tHash && cp.hashField == "" {
			cp.hashField = f + ".with"
		}
		if r.t, err = useT(cf+".with", c.With, cp.with); err != nil {
			return nil, err
		}
		cp.custom = append(cp.custom, r)
	}
	return cp, nil
}

// validName reports whether s is a profile name ([A-Za-z0-9_-]+) or, with
// profile false, a custom detector name ([a-z0-9_]+).
func validName(s string, profile bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
		case profile && (c >= 'A' && c <= 'Z' || c == '-'):
		default:
			return false
		}
	}
	return true
}

type transform uint8

const (
	tRedact transform = iota
	tPartial
	tHash
	tNull
)

func parseTransform(s string, def transform) (transform, error) {
	switch s {
	case "":
		return def, nil
	case "redact":
		return tRedact, nil
	case "partial":
		return tPartial, nil
	case "hash":
		return tHash, nil
	case "null":
		return tNull, nil
	}
	return 0, fmt.Errorf("unknown transform %q (known: redact, partial, hash, null)", s)
}

// customRule is a compiled Custom.
type customRule struct {
	name string
	re   *regexp.Regexp
	lit  []byte // a literal that every match contains; nil if none is known
	t    transform
	slot int
}

func compileCustom(expr string) (*customRule, error) {
	if expr == "" {
		return nil, errors.New("empty regex")
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	if re.MatchString("") {
		return nil, fmt.Errorf("regex %q matches the empty string", expr)
	}
	r := &customRule{re: re}
	if tree, err := syntax.Parse(expr, syntax.Perl); err == nil {
		if lit := requiredLiteral(tree.Simplify()); lit != "" {
			r.lit = []byte(lit)
		}
	}
	return r, nil
}

// requiredLiteral returns the longest case-sensitive literal that every
// match of re contains, or "" if it finds none. It is a prefilter: a value
// without the literal cannot match, so the regexp never runs on it.
func requiredLiteral(re *syntax.Regexp) string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return ""
		}
		return string(re.Rune)
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiteral(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiteral(re.Sub[0])
		}
	case syntax.OpConcat:
		best := ""
		for _, s := range re.Sub {
			if l := requiredLiteral(s); len(l) > len(best) {
				best = l
			}
		}
		return best
	}
	return ""
}
