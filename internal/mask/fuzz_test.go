package mask

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var redactToken = regexp.MustCompile(`\[REDACTED:[a-z0-9_]+\]`)

// FuzzText checks, for any value: no panic with any transform; the input is
// never modified; no match means no change and nothing appended; redact
// keeps every byte outside the matches and, with the built-in detectors, is
// idempotent (a masked value has nothing left to mask; a custom regex can
// match anything, "[REDACTED:x]" included, so it is left out of that one);
// hash emits one token per hit.
func FuzzText(f *testing.F) {
	for _, s := range []string{
		"card 4242 4242 4242 4242 exp 12/27",
		"alice@example.com, +1 (415) 555-2671, 123-45-6789",
		"DE89 3704 0044 0532 0130 00 / 10.0.0.1 / AKIAIOSFODNN7EXAMPLE",
		"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n",
	} {
		f.Add([]byte(s))
	}
	ms := map[string]*Masker{}
	for _, with := range []string{"redact", "partial", "hash", "null"} {
		ms[with] = MustCompile(f, with)
	}
	builtin, err := Compile(map[string]Profile{"b": {Detect: allDetectors}}, []string{"b"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		orig := bytes.Clone(v)
		dst := []byte("dst:")
		var hits [4]Hits
		var outs [4][]byte
		var changes [4]bool
		for k, with := range []string{"redact", "partial", "hash", "null"} {
			out, changed, isNull := ms[with].Text(dst, v, &hits[k])
			if !bytes.Equal(v, orig) {
				t.Fatalf("%s modified its input", with)
			}
			if !bytes.HasPrefix(out, []byte("dst:")) {
				t.Fatalf("%s lost dst: %q", with, out)
			}
			if !changed && (len(out) != len(dst) || hits[k].Total() != 0 || isNull) {
				t.Fatalf("%s: unchanged but out %q, hits %d, null %v", with, out, hits[k].Total(), isNull)
			}
			if isNull != (with == "null" && changed) {
				t.Fatalf("%s: changed %v, isNull %v", with, changed, isNull)
			}
			outs[k], changes[k] = out[len(dst):], changed
		}
		if changes[0] != changes[1] || changes[0] != changes[2] || changes[0] != changes[3] {
			t.Fatalf("transforms disagree on whether %q has a match: %v", v, changes)
		}
		if !changes[0] {
			return
		}
		red := outs[0]
		// Bytes outside the matches are kept, in order.
		pieces := redactToken.Split(string(red), -1)
		rest := string(v)
		for i, p := range pieces {
			var j int
			switch {
			case i == 0 && !strings.HasPrefix(rest, p):
				t.Fatalf("redact of %q: output %q does not start like the input", v, red)
			case i == len(pieces)-1 && !strings.HasSuffix(rest, p):
				t.Fatalf("redact of %q: output %q does not end like the input", v, red)
			case i == 0:
				j = 0
			default:
				if rest == "" {
					t.Fatalf("redact of %q: more tokens than masked bytes in %q", v, red)
				}
				j = strings.Index(rest[1:], p) + 1 // each token stands for at least one byte
				if j <= 0 {
					t.Fatalf("redact of %q: %q is not in the input", v, p)
				}
			}
			rest = rest[j+len(p):]
		}
		if n := len(pieces) - 1 - len(redactToken.FindAllIndex(v, -1)); n != hits[0].Total() {
			t.Fatalf("redact of %q: %d tokens, %d hits", v, n, hits[0].Total())
		}
		if n := bytes.Count(outs[2], []byte("[HASH:")) - bytes.Count(v, []byte("[HASH:")); n != hits[2].Total() {
			t.Fatalf("hash of %q: %d new tokens, %d hits", v, n, hits[2].Total())
		}
		once, _, _ := builtin.Text(nil, v, nil)
		if again, changed, _ := builtin.Text(nil, once, nil); changed {
			t.Fatalf("redact is not idempotent:\n in    %q\n out   %q\n again %q", v, once, again)
		}
		if utf8.Valid(v) && !utf8.Valid(outs[1]) {
			t.Fatalf("partial of valid UTF-8 %q gave invalid UTF-8 %q", v, outs[1])
		}
	})
}

// FuzzGlob compares the column pattern matcher with a regexp.
func FuzzGlob(f *testing.F) {
	f.Add("*.card_*", "card_number")
	f.Add("a*b*c", "aXbYbZc")
	f.Add("*", "")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		got := glob(pattern, name)
		if !isASCII(pattern) || !isASCII(name) {
			return // regexp folds Unicode case; glob folds ASCII only
		}
		re := "(?is)^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
		if want := regexp.MustCompile(re).MatchString(name); got != want {
			t.Fatalf("glob(%q, %q): got %v, want %v", pattern, name, got, want)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// FuzzCustom runs arbitrary custom regexes: Compile either refuses them or
// the Masker masks without panicking and keeps the bytes around matches.
func FuzzCustom(f *testing.F) {
	f.Add(`EMP-[0-9]{6}`, []byte("id EMP-123456."))
	f.Add(`\bfoo\b|^x`, []byte("x foo foobar"))
	f.Add(`(?i)secret=\S+`, []byte("SECRET=abc Secret=def"))
	f.Fuzz(func(t *testing.T, expr string, v []byte) {
		p := Profile{Custom: []Custom{{Name: "c", Regex: expr}}}
		m, err := Compile(map[string]Profile{"p": p}, []string{"p"}, testKey)
		if err != nil {
			return
		}
		out, changed, _ := m.Text(nil, v, nil)
		if !changed {
			if m.customs[0].re.Match(v) && m.customs[0].re.FindIndex(v)[1] > m.customs[0].re.FindIndex(v)[0] {
				t.Fatalf("%q matches %q but nothing was masked", expr, v)
			}
			return
		}
		if !bytes.Contains(out, []byte("[REDACTED:c]")) {
			t.Fatalf("changed without a token: %q", out)
		}
	})
}
