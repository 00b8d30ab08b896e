package connector

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// maskKeyLen is the size of a new masking key.
const maskKeyLen = 32

// LoadOrCreateMaskKey returns the key of the masking hash transform kept in
// dataDir/mask.key, creating it (mode 0600) on first use. The key never
// leaves the connector: the same value then gives the same token in every
// session, and nobody without the key can compute a token.
func LoadOrCreateMaskKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, "mask.key")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(b) < maskKeyLen {
			return nil, fmt.Errorf("masking key %s: too short", path)
		}
		return b, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("masking key: %w", err)
	}
	b = make([]byte, maskKeyLen)
	rand.Read(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreateMaskKey(dataDir)
		}
		return nil, fmt.Errorf("masking key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("masking key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("masking key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("masking key: %w", err)
	}
	return b, nil
}
