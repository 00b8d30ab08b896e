package tunnel_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/tunnel"
)

const testFP = "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708"

func TestJoinTokenRoundTrip(t *testing.T) {
	token, secret, err := tunnel.NewJoinToken(testFP)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, "ghj_") {
		t.Errorf("token %q lacks the ghj_ prefix", token[:4])
	}
	if got, want := len(secret), 32; got != want {
		t.Errorf("secret length: got %d, want %d", got, want)
	}
	fp, got, err := tunnel.ParseJoinToken("  " + token + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if fp != testFP {
		t.Errorf("fingerprint: got %s, want %s", fp, testFP)
	}
	if !bytes.Equal(got, secret) {
		t.Error("secret differs after parsing")
	}
	token2, secret2, err := tunnel.NewJoinToken(strings.ToUpper(testFP))
	if err != nil {
		t.Fatal(err)
	}
	if token2 == token || bytes.Equal(secret2, secret) {
		t.Error("two tokens share a secret")
	}
}

func TestNewJoinTokenBadFingerprint(t *testing.T) {
	for _, fp := range []string{"", "abc", testFP[:62], testFP + "00", strings.Repeat("zz", 32)} {
		if _, _, err := tunnel.NewJoinToken(fp); err == nil {
			t.Errorf("fingerprint %q: got nil error, want one", fp)
		}
	}
}

func TestParseJoinTokenErrors(t *testing.T) {
	good, _, err := tunnel.NewJoinToken(testFP)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimPrefix(good, "ghj_")
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	v2 := bytes.Clone(payload)
	v2[0] = 2
	tests := []struct {
		name    string
		token   string
		wantErr string
	}{
		{name: "empty", token: "", wantErr: "prefix"},
		{name: "no prefix", token: body, wantErr: "prefix"},
		{name: "other prefix", token: "ght_" + body, wantErr: "prefix"},
		{name: "truncated", token: good[:len(good)-1], wantErr: "length"},
		{name: "extended", token: good + "A", wantErr: "length"},
		{name: "bad alphabet", token: "ghj_" + strings.Repeat("*", len(body)), wantErr: "encoding"},
		{name: "padded std alphabet", token: "ghj_" + base64.StdEncoding.EncodeToString(payload)[:len(body)-1] + "=", wantErr: "encoding"},
		{name: "unknown version", token: "ghj_" + base64.RawURLEncoding.EncodeToString(v2), wantErr: "version 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := tunnel.ParseJoinToken(tt.token)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if len(body) > 8 && strings.Contains(err.Error(), body[8:20]) {
				t.Errorf("error leaks token text: %v", err)
			}
		})
	}
}

func FuzzParseJoinToken(f *testing.F) {
	good, _, err := tunnel.NewJoinToken(testFP)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Fuzz(func(t *testing.T, token string) {
		fp, secret, err := tunnel.ParseJoinToken(token)
		if err != nil {
			return
		}
		if len(fp) != 64 || len(secret) != 32 {
			t.Fatalf("accepted token gave fingerprint %d chars, secret %d bytes", len(fp), len(secret))
		}
		// What parses must be what a token for the same values encodes to.
		payload := append(append([]byte{1}, mustHex(t, fp)...), secret...)
		if want := "ghj_" + base64.RawURLEncoding.EncodeToString(payload); strings.TrimSpace(token) != want {
			t.Fatalf("token %q parsed but re-encodes as %q", token, want)
		}
	})
}
