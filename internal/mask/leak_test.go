package mask

import (
	"strings"
	"testing"
)

// Regression cases from a red-team review: values next to '(' or '+',
// and after escapes in JSON and COPY text, were missed.
func TestDetectorsAfterParenAndEscapes(t *testing.T) {
	m, err := Compile(map[string]Profile{"p": {Detect: []string{"credit_card", "us_ssn", "iban", "phone", "email"}}}, []string{"p"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		"(4242424242424242)", "(4242 4242 4242 4242)", "(123-45-6789)", "(GB82WEST12345698765432)",
		"(378282246310005,1)", "Key (c)=(4242 4242 4242 4242) already exists.", "+4242424242424242",
		`["note:\n4242 4242 4242 4242"]`, `x\t123-45-6789`, `card:\n4242424242424242`, `a\r\n5555555555554444`,
	} {
		out, changed, _ := m.Text(nil, []byte(in), nil)
		if !changed || strings.Contains(string(out), "4242424242") || strings.Contains(string(out), "6789") ||
			strings.Contains(string(out), "5555555555554444") || strings.Contains(string(out), "5698765432") || strings.Contains(string(out), "78282246310005") {
			t.Errorf("%q: got %q", in, out)
		}
	}
	// An escaped backslash before the letter is text, not an escape.
	if _, changed, _ := m.Text(nil, []byte(`\\n4242424242424242`), nil); changed {
		t.Error(`\\n followed by digits: the n is text, so the digits continue a word`)
	}
}
