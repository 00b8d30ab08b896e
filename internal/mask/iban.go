package mask

// ibanAt matches an IBAN at v[i]: a country code of two upper-case letters,
// two check digits and 11 to 30 upper-case letters or digits, either in one
// run or in groups of four separated by single spaces (the last group may be
// shorter). For the countries in ibanLength the length must be that
// country's; the ISO 13616 mod-97 check must pass. It returns where the
// match ends, or -1.
func ibanAt(v []byte, i int) int {
	if i+15 > len(v) || byteClass[v[i+1]]&cUpper == 0 || !isDigit(v[i+2]) || !isDigit(v[i+3]) {
		return -1
	}
	want := ibanLength(v[i], v[i+1])
	var buf [34]byte
	var ends [34]int // ends[k] is where the IBAN ends if it has k+1 characters
	copy(buf[:], v[i:i+4])
	for k := range 4 {
		ends[k] = i + k + 1
	}
	n, j := 4, i+4
	grouped := v[j] == ' '
	for n < len(buf) {
		if grouped {
			if j+1 >= len(v) || v[j] != ' ' || !ibanChar(v[j+1]) {
				break
			}
			j++
		}
		gs := j
		for j < len(v) && n < len(buf) && ibanChar(v[j]) && (!grouped || j-gs < 4) {
			buf[n] = v[j]
			ends[n] = j + 1
			n++
			j++
		}
		if !grouped || j-gs < 4 {
			break
		}
	}
	try := func(l int) int {
		if l < 15 || l > n || alnumAt(v, ends[l-1]) || !mod97(buf[:l]) {
			return -1
		}
		return ends[l-1]
	}
	switch {
	case want > 0:
		return try(want)
	case !grouped:
		return try(n)
	}
	// An unknown country, grouped: the IBAN may end at any group.
	for l := n; l >= 15; l-- {
		if (l == n || l%4 == 0) && try(l) > 0 {
			return ends[l-1]
		}
	}
	return -1
}

func ibanChar(c byte) bool { return byteClass[c]&(cUpper|cDigit) != 0 }

// mod97 runs the ISO 13616 check on an IBAN without spaces: with the first
// four characters moved to the end and letters read as 10 to 35, the number
// is 1 modulo 97.
func mod97(b []byte) bool {
	r := 0
	for k := range b {
		c := b[(k+4)%len(b)]
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A') + 10) % 97
		}
	}
	return r == 1
}

// ibanLength returns the IBAN length of a country, or 0 if it is not known
// here.
func ibanLength(a, b byte) int {
	switch string([]byte{a, b}) {
	case "NO":
		return 15
	case "BE":
		return 16
	case "DK", "FI", "FO", "GL", "NL":
		return 18
	case "MK", "SI":
		return 19
	case "AT", "BA", "EE", "KZ", "LT", "LU", "XK":
		return 20
	case "CH", "CR", "HR", "LI", "LV":
		return 21
	case "BG", "BH", "DE", "GB", "GE", "IE", "ME", "RS":
		return 22
	case "AE", "GI", "IL":
		return 23
	case "AD", "CZ", "ES", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG":
		return 24
	case "PT":
		return 25
	case "IS", "TR":
		return 26
	case "FR", "GR", "IT", "MC", "MR", "SM":
		return 27
	case "AL", "AZ", "CY", "DO", "GT", "HU", "LB", "PL":
		return 28
	case "BR", "EG", "PS", "QA", "UA":
		return 29
	case "JO", "KW", "MU":
		return 30
	case "MT":
		return 31
	}
	return 0
}
