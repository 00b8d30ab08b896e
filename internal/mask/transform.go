package mask

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"unicode/utf8"
)

// apply appends the transform of the match s, found by detector id, to dst.
// tNull never gets here: it replaces the whole value.
func (m *Masker) apply(dst, s []byte, id int, t transform) []byte {
	switch t {
	case tPartial:
		switch detector(id) {
		case detEmail:
			return partialEmail(dst, s)
		case detJWT, detPEM:
			// The last four characters of a token or key tell a reader
			// nothing, and the rest would be a wall of stars.
		default:
			return partial(dst, s)
		}
	case tHash:
		return m.hash(dst, s, normOf(id))
	}
	dst = append(dst, "[REDACTED:"...)
	if id < int(numDetectors) {
		dst = append(dst, detectorNames[id]...)
	} else {
		dst = append(dst, m.customs[id-int(numDetectors)].name...)
	}
	return append(dst, ']')
}

// partial appends s with every letter, digit and non-ASCII character
// replaced by '*' except the last four of them; ASCII punctuation and spaces
// stay, so "4242 4242 4242 4242" becomes "**** **** **** 4242". Values with
// fewer than eight such characters are masked entirely, since four would
// give most of them away.
func partial(dst, s []byte) []byte {
	total := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if isAlnum(c) {
				total++
			}
			i++
			continue
		}
		_, w := utf8.DecodeRune(s[i:])
		total++
		i += w
	}
	keepFrom := total
	if total >= 8 {
		keepFrom = total - 4
	}
	k := 0
	for i := 0; i < len(s); {
		c := s[i]
		w := 1
		if c >= utf8.RuneSelf {
			_, w = utf8.DecodeRune(s[i:])
		} else if !isAlnum(c) {
			dst = append(dst, c)
			i++
			continue
		}
		if k >= keepFrom {
			dst = append(dst, s[i:i+w]...)
		} else {
			dst = append(dst, '*')
		}
		k++
		i += w
	}
	return dst
}

// partialEmail appends the first character of the local part, "***" and
// the domain: "a***@example.com".
func partialEmail(dst, s []byte) []byte {
	at := bytes.LastIndexByte(s, '@')
	if at <= 0 {
		return partial(dst, s)
	}
	dst = append(dst, s[0])
	dst = append(dst, "***"...)
	return append(dst, s[at:]...)
}

// norm says what the hash transform hashes, so that different spellings of
// one value give one token.
type norm uint8

const (
	normNone  norm = iota // the bytes as they are
	normAlnum             // letters and digits only: cards, SSNs, IBANs
	normPhone             // digits only, a bare 10-digit NANP number with a leading 1
	normLower             // ASCII lower case: email addresses
)

func normOf(id int) norm {
	switch detector(id) {
	case detCard, detSSN, detIBAN:
		return normAlnum
	case detPhone:
		return normPhone
	case detEmail:
		return normLower
	}
	return normNone
}

// hasher is a reusable HMAC-SHA256 with a small buffer, pooled by Masker so
// that hashing does not allocate.
type hasher struct {
	mac hash.Hash
	buf [64]byte
	n   int
	sum [sha256.Size]byte
}

func newHasher(key []byte) *hasher { return &hasher{mac: hmac.New(sha256.New, key)} }

func (h *hasher) writeByte(c byte) {
	h.buf[h.n] = c
	h.n++
	if h.n == len(h.buf) {
		h.mac.Write(h.buf[:])
		h.n = 0
	}
}

// hash appends "[HASH:" + the first 8 bytes of HMAC-SHA256(key, s') in
// lower-case hex + "]", where s' is s normalized by n.
func (m *Masker) hash(dst, s []byte, n norm) []byte {
	h := m.hashers.Get().(*hasher)
	h.mac.Reset()
	h.n = 0
	switch n {
	case normNone:
		h.mac.Write(s)
	case normLower:
		for _, c := range s {
			h.writeByte(lower(c))
		}
	case normAlnum, normPhone:
		nd := 0
		for _, c := range s {
			if isAlnum(c) {
				nd++
			}
		}
		if n == normPhone && nd == 10 && s[0] != '+' {
			h.writeByte('1')
		}
		for _, c := range s {
			if isAlnum(c) {
				h.writeByte(c)
			}
		}
	}
	if h.n > 0 {
		h.mac.Write(h.buf[:h.n])
	}
	sum := h.mac.Sum(h.sum[:0])
	dst = append(dst, "[HASH:"...)
	dst = hex.AppendEncode(dst, sum[:8])
	dst = append(dst, ']')
	m.hashers.Put(h)
	return dst
}
