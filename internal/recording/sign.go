package recording

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

const sealDomain = "gatehouse.recording.seal.v1\x00"

func sealMessage(session string, lastSeq uint64, lastHash string) []byte {
	b := make([]byte, 0, len(sealDomain)+16+len(session)+len(lastHash))
	b = append(b, sealDomain...)
	b = appendField(b, session)
	b = binary.BigEndian.AppendUint64(b, lastSeq)
	return append(b, lastHash...)
}

// Sign returns the base64 (standard encoding) ed25519 signature by key over a
// session's last seq and hash, in the domain-separated form described in the
// package documentation.
func Sign(key ed25519.PrivateKey, session string, lastSeq uint64, lastHash string) string {
	sig := ed25519.Sign(key, sealMessage(session, lastSeq, lastHash))
	return base64.StdEncoding.EncodeToString(sig)
}

// VerifySignature reports whether sig is a signature made by [Sign] with the
// private key of pub over exactly this session, last seq and last hash. A
// malformed key or signature is reported as false.
func VerifySignature(pub ed25519.PublicKey, session string, lastSeq uint64, lastHash, sig string) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, sealMessage(session, lastSeq, lastHash), raw)
}

// LoadOrCreateKey returns the ed25519 key stored at path as a PEM "PRIVATE
// KEY" block (PKCS #8). When the file does not exist it creates a new key and
// writes it there with mode 0600 (and the directory with 0700 if missing).
// Concurrent callers, in one process or several, all end up with the same
// key: the file is written under a temporary name and linked into place only
// if no key is there yet.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	key, err := loadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := createKey(path); err != nil {
		return nil, err
	}
	return loadKey(path)
}

func loadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("read signing key %s: no PEM PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse signing key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("parse signing key %s: %T is not an ed25519 key", path, k)
	}
	return key, nil
}

func createKey(path string) (err error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode signing key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create key directory: %w", err)
	}
	// CreateTemp makes the file with mode 0600.
	f, err := os.CreateTemp(dir, ".signing-key-*")
	if err != nil {
		return fmt.Errorf("create signing key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("write signing key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write signing key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write signing key: %w", err)
	}
	// Link fails if another caller got there first; its key wins.
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("install signing key: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a directory's entries (a created, renamed or removed file)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
