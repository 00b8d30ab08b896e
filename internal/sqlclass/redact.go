package sqlclass

import (
	"errors"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Redacted replaces a secret in a statement's recorded text.
const Redacted = "'[REDACTED]'"

// RedactSecrets returns sql with the string constant after every PASSWORD
// keyword replaced by Redacted: CREATE and ALTER ROLE or USER ... [ENCRYPTED]
// PASSWORD '...', and a user mapping's OPTIONS (password '...'). It reports
// whether it changed anything. Text that the scanner rejects but mentions
// a password comes back whole as a placeholder, so that a malformed
// statement cannot smuggle its password into a recording.
func RedactSecrets(sql string) (string, bool) {
	if !containsFold(sql, "password") {
		return sql, false
	}
	if alt, err := escapeReading(sql); err == nil && alt != sql || err != nil && !errors.Is(err, errEscapesRejected) {
		// With standard_conforming_strings off the password's string
		// may end elsewhere than the scanner says (see escapes.go).
		return "/* statement not recorded: it mentions a password and reads differently with standard_conforming_strings off */", true
	}
	res, err := scanTokens(sql)
	if err != nil {
		return "/* statement not recorded: it mentions a password and could not be scanned */", true
	}
	var b strings.Builder
	last := 0
	toks := res.GetTokens()
	for i, t := range toks {
		if t.GetToken() != pg_query.Token_PASSWORD || i+1 >= len(toks) {
			continue
		}
		next := toks[i+1]
		if next.GetToken() != pg_query.Token_SCONST {
			continue
		}
		start, end := int(next.GetStart()), int(next.GetEnd())
		if start < last || end > len(sql) || start > end {
			continue
		}
		b.WriteString(sql[last:start])
		b.WriteString(Redacted)
		last = end
	}
	if last == 0 {
		return sql, false
	}
	b.WriteString(sql[last:])
	return b.String(), true
}

// containsFold reports whether s contains the lower-case ASCII word sub,
// ignoring ASCII case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && (s[i+j]|0x20) == sub[j] {
			j++
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}
