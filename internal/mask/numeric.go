package mask

// nextWord finds cards, phone numbers, SSNs, IPv4 addresses, IBANs and AWS
// keys. Candidates start a word: a digit or upper-case letter that does not
// follow a letter or digit, or a '+' or '(' (phones) that does not. A digit
// that follows a digit and '-' or '.' continues a longer number and is no
// candidate. The detectors for the candidate's first byte are tried there
// and the longest match wins.
//
// The context rules are symmetric on purpose: whatever makes a number end
// badly (attachedAfter) also makes a number that starts there start badly
// (attachedBefore). Otherwise masking a later match could turn an earlier
// rejected candidate into a match on a second pass, and masking would not be
// idempotent.
func (s *scanner) nextWord(from, limit int) span {
	v := s.v[from:limit]
	num, upper := s.m.numOn, s.m.upperOn
	for i := 0; i < len(v); i++ {
		c := v[i]
		if byteClass[c]&cWordStart == 0 || !boundaryBefore(v, i) {
			continue
		}
		var sp span
		var ok bool
		switch {
		case isDigit(c):
			if num && !attachedBefore(v, i) {
				sp, ok = s.numAt(s.v[from:], i)
			}
		case c == '+' || c == '(':
			if num {
				sp, ok = s.numAt(s.v[from:], i)
			}
		case upper:
			sp, ok = s.upperAt(s.v[from:], i)
		}
		if ok {
			return sp.at(from)
		}
		if c == '+' || c == '(' {
			// A phone number did not start here; the digits after may
			// still be a card or an SSN: "(4242 4242 4242 4242)".
			continue
		}
		// The rest of a word cannot start a match.
		for i+1 < len(v) && byteClass[v[i+1]]&cAlnum != 0 {
			i++
		}
	}
	return span{start: noMatch}
}

// numAt tries the numeric detectors at v[i]. The length of the leading digit
// run and the byte after it rule out most of them cheaply.
func (s *scanner) numAt(v []byte, i int) (span, bool) {
	det := &s.m.det
	best := span{start: i, end: -1}
	try := func(d detector, end int) {
		if det[d].on && end > best.end {
			best.end, best.id = end, int(d)
		}
	}
	switch v[i] {
	case '+':
		try(detPhone, e164At(v, i))
	case '(':
		try(detPhone, nanpParenAt(v, i))
	default:
		j := i + 1
		for j < len(v) && isDigit(v[j]) {
			j++
		}
		n := j - i
		var next byte
		if j < len(v) {
			next = v[j]
		}
		if n >= 13 || n >= 3 && n <= 6 && (next == ' ' || next == '-') {
			try(detCard, cardAt(v, i))
		}
		if (n == 3 || n == 1 && v[i] == '1') && isPhoneSep(next) {
			try(detPhone, nanpAt(v, i))
		}
		if n == 3 && (next == '-' || next == ' ') {
			try(detSSN, ssnAt(v, i))
		}
		if n <= 3 && next == '.' {
			try(detIPv4, ipv4At(v, i))
		}
	}
	return best, best.end > i
}

// upperAt tries IBAN and AWS key at v[i], an upper-case letter.
func (s *scanner) upperAt(v []byte, i int) (span, bool) {
	if s.m.det[detIBAN].on {
		if end := ibanAt(v, i); end > 0 {
			return span{start: i, end: end, id: int(detIBAN)}, true
		}
	}
	if s.m.det[detAWS].on && v[i] == 'A' {
		if end := awsKeyAt(v, i); end > 0 {
			return span{start: i, end: end, id: int(detAWS)}, true
		}
	}
	return span{}, false
}

// cardAt matches a payment card number at v[i]: 13 to 19 digits, either in
// one run or in groups of 3 to 6 digits joined by single spaces or single
// dashes (one kind throughout), with a card network's prefix (issuerOK) and
// passing the Luhn check. Of the group
// prefixes that qualify the longest wins, so a card followed by more
// numbers ("4242 4242 4242 4242 12/27") is still found. It returns where the
// match ends, or -1.
func cardAt(v []byte, i int) int {
	var digits [19]byte
	nd, groups, first, best := 0, 0, 0, -1
	var sep byte
	j := i
	for {
		gs := j
		for j < len(v) && isDigit(v[j]) {
			if nd < len(digits) {
				digits[nd] = v[j]
			}
			nd++
			j++
		}
		glen := j - gs
		groups++
		if groups == 1 {
			first = glen
		}
		if nd > len(digits) || groups > 1 && (glen < 3 || glen > 6 || first < 3 || first > 6) {
			break
		}
		if nd >= 13 && !attachedAfter(v, j) && issuerOK(digits[:nd]) && luhn(digits[:nd]) {
			best = j
		}
		if first > 6 {
			break // one long run: no groups follow
		}
		if j+1 >= len(v) || !isDigit(v[j+1]) || (v[j] != ' ' && v[j] != '-') || (sep != 0 && v[j] != sep) {
			break
		}
		sep = v[j]
		j++
	}
	return best
}

// boundaryBefore reports whether a word may start at v[i]: at the start,
// after a byte that is no letter or digit, or after an escape such as "\n"
// or "\t" in JSON, COPY text or a bytea's escape form, whose letter stands
// for a control character and is no part of the word.
func boundaryBefore(v []byte, i int) bool {
	if !alnumAt(v, i-1) {
		return true
	}
	if i < 2 || v[i-2] != '\\' || (i >= 3 && v[i-3] == '\\') {
		return false
	}
	switch v[i-1] {
	case 'n', 't', 'r', 'b', 'f':
		return true
	}
	return false
}

// attachedBefore reports whether a number starting at v[i] would continue
// a longer one: a digit and '-' or '.' come right before it.
func attachedBefore(v []byte, i int) bool {
	return i >= 2 && (v[i-1] == '-' || v[i-1] == '.') && isDigit(v[i-2])
}

// attachedAfter reports whether a number cannot end before v[j]: a letter or
// digit follows, or '-' or '.' and a digit.
func attachedAfter(v []byte, j int) bool {
	return alnumAt(v, j) || j+1 < len(v) && (v[j] == '-' || v[j] == '.') && isDigit(v[j+1])
}

// issuerOK reports whether a number of 13 to 19 digits starts like a card
// of that length from a card network: Visa 4 (13, 16 or 19 digits),
// Mastercard 51-55 and 2221-2720, Mir 2200-2204, Amex 34 and 37 (15), Diners
// 30, 36, 38 and 39 (14 or more), JCB 35 (16 or more), and anything starting
// with 5 or 6 (Discover, UnionPay, Maestro, RuPay ...). Without it every
// tenth 13-digit millisecond timestamp would pass the Luhn check.
func issuerOK(d []byte) bool {
	n := len(d)
	p2 := int(d[0]-'0')*10 + int(d[1]-'0')
	switch d[0] {
	case '4':
		return n == 13 || n == 16 || n == 19
	case '2':
		p4 := p2*100 + int(d[2]-'0')*10 + int(d[3]-'0')
		return n >= 16 && (p4 >= 2221 && p4 <= 2720 || p4 >= 2200 && p4 <= 2204)
	case '3':
		switch p2 {
		case 34, 37:
			return n == 15
		case 30, 36, 38, 39:
			return n >= 14
		case 35:
			return n >= 16
		}
		return false
	case '5', '6':
		return true
	}
	return false
}

// luhn reports whether the ASCII digits pass the Luhn check.
func luhn(d []byte) bool {
	sum := 0
	double := false
	for k := len(d) - 1; k >= 0; k-- {
		n := int(d[k] - '0')
		if double {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
		double = !double
	}
	return sum%10 == 0
}

// ssnAt matches a US social security number at v[i]: AAA-GG-SSSS or
// AAA GG SSSS, area not 000, 666 or 9xx, group not 00, serial not 0000, and
// not part of a longer number.
func ssnAt(v []byte, i int) int {
	end := i + 11
	if end > len(v) {
		return -1
	}
	sep := v[i+3]
	if sep != '-' && sep != ' ' || v[i+6] != sep || !allDigits(v[i:i+3]) || !allDigits(v[i+4:i+6]) || !allDigits(v[i+7:end]) {
		return -1
	}
	if attachedAfter(v, end) {
		return -1
	}
	area := string(v[i : i+3])
	if area == "000" || area == "666" || v[i] == '9' || string(v[i+4:i+6]) == "00" || string(v[i+7:end]) == "0000" {
		return -1
	}
	return end
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

func isPhoneSep(c byte) bool { return c == '-' || c == '.' || c == ' ' }

// nanpAt matches a North American number at v[i]: [1 ]NXX NXX XXXX with the
// same separator ('-', '.' or ' ') throughout, area code and exchange not
// starting with 0 or 1. Bare digit runs are not matched.
func nanpAt(v []byte, i int) int {
	j := i
	var sep byte
	if v[i] == '1' && i+1 < len(v) && isPhoneSep(v[i+1]) {
		sep = v[i+1]
		j = i + 2
	}
	end := j + 12
	if end > len(v) {
		return -1
	}
	if sep == 0 {
		sep = v[j+3]
	}
	if !isPhoneSep(sep) || v[j+3] != sep || v[j+7] != sep || v[j] < '2' || v[j+4] < '2' ||
		!allDigits(v[j:j+3]) || !allDigits(v[j+4:j+7]) || !allDigits(v[j+8:end]) {
		return -1
	}
	if attachedAfter(v, end) {
		return -1
	}
	return end
}

// nanpParenAt matches (NXX) NXX-XXXX at v[i], with an optional space after
// the parenthesis and '-', '.' or ' ' before the last four digits.
func nanpParenAt(v []byte, i int) int {
	j := i + 5
	if j+8 > len(v) || v[i+4] != ')' || !allDigits(v[i+1:i+4]) || v[i+1] < '2' {
		return -1
	}
	if v[j] == ' ' {
		j++
	}
	end := j + 8
	if end > len(v) || !allDigits(v[j:j+3]) || v[j] < '2' || !isPhoneSep(v[j+3]) || !allDigits(v[j+4:end]) {
		return -1
	}
	if attachedAfter(v, end) {
		return -1
	}
	return end
}

// e164At matches an international number at v[i] == '+': a non-zero digit,
// then 8 to 15 digits in all, in groups that single spaces, dashes or dots
// separate, with at most one group in parentheses ("+1 (415) 555-2671",
// "+44 (0)20 7946 0958"). The longest qualifying prefix wins.
func e164At(v []byte, i int) int {
	j := i + 1
	if j >= len(v) || v[j] < '1' || v[j] > '9' {
		return -1
	}
	nd, best := 0, -1
	paren := false
	for j < len(v) {
		if v[j] == '(' && !paren {
			paren = true
			k := j + 1
			for k < len(v) && isDigit(v[k]) && k-j <= 4 {
				k++
			}
			if k == j+1 || k >= len(v) || v[k] != ')' {
				break
			}
			nd += k - j - 1
			j = k + 1
			if j < len(v) && v[j] == ' ' && digitAt(v, j+1) {
				j++
			}
			continue
		}
		gs := j
		for j < len(v) && isDigit(v[j]) {
			j++
		}
		nd += j - gs
		if j == gs || nd > 15 {
			break
		}
		if nd >= 8 && !attachedAfter(v, j) {
			best = j
		}
		if j+1 < len(v) && isPhoneSep(v[j]) && (isDigit(v[j+1]) || v[j+1] == '(' && !paren) {
			j++
		}
	}
	return best
}

// ipv4At matches a dotted-quad IPv4 address at v[i]: four decimal octets of
// 0 to 255 without leading zeros, not preceded by a letter, digit or dot and
// not followed by a letter, digit or a dot and digit (so "1.2.3.4.5" and
// version strings like "v10.0.0.1" do not match).
func ipv4At(v []byte, i int) int {
	if i > 0 && v[i-1] == '.' {
		return -1
	}
	j := i
	for k := 0; k < 4; k++ {
		if k > 0 {
			if j >= len(v) || v[j] != '.' {
				return -1
			}
			j++
		}
		s, n := j, 0
		for j < len(v) && isDigit(v[j]) && j-s < 4 {
			n = n*10 + int(v[j]-'0')
			j++
		}
		if l := j - s; l == 0 || l > 3 || n > 255 || l > 1 && v[s] == '0' {
			return -1
		}
	}
	// A range "10.0.0.1-10.0.0.9" is two addresses, so unlike other
	// numbers an address may end before '-' and a digit.
	if alnumAt(v, j) || j+1 < len(v) && v[j] == '.' && isDigit(v[j+1]) {
		return -1
	}
	return j
}
