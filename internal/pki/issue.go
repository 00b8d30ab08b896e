package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"slices"
	"strings"
	"time"
)

// LoadOrIssueServer returns a server certificate for hosts (DNS names and IP
// addresses, without ports) kept in certFile and keyFile. The certificate is
// issued by the CA and written (certFile as a chain: leaf, then the CA root;
// keyFile with mode 0600) when the files are missing, unreadable, not issued
// by this CA, expiring within 30 days, or not covering every host. Otherwise
// the stored certificate is returned unchanged.
func (ca *CA) LoadOrIssueServer(certFile, keyFile string, hosts []string) (tls.Certificate, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, errors.New("issue server certificate: no hosts")
	}
	var (
		dnsNames []string
		ips      []net.IP
	)
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if h == "" || strings.ContainsAny(h, ":/ \t") {
			return tls.Certificate{}, fmt.Errorf("issue server certificate: host %q is neither a DNS name nor an IP address", h)
		}
		dnsNames = append(dnsNames, strings.ToLower(h))
	}

	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	switch {
	case err == nil:
		if ca.serverCertUsable(cert, dnsNames, ips) {
			return cert, nil
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		// A damaged pair is replaced: the CA can always issue a new one,
		// and nothing else depends on this particular certificate.
	}
	return ca.issueServer(certFile, keyFile, dnsNames, ips)
}

func (ca *CA) serverCertUsable(cert tls.Certificate, dnsNames []string, ips []net.IP) bool {
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return false
		}
	}
	if time.Until(leaf.NotAfter) < renewBefore {
		return false
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:     ca.pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return false
	}
	for _, d := range dnsNames {
		if !slices.Contains(leaf.DNSNames, d) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func (ca *CA) issueServer(certFile, keyFile string, dnsNames []string, ips []net.IP) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	cn := "gatehouse"
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	} else if len(ips) > 0 {
		cn = ips[0].String()
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"gatehouse"}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     ca.clampNotAfter(now.Add(serverValidity)),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	keyPEM, err := MarshalKeyPEM(key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	chainPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.certPEM...)
	if err := WriteFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("write server key: %w", err)
	}
	if err := WriteFileAtomic(certFile, chainPEM, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("write server certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load issued server certificate: %w", err)
	}
	return cert, nil
}

// SignClientCSR issues a client-authentication certificate for the public key
// in a DER-encoded certificate signing request, whose self-signature is
// checked. The certificate's CommonName is name, whatever the request asked
// for, and it is valid for ttl (but never beyond the CA). It returns the
// certificate's DER and its serial number in lowercase hex.
func (ca *CA) SignClientCSR(csrDER []byte, name string, ttl time.Duration) (certDER []byte, serial string, err error) {
	if name == "" {
		return nil, "", errors.New("sign client certificate: empty name")
	}
	if ttl <= 0 {
		return nil, "", fmt.Errorf("sign client certificate for %q: ttl %v is not positive", name, ttl)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, "", fmt.Errorf("sign client certificate for %q: parse request: %w", name, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, "", fmt.Errorf("sign client certificate for %q: request signature: %w", name, err)
	}
	if err := checkPublicKey(csr.PublicKey); err != nil {
		return nil, "", fmt.Errorf("sign client certificate for %q: %w", name, err)
	}
	sn, err := newSerial()
	if err != nil {
		return nil, "", fmt.Errorf("sign client certificate for %q: %w", name, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"gatehouse connector"}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     ca.clampNotAfter(now.Add(ttl)),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, "", fmt.Errorf("sign client certificate for %q: %w", name, err)
	}
	return der, sn.Text(16), nil
}

func (ca *CA) clampNotAfter(t time.Time) time.Time {
	if t.After(ca.cert.NotAfter) {
		return ca.cert.NotAfter
	}
	return t
}
