package mask

import (
	"bytes"
	"encoding/base64"
	"math"
)

// detector is a built-in detector. The order is the tie-break when two
// detectors match the same span.
type detector uint8

const (
	detCard detector = iota
	detEmail
	detPhone
	detSSN
	detIBAN
	detIPv4
	detJWT
	detAWS
	detPEM
	numDetectors
)

var detectorNames = [numDetectors]string{
	"credit_card", "email", "phone", "us_ssn", "iban", "ipv4", "jwt", "aws_key", "private_key",
}

func lookupDetector(s string) (detector, bool) {
	for d, n := range detectorNames {
		if n == s {
			return detector(d), true
		}
	}
	return 0, false
}

// unit is a group of detectors found by one scan of the value: cards,
// phones, SSNs, IPv4 addresses, IBANs and AWS keys share a pass over the
// words of the value; the others look for their own marker byte or string.
type unit uint8

const (
	uWord unit = iota
	uEmail
	uJWT
	uPEM
	uCustom
	numUnits
)

var unitOf = [numDetectors]unit{
	detCard: uWord, detEmail: uEmail, detPhone: uWord, detSSN: uWord, detIBAN: uWord,
	detIPv4: uWord, detJWT: uJWT, detAWS: uWord, detPEM: uPEM,
}

// Byte classes.
const (
	cDigit = 1 << iota
	cUpper
	cLower
	cWordStart // may start a card, SSN, phone, IPv4, IBAN or AWS key
	cLocal     // may appear in the local part of an email address
	cB64       // base64url alphabet

	cAlnum = cDigit | cUpper | cLower
)

var byteClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] |= cDigit | cWordStart | cLocal | cB64
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] |= cUpper | cWordStart | cLocal | cB64
		t[c+'a'-'A'] |= cLower | cLocal | cB64
	}
	t['+'] |= cWordStart | cLocal
	t['('] |= cWordStart
	for _, c := range "._%-" {
		t[c] |= cLocal
	}
	t['-'] |= cB64
	t['_'] |= cB64
	return t
}()

func isDigit(c byte) bool { return c-'0' < 10 }

func isAlnum(c byte) bool { return byteClass[c]&cAlnum != 0 }

// alnumAt reports whether v[i] exists and is an ASCII letter or digit.
func alnumAt(v []byte, i int) bool { return i >= 0 && i < len(v) && byteClass[v[i]]&cAlnum != 0 }

// digitAt reports whether v[i] exists and is an ASCII digit.
func digitAt(v []byte, i int) bool { return i >= 0 && i < len(v) && isDigit(v[i]) }

const noMatch = math.MaxInt

// span is a match: v[start:end] found by detector id (a detector, or
// numDetectors plus the index of a custom rule).
type span struct {
	start, end int
	id         int
}

// better reports whether s beats t: leftmost first, then longest, then the
// lower detector id.
func (s span) better(t span) bool {
	if s.start != t.start {
		return s.start < t.start
	}
	if s.end != t.end {
		return s.end > t.end
	}
	return s.id < t.id
}

// scanner holds the state of one Text call.
type scanner struct {
	m *Masker
	v []byte

	customDone bool
	customHits [][][]int // per custom rule, its matches; nil if none matched
	customNext []int
}

// next returns unit u's leftmost match that starts in [from, limit), or a
// span with start noMatch. Bytes before from belong to a match already
// masked: detectors treat them as absent, the way they will see the
// replacement ("…]") if the output is scanned again, so that masking is
// idempotent. The email, PEM and custom units ignore limit.
func (s *scanner) next(u unit, from, limit int) span {
	limit = min(limit, len(s.v))
	switch u {
	case uWord:
		return s.nextWord(from, limit)
	case uEmail:
		return s.nextEmail(from)
	case uJWT:
		return s.nextJWT(from, limit)
	case uPEM:
		return s.nextPEM(from)
	case uCustom:
		return s.nextCustom(from)
	}
	return span{start: noMatch}
}

// at offsets a span found in v[from:] back to v.
func (sp span) at(from int) span {
	if sp.start != noMatch {
		sp.start += from
		sp.end += from
	}
	return sp
}

// nextEmail finds local@domain.tld: the local part is the run of
// [A-Za-z0-9._%+-] that ends at the '@' (leading dots dropped; an over-long
// one is masked whole rather than cut to leave a tail that looks like a
// number), the domain two or more labels of [A-Za-z0-9-] (not starting or
// ending with '-') whose last label is two or more letters. user@localhost
// has no dot and is not matched.
func (s *scanner) nextEmail(from int) span {
	v := s.v
	for at := from; at < len(v); {
		j := bytes.IndexByte(v[at:], '@')
		if j < 0 {
			break
		}
		a := at + j
		at = a + 1
		start := a
		for start > from && byteClass[v[start-1]]&cLocal != 0 {
			start--
		}
		for start < a && v[start] == '.' {
			start++
		}
		if start == a {
			continue
		}
		if end, ok := domainAt(v, a+1); ok {
			return span{start: start, end: end, id: int(detEmail)}
		}
	}
	return span{start: noMatch}
}

// emailAt reports where an email address that starts at v[i] ends.
func emailAt(v []byte, i int) (int, bool) {
	a := i
	for a < len(v) && byteClass[v[a]]&cLocal != 0 {
		a++
	}
	if a == i || a >= len(v) || v[a] != '@' || v[i] == '.' {
		return 0, false
	}
	return domainAt(v, a+1)
}

// domainAt parses the domain of an email address that starts at v[i] and
// returns where it ends: after the last label that is a valid top-level
// domain.
func domainAt(v []byte, i int) (int, bool) {
	end, labels := -1, 0
	for start := i; i < len(v) && i-start < 254; {
		ls := i
		letters := true
		for i < len(v) && (isAlnum(v[i]) || v[i] == '-') {
			letters = letters && byteClass[v[i]]&(cUpper|cLower) != 0
			i++
		}
		if i == ls || i-ls > 63 || v[ls] == '-' || v[i-1] == '-' {
			break
		}
		labels++
		if labels >= 2 && letters && i-ls >= 2 {
			end = i
		}
		if i+1 < len(v) && v[i] == '.' && isAlnum(v[i+1]) {
			i++
			continue
		}
		break
	}
	return end, end >= 0
}

// nextJWT finds header.payload.signature where the header is base64url that
// decodes to a JSON object ("eyJ" is the encoding of `{"`); the signature may
// be empty (an unsecured token).
func (s *scanner) nextJWT(from, limit int) span {
	v := s.v[from:]
	limit -= from
	// 'J' is much rarer than 'e' in text, so look for it first; a token
	// that starts before limit has its 'J' before limit+2.
	hay := v[:min(len(v), limit+2)]
	for at := 2; at < len(hay); {
		j := bytes.IndexByte(hay[at:], 'J')
		if j < 0 {
			break
		}
		i := at + j - 2
		at += j + 1
		if v[i] != 'e' || v[i+1] != 'y' {
			continue
		}
		if i > 0 && (byteClass[v[i-1]]&cB64 != 0 || v[i-1] == '.') {
			continue
		}
		h := b64Run(v, i)
		if h-i < 8 || h >= len(v) || v[h] != '.' {
			continue
		}
		p := b64Run(v, h+1)
		if p-h-1 < 2 || p >= len(v) || v[p] != '.' {
			continue
		}
		if !jsonHeader(v[i:h]) {
			continue
		}
		return span{start: i, end: b64Run(v, p+1), id: int(detJWT)}.at(from)
	}
	return span{start: noMatch}
}

func b64Run(v []byte, i int) int {
	for i < len(v) && byteClass[v[i]]&cB64 != 0 {
		i++
	}
	return i
}

// jsonHeader reports whether seg, base64url without padding, decodes to
// something that looks like a JSON object. Long headers are taken on trust:
// the "eyJ" prefix already says `{"`.
func jsonHeader(seg []byte) bool {
	var buf [384]byte
	if base64.RawURLEncoding.DecodedLen(len(seg)) > len(buf) {
		return true
	}
	n, err := base64.RawURLEncoding.Decode(buf[:], seg)
	if err != nil {
		return false
	}
	h := bytes.TrimRight(buf[:n], " \t\r\n")
	return len(h) >= 2 && h[0] == '{' && h[len(h)-1] == '}'
}

// nextPEM finds a PEM block whose label contains "PRIVATE KEY" (RSA, EC,
// DSA, OPENSSH, ENCRYPTED, PKCS#8, PGP ... BLOCK), through its END line or,
// without one, to the end of the value.
func (s *scanner) nextPEM(from int) span {
	v := s.v
	const begin = "-----BEGIN "
	for at := from; at < len(v); {
		j := bytes.Index(v[at:], []byte(begin))
		if j < 0 {
			break
		}
		i := at + j
		at = i + 1
		ls := i + len(begin)
		le := ls
		for le < len(v) && le-ls < 64 && v[le] != '\n' && v[le] != '-' {
			le++
		}
		if !bytes.HasPrefix(v[le:], []byte("-----")) || !bytes.Contains(v[ls:le], []byte("PRIVATE KEY")) {
			continue
		}
		body := le + 5
		end := len(v)
		for k := body; k < len(v); {
			e := bytes.Index(v[k:], []byte("-----END "))
			if e < 0 {
				break
			}
			e += k
			k = e + 1
			rest := v[e+len("-----END "):]
			if bytes.HasPrefix(rest, v[ls:le]) && bytes.HasPrefix(rest[le-ls:], []byte("-----")) {
				end = e + len("-----END ") + (le - ls) + 5
				break
			}
		}
		return span{start: i, end: end, id: int(detPEM)}
	}
	return span{start: noMatch}
}

// awsKeyAt matches an AWS access key ID at v[i]: a four-letter prefix and 16
// characters of [A-Z2-7], not inside a longer word.
func awsKeyAt(v []byte, i int) int {
	end := i + 20
	if end > len(v) {
		return -1
	}
	switch string(v[i : i+4]) {
	case "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA", "AROA", "ASCA":
	default:
		return -1
	}
	for _, c := range v[i+4 : end] {
		if c-'A' >= 26 && c-'2' >= 6 {
			return -1
		}
	}
	if alnumAt(v, end) {
		return -1
	}
	return end
}

// nextCustom returns the leftmost custom match at or after from. All
// matches are found on the first call, on the whole value, so that anchors
// and \b see the real context.
func (s *scanner) nextCustom(from int) span {
	cs := s.m.customs
	if !s.customDone {
		s.customDone = true
		for k, c := range cs {
			if c.lit != nil && !bytes.Contains(s.v, c.lit) {
				continue
			}
			ms := c.re.FindAllIndex(s.v, -1)
			if ms == nil {
				continue
			}
			if s.customHits == nil {
				s.customHits = make([][][]int, len(cs))
				s.customNext = make([]int, len(cs))
			}
			s.customHits[k] = ms
		}
	}
	best := span{start: noMatch}
	for k, ms := range s.customHits {
		i := s.customNext[k]
		for i < len(ms) && (ms[i][0] < from || ms[i][0] == ms[i][1]) {
			i++
		}
		s.customNext[k] = i
		if i < len(ms) {
			if sp := (span{start: ms[i][0], end: ms[i][1], id: int(numDetectors) + k}); sp.better(best) {
				best = sp
			}
		}
	}
	return best
}
