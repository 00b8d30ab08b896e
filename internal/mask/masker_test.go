package mask

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
)

func TestColumn(t *testing.T) {
	rules := []ColumnRule{
		{Match: "customers.ssn"},
		{Match: "*.email", With: "partial"},
		{Match: "billing.*.card_*", With: "hash"},
		{Match: "token"},
		{Match: "*_secret", With: "null"},
		{Match: "a*b*c"},
	}
	m, err := Compile(map[string]Profile{"p": {Columns: rules}}, []string{"p"}, testKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                  string
		schema, table, column string
		want                  string // the matching pattern, "" for none
	}{
		{"table.column", "public", "customers", "ssn", "customers.ssn"},
		{"case ignored", "public", "Customers", "SSN", "customers.ssn"},
		{"other table", "public", "staff", "ssn", ""},
		{"no table", "", "", "ssn", ""},
		{"star table", "public", "users", "email", "*.email"},
		{"star matches no table", "", "", "email", "*.email"},
		{"column is only a suffix", "public", "users", "backup_email", ""},
		{"glob in segment", "billing", "payments", "card_number", "billing.*.card_*"},
		{"glob needs the prefix", "billing", "payments", "number", ""},
		{"schema must match", "public", "payments", "card_number", ""},
		{"column only", "s", "t", "token", "token"},
		{"column only, no table", "", "", "TOKEN", "token"},
		{"leading star", "s", "t", "api_secret", "*_secret"},
		{"leading star matches suffix only", "s", "t", "api_secret2", ""},
		{"backtracking", "s", "t", "aXbYbZc", "a*b*c"},
		{"backtracking miss", "s", "t", "aXbYbZ", ""},
		{"empty column", "s", "t", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := m.Column(tt.schema, tt.table, tt.column)
			got := ""
			if ok {
				got = m.cols[c.rule-1].pattern
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { m.Column("billing", "payments", "card_number") }); n != 0 {
		t.Errorf("Column allocates %v times", n)
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"**", "x", true},
		{"a*", "a", true},
		{"*a", "a", true},
		{"*a*", "bab", true},
		{"a*a", "a", false},
		{"ab", "AB", true},
		{"é", "é", true},
		{"x*y*z", "xyyzz", true},
		{"x*y*z", "xzy", false},
		{"", "", true},
		{"", "a", false},
	}
	for _, tt := range tests {
		if got := glob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("glob(%q, %q): got %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestValue(t *testing.T) {
	p := Profile{Columns: []ColumnRule{
		{Match: "redact"}, {Match: "partial", With: "partial"}, {Match: "hash", With: "hash"}, {Match: "null", With: "null"},
	}}
	m, err := Compile(map[string]Profile{"p": p}, []string{"p"}, testKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		column, in, want string
	}{
		{"redact", "123-45-6789", "[REDACTED]"},
		{"redact", "", "[REDACTED]"},
		{"partial", "4242424242424242", "************4242"},
		{"partial", "4242 4242 4242 4242", "**** **** **** 4242"},
		{"partial", "alice@example.com", "a***@example.com"},
		{"partial", "two a@example.com b@example.com", "*** *@*******.*** *@******e.com"},
		{"partial", "1234567", "*******"},
		{"partial", "12345678", "****5678"},
		{"partial", "John Smith", "**** *mith"},
		{"partial", "Zoë Ünal-Weiß", "*** ****-Weiß"},
		{"partial", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", "****\xfb\xfa\xf9\xf8"},
		{"partial", "", ""},
		{"hash", "4242 4242 4242 4242", "[HASH:" + hmacHex("4242 4242 4242 4242") + "]"},
		{"null", "x", "NULL"},
	}
	for _, tt := range tests {
		c, ok := m.Column("", "", tt.column)
		if !ok {
			t.Fatalf("%s: no rule", tt.column)
		}
		dst := []byte("prefix:")
		out, isNull := m.Value(dst, []byte(tt.in), c, nil)
		got := strings.TrimPrefix(string(out), "prefix:")
		if isNull {
			got = "NULL"
			if string(out) != "prefix:" {
				t.Errorf("%s %q: NULL appended %q", tt.column, tt.in, out)
			}
		}
		if got != tt.want {
			t.Errorf("%s %q: got %q, want %q", tt.column, tt.in, got, tt.want)
		}
	}
	// The zero ColumnMatch fails closed.
	if out, isNull := m.Value(nil, []byte("secret"), ColumnMatch{}, nil); isNull || string(out) != "[REDACTED]" {
		t.Errorf("zero ColumnMatch: got %q, %v", out, isNull)
	}
	if out, _ := (*Masker)(nil).Value(nil, []byte("secret"), ColumnMatch{rule: 1}, nil); string(out) != "[REDACTED]" {
		t.Errorf("nil Masker: got %q", out)
	}
}

func hmacHex(s string) string {
	h := hmac.New(sha256.New, testKey)
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// TestHash pins the documented token format, so tokens stay comparable
// across versions, and the normalization of separators.
func TestHash(t *testing.T) {
	m := MustCompile(t, "hash")
	tests := []struct{ in, hashed string }{
		{"4242 4242 4242 4242", "4242424242424242"},
		{"4242-4242-4242-4242", "4242424242424242"},
		{"(415) 555-2671", "14155552671"},
		{"+1 415 555 2671", "14155552671"},
		{"+44 20 7946 0958", "442079460958"},
		{"Alice@Example.COM", "alice@example.com"},
		{"DE89 3704 0044 0532 0130 00", "DE89370400440532013000"},
		{"123-45-6789", "123456789"},
		{"10.0.0.1", "10.0.0.1"},
		{"EMP-123456", "EMP-123456"},
	}
	for _, tt := range tests {
		out, _, _ := m.Text(nil, []byte(tt.in), nil)
		if want := "[HASH:" + hmacHex(tt.hashed) + "]"; string(out) != want {
			t.Errorf("%q: got %s, want %s", tt.in, out, want)
		}
	}
	// Another Masker with the same key gives the same token; another key
	// does not.
	same := MustCompile(t, "hash")
	a, _, _ := m.Text(nil, []byte("4242424242424242"), nil)
	b, _, _ := same.Text(nil, []byte("4242424242424242"), nil)
	other, err := Compile(map[string]Profile{"p": {Detect: []string{"credit_card"}, With: "hash"}}, []string{"p"}, []byte("another-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	c, _, _ := other.Text(nil, []byte("4242424242424242"), nil)
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Errorf("tokens: %s, %s (same key), %s (other key)", a, b, c)
	}
}

func TestTextNull(t *testing.T) {
	m := MustCompile(t, "null")
	var hits Hits
	dst := []byte("keep")
	out, changed, isNull := m.Text(dst, []byte("mail a@example.com or 4242424242424242"), &hits)
	if !changed || !isNull || string(out) != "keep" {
		t.Errorf("got %q, %v, %v; want keep, true, true", out, changed, isNull)
	}
	if hits.Total() != 1 {
		t.Errorf("hits: got %d, want 1", hits.Total())
	}
	out, changed, isNull = m.Text(dst, []byte("nothing here"), &hits)
	if changed || isNull || string(out) != "keep" {
		t.Errorf("no match: got %q, %v, %v", out, changed, isNull)
	}
}

func TestTextAppends(t *testing.T) {
	m := MustCompile(t, "redact")
	in := []byte("to bob@example.com, ok")
	orig := bytes.Clone(in)
	dst := append(make([]byte, 0, 64), "row:"...)
	out, changed, _ := m.Text(dst, in, nil)
	if !changed || string(out) != "row:to [REDACTED:email], ok" {
		t.Errorf("got %q", out)
	}
	if !bytes.Equal(in, orig) {
		t.Errorf("Text modified its input: %q", in)
	}
}

// TestAllocs locks in the hot-path promise: no allocation per value
// without a match, none per match beyond growing dst.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	values := [][]byte{
		[]byte("The quick brown fox jumps over the lazy dog at 2024-01-15T10:30:00Z."),
		[]byte(`{"id":"550e8400-e29b-41d4-a716-446655440000","n":12345,"v":"1.2.3.4.5","at":"user@localhost"}`),
		[]byte("EMP-12345 eyJ -----BEGIN CERTIFICATE----- AKIA DE89 0.4242424242424242"),
	}
	match := []byte("alice@example.com paid 4242 4242 4242 4242 from 10.1.2.3 (415) 555-2671 DE89370400440532013000 AKIAIOSFODNN7EXAMPLE")
	for _, with := range []string{"redact", "partial", "hash"} {
		m := MustCompile(t, with)
		var hits Hits
		dst := make([]byte, 0, 4096)
		m.Text(dst, match, &hits) // sizes the Hits once
		for _, v := range values {
			if n := testing.AllocsPerRun(200, func() {
				if _, changed, _ := m.Text(dst, v, &hits); changed {
					t.Fatalf("%q changed", v)
				}
			}); n != 0 {
				t.Errorf("%s, no match in %q: %v allocs per value, want 0", with, v, n)
			}
		}
		if n := testing.AllocsPerRun(200, func() { m.Text(dst, match, &hits) }); n != 0 {
			t.Errorf("%s, matches: %v allocs per value, want 0", with, n)
		}
	}
}

func TestConcurrent(t *testing.T) {
	m := MustCompile(t, "hash")
	in := []byte("alice@example.com 4242 4242 4242 4242 EMP-123456 10.0.0.1")
	want, _, _ := m.Text(nil, in, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var hits Hits
			var dst []byte
			for range 200 {
				out, _, _ := m.Text(dst[:0], in, &hits)
				if !bytes.Equal(out, want) {
					t.Errorf("got %q, want %q", out, want)
					return
				}
				dst = out
			}
		})
	}
	wg.Wait()
}
