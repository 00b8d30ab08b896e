package saml

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	"github.com/jonboulle/clockwork"
	dsig "github.com/russellhaering/goxmldsig"
)

const (
	// clockSkew is how far NotBefore and NotOnOrAfter of an assertion's
	// Conditions may be off. crewjam/saml allows saml.MaxClockSkew (3
	// minutes) on its own checks; this one is stricter.
	clockSkew = time.Minute

	// requestTTL is how long an AuthnRequest this SP issued can be
	// answered: the time a person has to sign in at the IdP.
	requestTTL = 10 * time.Minute

	// maxRequests and maxSeen bound the memory of pending request IDs and
	// of consumed assertion and response IDs.
	maxRequests = 100_000
	maxSeen     = 100_000

	// maxResponseBytes caps the base64 SAMLResponse form value; real
	// responses are a few kilobytes.
	maxResponseBytes = 256 << 10
	// maxFormBytes caps the POST body ParseResponse reads when the caller
	// has not parsed the form yet.
	maxFormBytes = maxResponseBytes + 4<<10

	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
)

// Config configures a service provider.
type Config struct {
	// EntityID is the SP's entity ID, and the audience assertions must be
	// restricted to, e.g. https://gw.example.com/api/v1/auth/saml/metadata.
	EntityID string

	// ACSURL is the assertion consumer service URL the IdP posts responses
	// to, e.g. https://gw.example.com/api/v1/auth/saml/acs. Responses must
	// name it as their Destination and their assertions as Recipient.
	ACSURL string

	// IdPMetadata is the IdP's metadata XML: an EntityDescriptor, or an
	// EntitiesDescriptor holding exactly one IdP. It is trusted as given;
	// its signature, if any, is not checked.
	IdPMetadata []byte

	// Key signs AuthnRequests: an RSA or ECDSA key. Certificate is its
	// certificate, published in the SP metadata (a self-signed one will
	// do). With an RSA key the metadata also offers the certificate for
	// encryption, and encrypted assertions are decrypted with Key, which
	// must then be an *rsa.PrivateKey.
	Key         crypto.Signer
	Certificate *x509.Certificate

	// GroupsAttribute names the attribute (by Name or FriendlyName) whose
	// values are the person's groups. Empty: no groups.
	GroupsAttribute string

	// IdentityAttribute names the attribute (by Name or FriendlyName) whose
	// first value is the person's identity. Empty: the NameID, unless it
	// is transient, else the "email" or "mail" attribute.
	IdentityAttribute string

	// Now returns the current time. Nil: time.Now.
	Now func() time.Time
}

// SP is a SAML 2.0 service provider: it sends people to the IdP with the
// HTTP-Redirect binding and accepts the IdP's answer with the HTTP-POST
// binding. Its methods are safe for concurrent use.
//
// The IDs of the requests it issued and of the assertions it accepted are
// held in memory, so every AuthnRequestURL and ParseResponse of one login
// must reach the same SP.
type SP struct {
	cfg    Config
	now    func() time.Time
	acsURL url.URL
	engine crewjam.ServiceProvider // read-only after New; copied per response

	mu       sync.Mutex
	requests *expiringSet // IDs of AuthnRequests not yet answered
	seen     *expiringSet // "assertion:ID" and "response:ID" accepted
}

// Assertion is who signed in.
type Assertion struct {
	// Identity is the person's identity (see Config.IdentityAttribute).
	Identity string
	// Groups are the values of Config.GroupsAttribute, in order.
	Groups []string
	// RelayState is the RelayState posted with the response, as passed to
	// AuthnRequestURL if the IdP kept it. It is not covered by the IdP's
	// signature: treat it as input from the browser.
	RelayState string
	// IssuedAt is the assertion's IssueInstant.
	IssuedAt time.Time
}

// New returns a service provider for cfg. It does no I/O.
func New(cfg Config) (*SP, error) {
	if cfg.EntityID == "" {
		return nil, errors.New("saml: entity ID is empty")
	}
	acs, err := url.Parse(cfg.ACSURL)
	if err != nil || (acs.Scheme != "https" && acs.Scheme != "http") || acs.Host == "" {
		return nil, errors.New("saml: ACS URL must be an absolute http or https URL")
	}
	if cfg.Key == nil || cfg.Certificate == nil {
		return nil, errors.New("saml: key and certificate are required")
	}
	method, err := signatureMethod(cfg.Key.Public())
	if err != nil {
		return nil, err
	}
	idp, err := parseIdPMetadata(cfg.IdPMetadata)
	if err != nil {
		return nil, fmt.Errorf("saml: IdP metadata: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	sp := &SP{
		cfg:      cfg,
		now:      now,
		acsURL:   *acs,
		requests: newExpiringSet(maxRequests),
		seen:     newExpiringSet(maxSeen),
	}
	sp.engine = crewjam.ServiceProvider{
		EntityID:                         cfg.EntityID,
		Key:                              cfg.Key,
		Certificate:                      cfg.Certificate,
		AcsURL:                           *acs,
		IDPMetadata:                      idp,
		SignatureMethod:                  method,
		AssertionConsumerServiceBindings: []string{crewjam.HTTPPostBinding},
		AuthnNameIDFormat:                crewjam.UnspecifiedNameIDFormat,
		// Only SP-initiated logins: see the package documentation.
		AllowIDPInitiated:     false,
		RejectSHA1Signatures:  true,
		LimitRelayStateLength: true,
		Clock:                 dsig.NewFakeClock(funcClock{Clock: clockwork.NewRealClock(), now: now}),
		// Replays are refused by ParseResponse itself, after its own
		// checks, so that a refused response consumes nothing.
		ReplayCache: nil,
	}
	if sp.engine.GetSSOBindingLocation(crewjam.HTTPRedirectBinding) == "" {
		return nil, errors.New("saml: IdP metadata has no HTTP-Redirect SingleSignOnService")
	}
	return sp, nil
}

// Metadata returns the SP's metadata XML, for the IdP's administrator.
func (sp *SP) Metadata() ([]byte, error) {
	b, err := xml.MarshalIndent(sp.engine.Metadata(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("saml: marshal metadata: %w", err)
	}
	return append([]byte(xml.Header), b...), nil
}

// AuthnRequestURL returns the IdP URL to redirect the browser to: a signed
// AuthnRequest with the HTTP-Redirect binding, asking for the answer at
// Config.ACSURL with the HTTP-POST binding. relayState comes back with the
// response; it must be at most 80 bytes (SAML bindings §3.4.3), so pass a
// reference to state kept elsewhere, not the state itself. The request's ID
// is remembered for 10 minutes; a response must answer it.
func (sp *SP) AuthnRequestURL(relayState string) (string, error) {
	eng := sp.engine
	req, err := eng.MakeAuthenticationRequest(eng.GetSSOBindingLocation(crewjam.HTTPRedirectBinding), crewjam.HTTPRedirectBinding, crewjam.HTTPPostBinding)
	if err != nil {
		return "", fmt.Errorf("saml: make AuthnRequest: %w", err)
	}
	u, err := req.Redirect(relayState, &eng)
	if err != nil {
		return "", fmt.Errorf("saml: encode AuthnRequest: %w", err)
	}
	now := sp.now()
	sp.mu.Lock()
	// When full, the oldest pending request is forgotten: that login
	// fails, which is safe, rather than every new one.
	sp.requests.add(req.ID, now.Add(requestTTL), now)
	sp.mu.Unlock()
	return u.String(), nil
}

// ParseResponse verifies the SAMLResponse posted in r (HTTP-POST binding)
// and returns who signed in. It reads the form itself if r.PostForm is nil,
// at most 260 KiB of it. A refused response is a *ResponseError; see the
// package documentation for what is checked.
func (sp *SP) ParseResponse(r *http.Request) (*Assertion, error) {
	if r.Method != http.MethodPost {
		return nil, refuse(ErrMalformed, errors.New("not a POST"))
	}
	if r.PostForm == nil {
		r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return nil, refuse(ErrMalformed, errors.New("cannot read form"))
		}
	}
	encoded := r.PostForm.Get("SAMLResponse")
	if encoded == "" || len(encoded) > maxResponseBytes {
		return nil, refuse(ErrMalformed, errors.New("no SAMLResponse, or too long"))
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, refuse(ErrMalformed, errors.New("SAMLResponse is not base64"))
	}
	a, err := sp.parse(raw)
	if err != nil {
		return nil, err
	}
	a.RelayState = r.PostForm.Get("RelayState")
	return a, nil
}

func (sp *SP) parse(raw []byte) (*Assertion, error) {
	now := sp.now()
	requestID, responseID, err := sp.precheck(raw, now)
	if err != nil {
		return nil, err
	}
	return sp.verify(raw, requestID, responseID, now)
}

// verify has crewjam/saml verify the response, adds the checks it does not
// make, and consumes the IDs.
func (sp *SP) verify(raw []byte, requestID, responseID string, now time.Time) (*Assertion, error) {
	// The engine is copied so that this response gets its own verifier,
	// which records the assertions whose own signature it verified.
	eng := sp.engine
	verifier := &recordingVerifier{}
	eng.SignatureVerifier = verifier
	ca, err := eng.ParseXMLResponse(raw, []string{requestID}, sp.acsURL)
	if err != nil {
		return nil, classify(err)
	}
	// crewjam accepts an unsigned assertion inside a signed Response.
	if !verifier.signed(ca.ID) {
		return nil, refuse(ErrUnsignedAssertion, nil)
	}
	if c := ca.Conditions; c != nil {
		if !c.NotBefore.IsZero() && now.Before(c.NotBefore.Add(-clockSkew)) {
			return nil, refuse(ErrNotYetValid, nil)
		}
		if !c.NotOnOrAfter.IsZero() && !now.Before(c.NotOnOrAfter.Add(clockSkew)) {
			return nil, refuse(ErrExpired, nil)
		}
	}
	a, err := sp.assertion(ca)
	if err != nil {
		return nil, err
	}
	if err := sp.consume(requestID, responseID, ca, now); err != nil {
		return nil, err
	}
	return a, nil
}

// precheck reads what must be known before the response is verified: the
// request it answers (which must be pending) and its ID. It also refuses a
// plain assertion without a signature of its own, so that the common case
// of an unsigned assertion gets its own reason; the verifier decides in the
// end. Nothing read here is trusted: crewjam/saml checks it all again on
// what the signatures cover.
func (sp *SP) precheck(raw []byte, now time.Time) (requestID, responseID string, err error) {
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = false
	if err := doc.ReadFromBytes(raw); err != nil {
		return "", "", refuse(ErrMalformed, errors.New("invalid XML"))
	}
	root := doc.Root()
	if root == nil || root.Tag != "Response" || root.NamespaceURI() != nsProtocol {
		return "", "", refuse(ErrMalformed, errors.New("not a samlp:Response"))
	}
	requestID = root.SelectAttrValue("InResponseTo", "")
	responseID = root.SelectAttrValue("ID", "")
	if requestID == "" {
		return "", "", refuse(ErrUnknownRequest, errors.New("unsolicited response (no InResponseTo)"))
	}
	var assertionIDs []string
	for _, el := range root.ChildElements() {
		if el.Tag == "Assertion" && el.NamespaceURI() == nsAssertion {
			assertionIDs = append(assertionIDs, el.SelectAttrValue("ID", ""))
		}
	}
	sp.mu.Lock()
	// A replay is told apart from an unknown request: the request it
	// answered is no longer pending once it has been accepted.
	replayed := responseID != "" && sp.seen.has("response:"+responseID, now)
	for _, id := range assertionIDs {
		replayed = replayed || (id != "" && sp.seen.has("assertion:"+id, now))
	}
	pending := sp.requests.has(requestID, now)
	sp.mu.Unlock()
	if replayed {
		return "", "", refuse(ErrReplayed, nil)
	}
	if !pending {
		return "", "", refuse(ErrUnknownRequest, nil)
	}
	for _, el := range root.ChildElements() {
		if el.Tag != "Assertion" || el.NamespaceURI() != nsAssertion {
			continue
		}
		signed := false
		for _, c := range el.ChildElements() {
			if c.Tag == "Signature" && c.NamespaceURI() == dsig.Namespace {
				signed = true
			}
		}
		if !signed {
			return "", "", refuse(ErrUnsignedAssertion, nil)
		}
	}
	return requestID, responseID, nil
}

// consume records the assertion and response as used and the request as
// answered, or refuses them if any was already: all at once, so that two
// concurrent posts of one response cannot both succeed.
func (sp *SP) consume(requestID, responseID string, ca *crewjam.Assertion, now time.Time) error {
	if ca.ID == "" {
		return refuse(ErrMalformed, errors.New("assertion has no ID"))
	}
	// Keep the IDs for as long as crewjam/saml could still accept the
	// assertion: it refuses one whose IssueInstant is more than
	// saml.MaxIssueDelay old, whatever its NotOnOrAfter says (so an IdP's
	// distant NotOnOrAfter cannot pin entries). The skew and a minute more
	// cover the boundary.
	until := ca.IssueInstant.Add(crewjam.MaxIssueDelay + crewjam.MaxClockSkew + time.Minute)
	keys := []string{"assertion:" + ca.ID}
	if responseID != "" {
		keys = append(keys, "response:"+responseID)
	}

	sp.mu.Lock()
	defer sp.mu.Unlock()
	for _, k := range keys {
		if sp.seen.has(k, now) {
			return refuse(ErrReplayed, nil)
		}
	}
	if !sp.requests.has(requestID, now) {
		// Answered by a concurrent post, or expired meanwhile.
		return refuse(ErrUnknownRequest, nil)
	}
	// Evicting a live ID would let its assertion be replayed: refuse the
	// login instead. Only verified assertions get here, so filling the
	// set takes that many real logins within a few minutes.
	if sp.seen.full(now) || len(sp.seen.h)+len(keys) > sp.seen.max {
		return refuse(ErrTooManyLogins, nil)
	}
	sp.requests.remove(requestID)
	for _, k := range keys {
		sp.seen.add(k, until, now)
	}
	return nil
}

// assertion extracts identity and groups from a verified assertion.
func (sp *SP) assertion(ca *crewjam.Assertion) (*Assertion, error) {
	a := &Assertion{IssuedAt: ca.IssueInstant}
	if name := sp.cfg.IdentityAttribute; name != "" {
		if v := attributeValues(ca, name); len(v) > 0 {
			a.Identity = v[0]
		}
	} else {
		if s := ca.Subject; s != nil && s.NameID != nil && s.NameID.Format != string(crewjam.TransientNameIDFormat) {
			a.Identity = strings.TrimSpace(s.NameID.Value)
		}
		for _, name := range []string{"email", "mail"} {
			if a.Identity != "" {
				break
			}
			if v := attributeValues(ca, name); len(v) > 0 {
				a.Identity = v[0]
			}
		}
	}
	if a.Identity == "" {
		return nil, refuse(ErrNoIdentity, nil)
	}
	if name := sp.cfg.GroupsAttribute; name != "" {
		a.Groups = attributeValues(ca, name)
	}
	return a, nil
}

// attributeValues returns the non-empty values of the attributes named name
// (by Name or FriendlyName), in order.
func attributeValues(ca *crewjam.Assertion, name string) []string {
	var values []string
	for _, st := range ca.AttributeStatements {
		for _, attr := range st.Attributes {
			if attr.Name != name && attr.FriendlyName != name {
				continue
			}
			for _, v := range attr.Values {
				if s := strings.TrimSpace(v.Value); s != "" {
					values = append(values, s)
				}
			}
		}
	}
	return values
}

// recordingVerifier verifies signatures as crewjam/saml would and records
// the IDs of the assertions whose own signature it verified. crewjam calls
// it for every signature it checks; it is used for one response only.
type recordingVerifier struct {
	mu         sync.Mutex
	assertions []string
}

var _ crewjam.SignedElementVerifier = (*recordingVerifier)(nil)

func (v *recordingVerifier) VerifySignature(vc *dsig.ValidationContext, el *etree.Element) error {
	_, err := v.VerifySignedElement(vc, el)
	return err
}

func (v *recordingVerifier) VerifySignedElement(vc *dsig.ValidationContext, el *etree.Element) (*etree.Element, error) {
	signed, err := vc.Validate(el)
	if err != nil {
		// As crewjam does when the signature names no certificate: try
		// each trusted IdP certificate on its own (key rollover).
		store, ok := vc.CertificateStore.(*dsig.MemoryX509CertificateStore)
		if !ok || len(store.Roots) < 2 {
			return nil, err
		}
		for _, cert := range store.Roots {
			one := *vc
			one.CertificateStore = &dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}}
			if s, e := one.Validate(el); e == nil {
				signed, err = s, nil
				break
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if signed.Tag == "Assertion" && signed.NamespaceURI() == nsAssertion {
		v.mu.Lock()
		v.assertions = append(v.assertions, signed.SelectAttrValue("ID", ""))
		v.mu.Unlock()
	}
	return signed, nil
}

func (v *recordingVerifier) signed(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, a := range v.assertions {
		if a != "" && a == id {
			return true
		}
	}
	return false
}

// funcClock is a clockwork.Clock whose Now is a func.
type funcClock struct {
	clockwork.Clock
	now func() time.Time
}

func (c funcClock) Now() time.Time { return c.now() }

func signatureMethod(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return dsig.RSASHA256SignatureMethod, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return dsig.ECDSASHA256SignatureMethod, nil
		case elliptic.P384():
			return dsig.ECDSASHA384SignatureMethod, nil
		case elliptic.P521():
			return dsig.ECDSASHA512SignatureMethod, nil
		}
	}
	return "", errors.New("saml: key must be RSA or ECDSA (P-256, P-384, P-521)")
}

// parseIdPMetadata reads an EntityDescriptor, or an EntitiesDescriptor
// holding exactly one entity with an IDPSSODescriptor.
func parseIdPMetadata(data []byte) (*crewjam.EntityDescriptor, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty")
	}
	var root struct{ XMLName xml.Name }
	if err := xml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	var idp *crewjam.EntityDescriptor
	switch root.XMLName.Local {
	case "EntityDescriptor":
		var ed crewjam.EntityDescriptor
		if err := xml.Unmarshal(data, &ed); err != nil {
			return nil, err
		}
		if len(ed.IDPSSODescriptors) > 0 {
			idp = &ed
		}
	case "EntitiesDescriptor":
		var eds crewjam.EntitiesDescriptor
		if err := xml.Unmarshal(data, &eds); err != nil {
			return nil, err
		}
		var found []*crewjam.EntityDescriptor
		var walk func(*crewjam.EntitiesDescriptor)
		walk = func(d *crewjam.EntitiesDescriptor) {
			for i := range d.EntityDescriptors {
				if len(d.EntityDescriptors[i].IDPSSODescriptors) > 0 {
					found = append(found, &d.EntityDescriptors[i])
				}
			}
			for i := range d.EntitiesDescriptors {
				walk(&d.EntitiesDescriptors[i])
			}
		}
		walk(&eds)
		if len(found) > 1 {
			return nil, fmt.Errorf("%d identity providers; want one", len(found))
		}
		if len(found) == 1 {
			idp = found[0]
		}
	default:
		return nil, fmt.Errorf("root element is %s, want EntityDescriptor", root.XMLName.Local)
	}
	if idp == nil {
		return nil, errors.New("no IDPSSODescriptor")
	}
	if idp.EntityID == "" {
		return nil, errors.New("no entityID")
	}
	return idp, nil
}
