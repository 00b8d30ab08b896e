package tunnel

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// JoinTokenPrefix starts every join token, so that one is recognisable in a
// configuration file or a secret scanner's report.
const JoinTokenPrefix = "ghj_"

const (
	joinTokenVersion = 1
	fingerprintSize  = 32 // SHA-256
	joinSecretSize   = 32
	joinPayloadSize  = 1 + fingerprintSize + joinSecretSize
)

// NewJoinToken returns a one-time join token that pins the CA with the given
// fingerprint (hex SHA-256, as pki.CA.Fingerprint returns) and carries a new
// random secret. The secret is returned separately: the caller stores only a
// hash of it and prints the token once.
//
// The token is "ghj_" followed by the unpadded base64url encoding of a
// version byte (1), the 32-byte fingerprint and the 32-byte secret.
func NewJoinToken(caFingerprint string) (token string, secret []byte, err error) {
	fp, err := hex.DecodeString(caFingerprint)
	if err != nil || len(fp) != fingerprintSize {
		return "", nil, errors.New("new join token: CA fingerprint is not a hex SHA-256")
	}
	secret = make([]byte, joinSecretSize)
	if _, err := rand.Read(secret); err != nil {
		return "", nil, fmt.Errorf("new join token: %w", err)
	}
	payload := make([]byte, 0, joinPayloadSize)
	payload = append(payload, joinTokenVersion)
	payload = append(payload, fp...)
	payload = append(payload, secret...)
	return JoinTokenPrefix + base64.RawURLEncoding.EncodeToString(payload), secret, nil
}

// ParseJoinToken splits a join token made by NewJoinToken into the pinned CA
// fingerprint (lowercase hex) and the secret. Surrounding white space is
// ignored. Its errors never include the token.
func ParseJoinToken(token string) (caFingerprint string, secret []byte, err error) {
	token = strings.TrimSpace(token)
	rest, ok := strings.CutPrefix(token, JoinTokenPrefix)
	if !ok {
		return "", nil, fmt.Errorf("parse join token: missing %q prefix", JoinTokenPrefix)
	}
	if len(rest) != base64.RawURLEncoding.EncodedLen(joinPayloadSize) {
		return "", nil, errors.New("parse join token: wrong length (was it copied whole?)")
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil || len(payload) != joinPayloadSize {
		return "", nil, errors.New("parse join token: malformed encoding")
	}
	if payload[0] != joinTokenVersion {
		return "", nil, fmt.Errorf("parse join token: unsupported version %d", payload[0])
	}
	fp := payload[1 : 1+fingerprintSize]
	secret = make([]byte, joinSecretSize)
	copy(secret, payload[1+fingerprintSize:])
	return hex.EncodeToString(fp), secret, nil
}
