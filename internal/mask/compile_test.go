package mask

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name     string
		profile  Profile
		shortKey bool   // compile with a 5-byte key instead of testKey
		want     string // the error, exactly
	}{
		{
			name:    "unknown column transform",
			profile: Profile{Columns: []ColumnRule{{Match: "a.b"}, {Match: "*.email", With: "blur"}}},
			want:    `masking.pii.columns[1].with: unknown transform "blur" (known: redact, partial, hash, null)`,
		},
		{
			name:    "unknown detector",
			profile: Profile{Detect: []string{"email", "phone", "ssn"}},
			want:    `masking.pii.detect[2]: unknown detector "ssn" (known: credit_card, email, phone, us_ssn, iban, ipv4, jwt, aws_key, private_key)`,
		},
		{
			name:    "detector twice",
			profile: Profile{Detect: []string{"email", "email"}},
			want:    `masking.pii.detect[1]: detector "email" is listed twice`,
		},
		{
			name:    "bad profile transform",
			profile: Profile{Detect: []string{"email"}, With: "Redact"},
			want:    `masking.pii.with: unknown transform "Redact" (known: redact, partial, hash, null)`,
		},
		{
			name:    "empty profile",
			profile: Profile{With: "hash"},
			want:    `masking.pii: profile masks nothing: set columns, detect or custom`,
		},
		{
			name:    "bad regex",
			profile: Profile{Custom: []Custom{{Name: "x", Regex: "EMP-[0-9"}}},
			want:    "masking.pii.custom[0].regex: error parsing regexp: missing closing ]: `[0-9`",
		},
		{
			name:    "regex matches empty",
			profile: Profile{Custom: []Custom{{Name: "x", Regex: "[0-9]*"}}},
			want:    `masking.pii.custom[0].regex: regex "[0-9]*" matches the empty string`,
		},
		{
			name:    "empty regex",
			profile: Profile{Custom: []Custom{{Name: "x"}}},
			want:    `masking.pii.custom[0].regex: empty regex`,
		},
		{
			name:    "custom name upper case",
			profile: Profile{Custom: []Custom{{Name: "EmployeeID", Regex: "E[0-9]+"}}},
			want:    `masking.pii.custom[0].name: invalid detector name "EmployeeID": use [a-z0-9_]+`,
		},
		{
			name:    "custom name clashes with built-in",
			profile: Profile{Custom: []Custom{{Name: "email", Regex: "E[0-9]+"}}},
			want:    `masking.pii.custom[0].name: "email" is the name of a built-in detector`,
		},
		{
			name:    "custom name twice",
			profile: Profile{Custom: []Custom{{Name: "a", Regex: "A[0-9]+"}, {Name: "a", Regex: "B[0-9]+"}}},
			want:    `masking.pii.custom[1].name: detector "a" is defined twice`,
		},
		{
			name:    "custom transform",
			profile: Profile{Custom: []Custom{{Name: "a", Regex: "A[0-9]+", With: "nul"}}},
			want:    `masking.pii.custom[0].with: unknown transform "nul" (known: redact, partial, hash, null)`,
		},
		{
			name:    "empty pattern",
			profile: Profile{Columns: []ColumnRule{{Match: ""}}},
			want:    `masking.pii.columns[0].match: empty column pattern`,
		},
		{
			name:    "pattern with four parts",
			profile: Profile{Columns: []ColumnRule{{Match: "db.public.customers.ssn"}}},
			want:    `masking.pii.columns[0].match: column pattern "db.public.customers.ssn" has more than three parts (schema.table.column)`,
		},
		{
			name:    "pattern with empty part",
			profile: Profile{Columns: []ColumnRule{{Match: "customers..ssn"}}},
			want:    `masking.pii.columns[0].match: column pattern "customers..ssn" has an empty part`,
		},
		{
			name:    "pattern with space",
			profile: Profile{Columns: []ColumnRule{{Match: "customers.card number"}}},
			want:    `masking.pii.columns[0].match: column pattern "customers.card number": unexpected ' ' (names are letters, digits, '_', '$' and '*')`,
		},
		{
			name:     "hash on a column without key",
			profile:  Profile{Columns: []ColumnRule{{Match: "ssn"}, {Match: "email", With: "hash"}}},
			shortKey: true,
			want:     `masking.pii.columns[1].with: the hash transform needs a key of at least 16 bytes`,
		},
		{
			name:     "hash by the profile without key",
			profile:  Profile{Detect: []string{"email"}, With: "hash"},
			shortKey: true,
			want:     `masking.pii.with: the hash transform needs a key of at least 16 bytes`,
		},
		{
			name:     "hash on a custom detector without key",
			profile:  Profile{Custom: []Custom{{Name: "a", Regex: "A[0-9]+", With: "hash"}}},
			shortKey: true,
			want:     `masking.pii.custom[0].with: the hash transform needs a key of at least 16 bytes`,
		},
		{
			name:     "profile with hash but no detector needs no key",
			profile:  Profile{Columns: []ColumnRule{{Match: "ssn"}}, With: "hash"},
			shortKey: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := testKey
			if tt.shortKey {
				k = []byte("short")
			}
			_, err := Compile(map[string]Profile{"pii": tt.profile}, []string{"pii"}, k)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if err == nil {
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("got %T, want *FieldError", err)
			}
			if strings.Contains(got, string(k)) {
				t.Errorf("error contains the key")
			}
			// Validate has no key; otherwise it agrees with Compile.
			verr := Validate("pii", tt.profile)
			switch {
			case errors.Is(err, ErrHashKey):
				if verr != nil {
					t.Errorf("Validate: got %v, want nil", verr)
				}
			case verr == nil || verr.Error() != got:
				t.Errorf("Validate: got %v, want %s", verr, got)
			}
		})
	}
}

func TestCompileProfiles(t *testing.T) {
	profiles := map[string]Profile{
		"pii": {Detect: []string{"email"}, With: "partial",
			Columns: []ColumnRule{{Match: "customers.ssn"}},
			Custom:  []Custom{{Name: "emp", Regex: `EMP-[0-9]{6}`}}},
		"pci": {Detect: []string{"email", "credit_card"}, With: "redact",
			Columns: []ColumnRule{{Match: "*.ssn", With: "null"}, {Match: "CUSTOMERS.SSN", With: "hash"}},
			Custom:  []Custom{{Name: "emp", Regex: `EMP-[0-9]{6}`}, {Name: "badge", Regex: `B[0-9]{4}`}}},
		"other": {Custom: []Custom{{Name: "emp", Regex: `E[0-9]{8}`}}},
	}
	if _, err := Compile(profiles, []string{"pii", "nope"}, testKey); !errors.Is(err, ErrUnknownProfile) || err.Error() != "masking.nope: unknown masking profile" {
		t.Errorf("unknown profile: got %v", err)
	}
	if _, err := Compile(profiles, []string{"bad name"}, testKey); err == nil {
		t.Errorf("unknown profile with a bad name: no error")
	}
	if err := Validate("bad.name", profiles["pii"]); err == nil || !strings.HasPrefix(err.Error(), `masking: invalid profile name "bad.name"`) {
		t.Errorf("bad profile name: got %v", err)
	}

	empty, err := Compile(profiles, nil, testKey)
	if err != nil || !empty.Empty() || empty.HasDetectors() {
		t.Fatalf("no names: got %v, empty %v", err, empty.Empty())
	}
	var nilMasker *Masker
	if !nilMasker.Empty() || nilMasker.HasDetectors() {
		t.Errorf("nil Masker is not empty")
	}
	if out, changed, _ := nilMasker.Text(nil, []byte("a@example.com"), nil); changed || out != nil {
		t.Errorf("nil Masker changed a value")
	}

	m, err := Compile(profiles, []string{"pii", "pci", "pii", "other"}, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if m.Empty() || !m.HasDetectors() {
		t.Fatalf("combined masker is empty")
	}
	var hits Hits
	// email: pii came first, so partial; credit_card only in pci: redact;
	// emp defined the same way twice counts once, and other's emp with a
	// different regex also runs under the same name.
	out, _, _ := m.Text(nil, []byte("bob@example.com 4242424242424242 EMP-123456 E12345678 B1234"), &hits)
	if want := "b***@example.com [REDACTED:credit_card] ***-**3456 [REDACTED:emp] [REDACTED:badge]"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	// The first column rule wins: pii's customers.ssn (redact) before pci's.
	c, ok := m.Column("public", "customers", "SSN")
	if !ok {
		t.Fatal("customers.ssn: no rule")
	}
	if out, isNull := m.Value(nil, []byte("123-45-6789"), c, &hits); isNull || string(out) != "[REDACTED]" {
		t.Errorf("customers.ssn: got %q, %v", out, isNull)
	}
	c, _ = m.Column("public", "staff", "ssn")
	if _, isNull := m.Value(nil, []byte("123-45-6789"), c, &hits); !isNull {
		t.Errorf("staff.ssn: not NULL")
	}
	var got []string
	for h := range hits.All() {
		got = append(got, fmt.Sprintf("%s=%d", h.Rule, h.Count))
		if h.Column != strings.Contains(h.Rule, "ssn") {
			t.Errorf("%s: Column is %v", h.Rule, h.Column)
		}
	}
	if want := []string{"credit_card=1", "email=1", "emp=2", "badge=1", "customers.ssn=1", "*.ssn=1"}; !slices.Equal(got, want) {
		t.Errorf("hits: got %v, want %v", got, want)
	}
	if hits.Total() != 7 {
		t.Errorf("total: got %d, want 7", hits.Total())
	}
	hits.Reset()
	if hits.Total() != 0 {
		t.Errorf("after Reset: total %d", hits.Total())
	}
}

func TestRequiredLiteral(t *testing.T) {
	tests := []struct{ re, want string }{
		{`EMP-[0-9]{6}`, "EMP-"},
		{`[0-9]{3}-SECRET-[a-z]+`, "-SECRET-"},
		{`(?:ab)+c`, "ab"},
		{`(?i)emp-[0-9]+`, ""},
		{`foo|bar`, ""},
		{`x?[0-9]+`, ""},
		{`(EMP)-\d{6}`, "EMP"},
	}
	for _, tt := range tests {
		r, err := compileCustom(tt.re)
		if err != nil {
			t.Fatalf("%s: %v", tt.re, err)
		}
		if string(r.lit) != tt.want {
			t.Errorf("%s: got %q, want %q", tt.re, r.lit, tt.want)
		}
	}
}
