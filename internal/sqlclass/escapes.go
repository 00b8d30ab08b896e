package sqlclass

import (
	"errors"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// A session decides how PostgreSQL reads its text, and libpg_query cannot
// be told: with standard_conforming_strings off (SET, set_config, the
// startup options) a plain '...' string takes backslash escapes, so
// 'a\', ' AS q; DROP TABLE t; --' is one string to libpg_query and a DROP
// to the server. Classify therefore reads a text that holds a backslash
// both ways (escapeReading). And with an unsafe client_encoding (SJIS,
// BIG5, GBK, UHC, GB18030, JOHAB) a byte of 0x80 or more followed by a
// backslash is one character to the server, which never sees that
// backslash: a text with one is refused (encodingAmbiguous).

var (
	// errEscapesTooComplex reports a text with more string constants to
	// re-read than escapeReading follows.
	errEscapesTooComplex = errors.New("too many string constants with backslashes to read as standard_conforming_strings off would")
	// errEncodingAmbiguous reports a text whose meaning depends on the
	// session's client encoding.
	errEncodingAmbiguous = errors.New("a backslash after a non-ASCII byte, or UESCAPE with non-ASCII text, reads differently in some client encodings (SJIS, BIG5, GBK, UHC, GB18030, JOHAB); write the text without it")
)

// escapeScanBudget bounds the bytes escapeReading scans for one text.
const escapeScanBudget = 16 << 20

// errEscapesRejected reports a text that a server with
// standard_conforming_strings off cannot even scan: it never runs so.
var errEscapesRejected = errors.New("rejected with standard_conforming_strings off")

// escapeReading returns sql as a server with standard_conforming_strings
// off reads it, spelled for a parser with it on: every plain '...' string
// (or N'...') that holds a backslash becomes E'...', which takes escapes
// either way. It returns sql itself when both read it alike, and
// errEscapesRejected when that reading does not scan.
func escapeReading(sql string) (string, error) {
	if strings.IndexByte(sql, '\\') < 0 {
		return sql, nil
	}
	var b strings.Builder
	rest, budget, differs := sql, escapeScanBudget, false
	for {
		if budget -= len(rest); budget < 0 {
			return "", errEscapesTooComplex
		}
		// Up to a string constant the two readings scan alike; from one
		// with a backslash on they part, so the rest is scanned again
		// once that constant is spelled E'...'.
		res, err := scanTokens(rest)
		if err != nil {
			if !differs {
				return sql, nil // the parser rejects it either way
			}
			return "", errEscapesRejected
		}
		toks := res.GetTokens()
		at, from := -1, 0
		for i, t := range toks {
			start, end := int(t.GetStart()), int(t.GetEnd())
			if t.GetToken() != pg_query.Token_SCONST || start < 0 || end > len(rest) || start >= end ||
				rest[start] != '\'' || strings.IndexByte(rest[start:end], '\\') < 0 {
				continue
			}
			at, from = start, start
			if i > 0 && toks[i-1].GetToken() == pg_query.Token_NCHAR && int(toks[i-1].GetEnd()) == start {
				// N'...': the national character prefix goes; the
				// constant's type does not change what the text does.
				from = int(toks[i-1].GetStart())
			}
			break
		}
		if at < 0 {
			if !differs {
				return sql, nil
			}
			b.WriteString(rest)
			return b.String(), nil
		}
		differs = true
		b.WriteString(rest[:from])
		b.WriteByte(' ') // E must not extend an identifier before it
		rest = "E" + rest[at:]
	}
}

// encodingAmbiguous reports whether the bytes of sql could be read
// differently by a server whose client encoding is one of PostgreSQL's
// unsafe ones, whose second bytes include ASCII: a backslash after a high
// byte is part of a character there (so an E'...' string ends elsewhere),
// and so may be the escape character UESCAPE names.
func encodingAmbiguous(sql string) bool {
	high := false
	for i := 0; i < len(sql); i++ {
		if sql[i] < 0x80 {
			continue
		}
		high = true
		if i+1 < len(sql) && sql[i+1] == '\\' {
			return true
		}
	}
	return high && containsFold(sql, "uescape")
}
