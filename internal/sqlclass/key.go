package sqlclass

// literalKey returns sql with every numeric constant replaced by '?', the
// key under which Cache shares one classification among statements that
// differ only in numbers (as `WHERE aid = 48213` and `WHERE aid = 7`
// from a client that sends literals). Numbers never change a statement's
// kinds, tables or functions, nor whether it parses. Quoted strings,
// quoted identifiers, dollar-quoted bodies and comments are kept as they
// are. ok is false when the text has anything this small lexer does not
// follow with certainty (a backslash in a string, an unterminated quote or
// comment); the caller then keys by the exact text.
func literalKey(sql string, buf []byte) (key []byte, ok bool) {
	b := buf[:0]
	n := len(sql)
	for i := 0; i < n; {
		c := sql[i]
		switch {
		case c == '\'':
			j := i + 1
			for {
				if j >= n {
					return nil, false
				}
				if sql[j] == '\\' {
					return nil, false
				}
				if sql[j] == '\'' {
					if j+1 < n && sql[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			b = append(b, sql[i:j+1]...)
			i = j + 1
		case c == '"':
			j := i + 1
			for {
				if j >= n {
					return nil, false
				}
				if sql[j] == '"' {
					if j+1 < n && sql[j+1] == '"' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			b = append(b, sql[i:j+1]...)
			i = j + 1
		case c == '-' && i+1 < n && sql[i+1] == '-':
			j := i
			for j < n && sql[j] != '\n' {
				j++
			}
			b = append(b, sql[i:j]...)
			i = j
		case c == '/' && i+1 < n && sql[i+1] == '*':
			depth, j := 0, i
			for {
				if j+1 >= n {
					return nil, false
				}
				if sql[j] == '/' && sql[j+1] == '*' {
					depth++
					j += 2
					continue
				}
				if sql[j] == '*' && sql[j+1] == '/' {
					depth--
					j += 2
					if depth == 0 {
						break
					}
					continue
				}
				j++
			}
			b = append(b, sql[i:j]...)
			i = j
		case c == '$':
			// $n parameters and $tag$ ... $tag$ bodies.
			j := i + 1
			for j < n && identChar(sql[j]) {
				j++
			}
			if j < n && sql[j] == '$' && (j == i+1 || !isDigit(sql[i+1])) {
				tag := sql[i : j+1]
				end := indexFrom(sql, tag, j+1)
				if end < 0 {
					return nil, false
				}
				b = append(b, sql[i:end+len(tag)]...)
				i = end + len(tag)
				continue
			}
			b = append(b, sql[i:j]...)
			i = j
		case isDigit(c) || (c == '.' && i+1 < n && isDigit(sql[i+1])):
			if i > 0 && (identChar(sql[i-1]) || sql[i-1] == '.') {
				// Part of an identifier (t1) or a qualified name: not a number.
				j := i + 1 // at least this character: a '.' is no ident char
				for j < n && identChar(sql[j]) {
					j++
				}
				b = append(b, sql[i:j]...)
				i = j
				continue
			}
			j := i
			for j < n && isDigit(sql[j]) {
				j++
			}
			if j < n && sql[j] == '.' {
				j++
				for j < n && isDigit(sql[j]) {
					j++
				}
			}
			if j < n && (sql[j] == 'e' || sql[j] == 'E') {
				k := j + 1
				if k < n && (sql[k] == '+' || sql[k] == '-') {
					k++
				}
				if k < n && isDigit(sql[k]) {
					j = k
					for j < n && isDigit(sql[j]) {
						j++
					}
				}
			}
			if j < n && (identChar(sql[j]) || sql[j] == '.') {
				return nil, false // 1abc, 1.2.3: leave odd tokens to the parser
			}
			b = append(b, '?')
			i = j
		default:
			b = append(b, c)
			i++
		}
	}
	return b, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func identChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c >= 0x80
}

func indexFrom(s, sub string, from int) int {
	for i := from; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
