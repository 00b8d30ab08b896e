// Package pki is gatehouse's internal certificate authority.
//
// The gateway keeps one self-signed root (ECDSA P-256, valid for ten years)
// in its data directory as ca.crt and ca.key (mode 0600). The root signs two
// kinds of leaf certificate:
//
//   - server certificates (ExtKeyUsageServerAuth) for the tunnel listener and
//     for the client-facing protocol listeners when no TLS certificate is
//     configured; they are written as a chain (leaf, then root) so that a
//     connector that pins the root by fingerprint can find it in the
//     handshake;
//   - client certificates (ExtKeyUsageClientAuth) for connectors, issued
//     from a certificate signing request whose key never leaves the
//     connector; the connector's name is the certificate's CommonName.
//
// The root is identified out of band by Fingerprint, the hex SHA-256 of its
// DER encoding, which join tokens carry.
//
// Private keys are written only to their key files; they never appear in
// errors or logs.
package pki
