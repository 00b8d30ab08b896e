package recording

import "encoding/json"

// maxFastDepth is how deeply validJSON nests objects and arrays itself;
// deeper values are left to encoding/json, which allows up to 10000.
const maxFastDepth = 64

// validJSON reports whether b is one valid JSON value, exactly as
// json.Valid does (which, like it, does not check the UTF-8 inside
// strings), several times faster: event data is validated on every append
// and every read.
func validJSON(b []byte) bool {
	switch i := skipValue(b, skipSpace(b, 0)); i {
	case tooDeep:
		return json.Valid(b)
	case -1:
		return false
	default:
		return skipSpace(b, i) == len(b)
	}
}

// tooDeep is what skipValue returns for a value nested more deeply than it
// follows.
const tooDeep = -2

// skipValue returns the index after the JSON value that starts at b[i]
// (without space before it), or -1 if there is none, or tooDeep if the
// value nests objects and arrays more than maxFastDepth levels deep.
func skipValue(b []byte, i int) int {
	var (
		objects uint64 // bit d is set when nesting level d is an object
		depth   int
	)
	for {
		// A value starts at i.
		if i >= len(b) {
			return -1
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == maxFastDepth {
				return tooDeep
			}
			closing := byte(']')
			if c == '{' {
				objects |= 1 << depth
				closing = '}'
			} else {
				objects &^= 1 << depth
			}
			depth++
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == closing {
				depth--
				i++
				break
			}
			if c == '{' {
				if i = skipKey(b, i); i < 0 {
					return -1
				}
			}
			continue
		case c == '"':
			i = skipString(b, i)
		case c == '-' || c >= '0' && c <= '9':
			i = skipNumber(b, i)
		case c == 't':
			i = skipLiteral(b, i, "true")
		case c == 'f':
			i = skipLiteral(b, i, "false")
		case c == 'n':
			i = skipLiteral(b, i, "null")
		default:
			return -1
		}
		if i < 0 {
			return -1
		}
		// A value ended at i: close containers until one goes on.
		for {
			if depth == 0 {
				return i
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return -1
			}
			object := objects&(1<<(depth-1)) != 0
			if b[i] == ',' {
				i = skipSpace(b, i+1)
				if object {
					if i = skipKey(b, i); i < 0 {
						return -1
					}
				}
				break
			}
			if object && b[i] != '}' || !object && b[i] != ']' {
				return -1
			}
			depth--
			i++
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipKey skips an object key, the colon after it and the space around
// that, and returns the index of the value, or -1.
func skipKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = skipString(b, i); i < 0 {
		return -1
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipSpace(b, i+1)
}

// stringStop marks the bytes that end the plain run of a JSON string's
// contents: the quote, the backslash and the control characters.
var stringStop = [256]bool{'"': true, '\\': true,
	0x00: true, 0x01: true, 0x02: true, 0x03: true, 0x04: true, 0x05: true, 0x06: true, 0x07: true,
	0x08: true, 0x09: true, 0x0a: true, 0x0b: true, 0x0c: true, 0x0d: true, 0x0e: true, 0x0f: true,
	0x10: true, 0x11: true, 0x12: true, 0x13: true, 0x14: true, 0x15: true, 0x16: true, 0x17: true,
	0x18: true, 0x19: true, 0x1a: true, 0x1b: true, 0x1c: true, 0x1d: true, 0x1e: true, 0x1f: true,
}

// skipString returns the index after the JSON string starting at b[i], or
// -1 if it is not one.
func skipString(b []byte, i int) int {
	for i++; i < len(b); {
		if !stringStop[b[i]] {
			i++
			continue
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return -1
				}
				for _, h := range b[i+2 : i+6] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return -1
					}
				}
				i += 6
			default:
				return -1
			}
		default:
			return -1 // a control character
		}
	}
	return -1
}

// skipNumber returns the index after the JSON number starting at b[i], or
// -1 if it is not one.
func skipNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

func skipLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}
