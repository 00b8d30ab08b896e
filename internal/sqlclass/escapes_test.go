package sqlclass

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// kindsOf returns every kind of every statement of res.
func kindsOf(res *Result) []Kind {
	var out []Kind
	for _, st := range res.Statements {
		out = append(out, st.Kinds...)
	}
	return out
}

// A session with standard_conforming_strings off reads a backslash in a
// plain string as an escape: what it would run then is classified too.
func TestClassifyEscapeReadings(t *testing.T) {
	cases := []struct {
		name  string
		sql   string
		must  []Kind // some statement carries each
		stmts int    // statements reported; 0: do not check
	}{
		{"hidden in the second string", `SELECT 'a\', ' AS q; DROP TABLE victim; --'`, []Kind{Select, Drop}, 0},
		{"national string", `SELECT N'a\', ' AS q; DELETE FROM victim; --'`, []Kind{Select, Delete}, 0},
		{"continued string", "SELECT 'x'\n'a\\', ' AS q; TRUNCATE victim; --'", []Kind{Select, Truncate}, 0},
		{"hidden in a DO body", "DO $$BEGIN PERFORM 'a\\', ' ; DROP TABLE v; PERFORM 1 --'\n; END$$", []Kind{Do, Drop}, 0},
		{"hidden in a function body", "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$SELECT 'a\\', ' ; DELETE FROM v; --'$$",
			[]Kind{Create, Delete}, 0},
		{"hidden in EXECUTE of a constant", "DO $$BEGIN EXECUTE 'SELECT ''a\\'', '' ; DROP TABLE v; --'''; END$$", []Kind{Do, Drop}, 0},
		// Texts both readings agree on are classified once.
		{"windows path", `SELECT 'C:\dir\file' AS p FROM t`, []Kind{Select}, 1},
		{"like escape", `SELECT * FROM t WHERE a LIKE 'x\_y%'`, []Kind{Select}, 1},
		{"escape string", `SELECT E'a\'b'`, []Kind{Select}, 1},
		// Read with escapes, a string ends at the line's end: the server
		// rejects the text, so only one reading runs.
		{"rejected with escapes", `SELECT 'ends in a backslash\'`, []Kind{Select}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Classify(c.sql)
			if err != nil {
				t.Fatalf("Classify: %v", err)
			}
			kinds := kindsOf(res)
			for _, k := range c.must {
				if !slices.Contains(kinds, k) {
					t.Errorf("kinds %v, want %s among them", kinds, k)
				}
			}
			if c.stmts != 0 && len(res.Statements) != c.stmts {
				t.Errorf("%d statements, want %d: %+v", len(res.Statements), c.stmts, res.Statements)
			}
		})
	}
}

func TestCopyTargetsEscapeReadings(t *testing.T) {
	// With escapes the query copies ssn; without, two constants.
	_, err := CopyTargets("COPY (SELECT 'a\\', ' AS q, ssn AS note FROM customers --'\n) TO STDOUT")
	if !errors.Is(err, errCopyReadings) {
		t.Errorf("COPY of a query that reads differently: got %v, want errCopyReadings", err)
	}
	if got, err := CopyTargets(`COPY (SELECT 'C:\x' AS p, ssn FROM customers) TO STDOUT`); err != nil || len(got) != 1 || !got[0].Query {
		t.Errorf("COPY both readings agree on: got %+v, %v", got, err)
	}
}

// In SJIS, BIG5, GBK, UHC, GB18030 and JOHAB a backslash can be the second
// byte of a character: the server never sees it as a backslash.
func TestClassifyEncodingAmbiguous(t *testing.T) {
	for _, sql := range []string{
		"SELECT E'\x83\\' AS q; DROP TABLE victim; --'",
		"SELECT 'caf\xc3\xa9\\'",
		"SELECT U&'\x83!0041' UESCAPE '!'",
	} {
		if _, err := Classify(sql); !errors.Is(err, errEncodingAmbiguous) {
			t.Errorf("Classify(%q): got %v, want errEncodingAmbiguous", sql, err)
		}
		if _, err := CopyTargets(sql); !errors.Is(err, errEncodingAmbiguous) {
			t.Errorf("CopyTargets(%q): got %v, want errEncodingAmbiguous", sql, err)
		}
	}
	if _, err := Classify("SELECT 'café', E'\\n' FROM t"); err != nil {
		t.Errorf("UTF-8 text and a backslash apart: %v", err)
	}
}

func TestRedactSecretsEscapeReadings(t *testing.T) {
	// With escapes the password is "a' secret " and a comment follows.
	got, changed := RedactSecrets(`ALTER ROLE bob PASSWORD 'a\' secret ' --'`)
	if !changed || strings.Contains(got, "secret") {
		t.Errorf("got %q", got)
	}
}

// FuzzEscapeReading checks that escapeReading never panics and that what
// it returns holds no plain string with a backslash left: read again, it
// stays as it is.
func FuzzEscapeReading(f *testing.F) {
	f.Add(`SELECT 'a\', ' AS q; DROP TABLE victim; --'`)
	f.Add("SELECT N'x\\y', 'a'\n'b\\'' , E'\\'', $$\\$$, U&'\\0041'")
	f.Add(`abc'x\'y'`)
	f.Fuzz(func(t *testing.T, sql string) {
		alt, err := escapeReading(sql)
		if err != nil {
			return
		}
		again, err := escapeReading(alt)
		if err != nil || again != alt {
			t.Fatalf("escapeReading(%q) = %q, read again %q, %v", sql, alt, again, err)
		}
	})
}
