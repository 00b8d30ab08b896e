package recording_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/recording"
)

func TestSignVerify(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	evs := makeEvents(t, "s-sign", 3)
	last := evs[2]
	sig := recording.Sign(key, "s-sign", last.Seq, last.Hash)

	tests := []struct {
		name    string
		pub     ed25519.PublicKey
		session string
		seq     uint64
		hash    string
		sig     string
		want    bool
	}{
		{"valid", pub, "s-sign", 3, last.Hash, sig, true},
		{"other key", otherPub, "s-sign", 3, last.Hash, sig, false},
		{"other session", pub, "s-sign2", 3, last.Hash, sig, false},
		{"earlier seq", pub, "s-sign", 2, last.Hash, sig, false},
		{"earlier hash (truncated session)", pub, "s-sign", 3, evs[1].Hash, sig, false},
		{"not base64", pub, "s-sign", 3, last.Hash, "!!" + sig[2:], false},
		{"short signature", pub, "s-sign", 3, last.Hash, sig[:20], false},
		{"empty signature", pub, "s-sign", 3, last.Hash, "", false},
		{"short public key", pub[:10], "s-sign", 3, last.Hash, sig, false},
		{"nil public key", nil, "s-sign", 3, last.Hash, sig, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := recording.VerifySignature(tt.pub, tt.session, tt.seq, tt.hash, tt.sig); got != tt.want {
				t.Errorf("VerifySignature = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("domain separated", func(t *testing.T) {
		// A signature over the raw hash bytes must not pass as a seal.
		raw := ed25519.Sign(key, []byte(last.Hash))
		if recording.VerifySignature(pub, "s-sign", 3, last.Hash, string(raw)) {
			t.Error("raw signature accepted")
		}
	})
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	path := filepath.Join(dir, "signing.pem")
	key, err := recording.LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode = %v, want 0600", got)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Errorf("key dir mode = %v, want 0700", got)
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pem, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Errorf("key file does not start with a PKCS #8 PEM block:\n%.40s", pem)
	}

	again, err := recording.LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !key.Equal(again) {
		t.Error("second LoadOrCreateKey returned a different key")
	}
	sig := recording.Sign(key, "s", 1, "h")
	if !recording.VerifySignature(again.Public().(ed25519.PublicKey), "s", 1, "h", sig) {
		t.Error("signature by created key does not verify with loaded key")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("key dir holds %d entries, want only the key", len(entries))
	}
}

func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing.pem")
	const n = 8
	keys := make([]ed25519.PrivateKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = recording.LoadOrCreateKey(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !keys[i].Equal(keys[0]) {
			t.Errorf("caller %d got a different key", i)
		}
	}
}

func TestLoadOrCreateKeyBadFile(t *testing.T) {
	const rsaKey = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"
	tests := []struct {
		name    string
		content string
	}{
		{"not PEM", "secret-looking-bytes"},
		{"wrong block type", rsaKey},
		{"bad DER", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "signing.pem")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := recording.LoadOrCreateKey(path)
			if err == nil {
				t.Fatal("LoadOrCreateKey succeeded on a bad key file")
			}
			if strings.Contains(err.Error(), "secret-looking") || strings.Contains(err.Error(), "AAAA") {
				t.Errorf("error shows key file content: %v", err)
			}
			// The bad file is left alone, not replaced by a new key.
			if b, _ := os.ReadFile(path); string(b) != tt.content {
				t.Error("bad key file was overwritten")
			}
		})
	}
}
