package sqlclass

import (
	"strings"
	"testing"
)

func TestRedactSecrets(t *testing.T) {
	tests := []struct{ in, want string }{
		{"CREATE ROLE svc LOGIN PASSWORD 'S3cret'", "CREATE ROLE svc LOGIN PASSWORD '[REDACTED]'"},
		{"alter user x with encrypted password 'md5abc' valid until 'infinity'", "alter user x with encrypted password '[REDACTED]' valid until 'infinity'"},
		{`ALTER USER "x" PASSWORD 'SCRAM-SHA-256$4096:abc'`, `ALTER USER "x" PASSWORD '[REDACTED]'`},
		{"CREATE USER MAPPING FOR u SERVER s OPTIONS (user 'a', password 'p w''d')", "CREATE USER MAPPING FOR u SERVER s OPTIONS (user 'a', password '[REDACTED]')"},
		{"CREATE ROLE a PASSWORD E'x\\'y'; CREATE ROLE b PASSWORD $$z$$", "CREATE ROLE a PASSWORD '[REDACTED]'; CREATE ROLE b PASSWORD '[REDACTED]'"},
		{"SELECT 'password'", "SELECT 'password'"},
		{"ALTER ROLE a PASSWORD NULL", "ALTER ROLE a PASSWORD NULL"},
		{"SELECT 1", "SELECT 1"},
	}
	for _, tt := range tests {
		got, _ := RedactSecrets(tt.in)
		if got != tt.want {
			t.Errorf("RedactSecrets(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got, changed := RedactSecrets("CREATE ROLE a PASSWORD 'unterminated"); !changed || strings.Contains(got, "unterminated") {
		t.Errorf("unscannable text: %q, %v", got, changed)
	}
}

func FuzzRedactSecrets(f *testing.F) {
	f.Add("CREATE ROLE svc LOGIN PASSWORD 'S3cret'")
	f.Add("alter user x password 'a' password 'b'")
	f.Fuzz(func(t *testing.T, s string) {
		got, _ := RedactSecrets(s)
		res, err := scanTokens(s)
		if err != nil {
			return
		}
		// No string constant that follows PASSWORD survives.
		toks := res.GetTokens()
		for i := 0; i+1 < len(toks); i++ {
			if toks[i].GetToken().String() == "PASSWORD" && toks[i+1].GetToken().String() == "SCONST" {
				lit := s[toks[i+1].GetStart():toks[i+1].GetEnd()]
				if len(lit) > 12 && strings.Contains(got, lit) {
					t.Fatalf("%q survived in %q", lit, got)
				}
			}
		}
	})
}
