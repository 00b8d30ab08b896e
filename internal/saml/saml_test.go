package saml_test

import (
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-dev/gatehouse/internal/saml"
)

// setup starts an IdP, an SP registered with it, and signs alice in,
// returning what her browser would post to the ACS.
func setup(t *testing.T) (*testIdP, *saml.SP, *testClock, posted) {
	t.Helper()
	idp := StartIdP(t)
	clock := &testClock{}
	sp := NewSP(t, idp, saml.Config{Now: clock.Now})
	idp.Register(t, "gw", sp)
	authURL, err := sp.AuthnRequestURL("rs-1")
	if err != nil {
		t.Fatal(err)
	}
	return idp, sp, clock, idp.Login(t, authURL)
}

func TestLogin(t *testing.T) {
	_, sp, _, p := setup(t)
	if p.Action != testACSURL {
		t.Errorf("IdP posts to %q, want %q", p.Action, testACSURL)
	}
	a, err := sp.ParseResponse(p.Request())
	if err != nil {
		t.Fatalf("ParseResponse: %v", err)
	}
	if a.Identity != "alice@example.com" {
		t.Errorf("Identity = %q, want alice@example.com", a.Identity)
	}
	if want := []string{"dba", "dev"}; !slices.Equal(a.Groups, want) {
		t.Errorf("Groups = %q, want %q", a.Groups, want)
	}
	if a.RelayState != "rs-1" {
		t.Errorf("RelayState = %q, want rs-1", a.RelayState)
	}
	if d := time.Since(a.IssuedAt); d < -time.Minute || d > time.Minute {
		t.Errorf("IssuedAt = %v, want about now", a.IssuedAt)
	}
}

func TestLoginRSAEncrypted(t *testing.T) {
	// With an RSA key the SP metadata offers an encryption key, and the
	// IdP encrypts the (signed) assertion.
	idp := StartIdP(t)
	key := mustRSA(t)
	sp := NewSP(t, idp, saml.Config{Key: key, Certificate: MustCert(t, key, "rsa sp")})
	idp.Register(t, "gw", sp)
	authURL, err := sp.AuthnRequestURL("")
	if err != nil {
		t.Fatal(err)
	}
	p := idp.Login(t, authURL)
	if !strings.Contains(p.XML(t), "EncryptedAssertion") {
		t.Fatal("IdP did not encrypt the assertion")
	}
	a, err := sp.ParseResponse(p.Request())
	if err != nil {
		t.Fatalf("ParseResponse: %v", err)
	}
	if a.Identity != "alice@example.com" {
		t.Errorf("Identity = %q, want alice@example.com", a.Identity)
	}
}

func TestIdentityAttribute(t *testing.T) {
	idp := StartIdP(t)
	sp := NewSP(t, idp, saml.Config{IdentityAttribute: "uid"})
	idp.Register(t, "gw", sp)
	authURL, err := sp.AuthnRequestURL("")
	if err != nil {
		t.Fatal(err)
	}
	a, err := sp.ParseResponse(idp.Login(t, authURL).Request())
	if err != nil {
		t.Fatal(err)
	}
	if a.Identity != "alice" {
		t.Errorf("Identity = %q, want alice", a.Identity)
	}
}

func TestAuthnRequestURL(t *testing.T) {
	idp := StartIdP(t)
	sp := NewSP(t, idp, saml.Config{})
	s, err := sp.AuthnRequestURL("state")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for _, k := range []string{"SAMLRequest", "RelayState", "SigAlg", "Signature"} {
		if q.Get(k) == "" {
			t.Errorf("AuthnRequest URL has no %s", k)
		}
	}
	if _, err := sp.AuthnRequestURL(strings.Repeat("x", 81)); err == nil {
		t.Error("RelayState of 81 bytes accepted")
	}
}

func TestMetadata(t *testing.T) {
	idp := StartIdP(t)
	sp := NewSP(t, idp, saml.Config{})
	md, err := sp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`entityID="` + testEntityID + `"`, `Location="` + testACSURL + `"`, "HTTP-POST", `AuthnRequestsSigned="true"`, `WantAssertionsSigned="true"`, "X509Certificate"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("metadata lacks %s:\n%s", want, md)
		}
	}
	if strings.Contains(string(md), "HTTP-Artifact") {
		t.Error("metadata offers the artifact binding")
	}
}

func TestReplay(t *testing.T) {
	_, sp, _, p := setup(t)
	if _, err := sp.ParseResponse(p.Request()); err != nil {
		t.Fatal(err)
	}
	_, err := sp.ParseResponse(p.Request())
	wantReason(t, err, saml.ErrReplayed)
}

func TestRefused(t *testing.T) {
	tests := []struct {
		name string
		// sp returns the SP to post to; nil means the one alice signed in to.
		sp     func(t *testing.T, idp *testIdP, requestID string) *saml.SP
		edit   func(t *testing.T, idp *testIdP, xml string) string
		before func(clock *testClock)
		want   error
	}{
		{
			name: "unsigned assertion, signed response",
			edit: func(t *testing.T, idp *testIdP, xml string) string {
				return idp.resign(t, removeSignatures(t, xml, true, true))
			},
			want: saml.ErrUnsignedAssertion,
		},
		{
			name: "nothing signed",
			edit: func(t *testing.T, idp *testIdP, xml string) string {
				return removeSignatures(t, xml, true, true)
			},
			want: saml.ErrUnsignedAssertion,
		},
		{
			name: "assertion signature removed",
			edit: func(t *testing.T, idp *testIdP, xml string) string {
				// The Response signature covered it, so that breaks too.
				return removeSignatures(t, xml, false, true)
			},
			want: saml.ErrUnsignedAssertion,
		},
		{
			name: "tampered NameID",
			edit: func(t *testing.T, idp *testIdP, xml string) string {
				return mustReplace(t, xml, ">alice@example.com</saml:NameID>", ">mallory@example.com</saml:NameID>")
			},
			want: saml.ErrBadSignature,
		},
		{
			name: "tampered NameID, response signature removed",
			edit: func(t *testing.T, idp *testIdP, xml string) string {
				xml = removeSignatures(t, xml, true, false)
				return mustReplace(t, xml, ">alice@example.com</saml:NameID>", ">mallory@example.com</saml:NameID>")
			},
			want: saml.ErrBadSignature,
		},
		{
			name: "tampered group",
			edit: func(t *testing.T, idp *testIdP, xml string) string {
				return mustReplace(t, xml, ">dev<", ">admin<")
			},
			want: saml.ErrBadSignature,
		},
		{
			name: "signed by another key",
			edit: func(t *testing.T, idp *testIdP, xml string) string {
				other := &testIdP{key: mustRSA(t)}
				other.cert = MustCert(t, other.key, "other")
				return other.resign(t, removeSignatures(t, xml, true, false))
			},
			want: saml.ErrBadSignature,
		},
		{
			name: "wrong audience",
			sp: func(t *testing.T, idp *testIdP, requestID string) *saml.SP {
				sp := NewSP(t, idp, saml.Config{EntityID: "https://other.example.com/saml"})
				sp.ExpectRequestForTest(requestID)
				return sp
			},
			want: saml.ErrWrongAudience,
		},
		{
			name: "wrong recipient",
			sp: func(t *testing.T, idp *testIdP, requestID string) *saml.SP {
				sp := NewSP(t, idp, saml.Config{ACSURL: "https://gw2.example.com/api/v1/auth/saml/acs"})
				sp.ExpectRequestForTest(requestID)
				return sp
			},
			want: saml.ErrWrongRecipient,
		},
		{
			name: "wrong issuer",
			sp: func(t *testing.T, idp *testIdP, requestID string) *saml.SP {
				md := strings.Replace(string(idp.metadata), `entityID="`+idp.srv.URL+`/metadata"`, `entityID="https://idp.example.com"`, 1)
				sp := NewSP(t, idp, saml.Config{IdPMetadata: []byte(md)})
				sp.ExpectRequestForTest(requestID)
				return sp
			},
			want: saml.ErrWrongIssuer,
		},
		{
			name:   "expired",
			before: func(c *testClock) { c.Advance(4 * time.Minute) },
			want:   saml.ErrExpired,
		},
		{
			name:   "not yet valid",
			before: func(c *testClock) { c.Advance(-5 * time.Minute) },
			want:   saml.ErrNotYetValid,
		},
		{
			name: "unknown request",
			sp: func(t *testing.T, idp *testIdP, requestID string) *saml.SP {
				return NewSP(t, idp, saml.Config{})
			},
			want: saml.ErrUnknownRequest,
		},
		{
			name:   "request expired",
			before: func(c *testClock) { c.Advance(saml.RequestTTLForTest + time.Second) },
			want:   saml.ErrUnknownRequest,
		},
		{
			name: "unsolicited",
			edit: func(t *testing.T, idp *testIdP, xml string) string {
				return regexp.MustCompile(` InResponseTo="[^"]*"`).ReplaceAllString(xml, "")
			},
			want: saml.ErrUnknownRequest,
		},
		{
			name: "not XML",
			edit: func(t *testing.T, idp *testIdP, xml string) string { return "<samlp:Response" },
			want: saml.ErrMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp, sp, clock, p := setup(t)
			xml := p.XML(t)
			if tt.sp != nil {
				sp = tt.sp(t, idp, inResponseTo(t, xml))
			}
			if tt.edit != nil {
				p = p.WithXML(tt.edit(t, idp, xml))
			}
			if tt.before != nil {
				tt.before(clock)
			}
			a, err := sp.ParseResponse(p.Request())
			if a != nil {
				t.Fatalf("accepted: %+v", a)
			}
			wantReason(t, err, tt.want)
		})
	}
}

// TestUnsignedAssertionInSignedResponse checks the verifier's own decision,
// past the structural precheck: crewjam/saml accepts an unsigned assertion
// when the Response is signed, ParseResponse must not.
func TestUnsignedAssertionInSignedResponse(t *testing.T) {
	idp, sp, _, p := setup(t)
	xml := idp.resign(t, removeSignatures(t, p.XML(t), true, true))
	_, err := sp.VerifyForTest([]byte(xml), inResponseTo(t, xml), "")
	wantReason(t, err, saml.ErrUnsignedAssertion)
	// The unsigned assertion consumed nothing: the genuine response is
	// still accepted.
	if _, err := sp.ParseResponse(p.Request()); err != nil {
		t.Fatalf("genuine response after refused one: %v", err)
	}
}

func TestNotPOST(t *testing.T) {
	_, sp, _, p := setup(t)
	req := p.Request()
	req.Method = "GET"
	_, err := sp.ParseResponse(req)
	wantReason(t, err, saml.ErrMalformed)
}

func TestNew(t *testing.T) {
	idp := StartIdP(t)
	key := mustRSA(t)
	good := saml.Config{EntityID: testEntityID, ACSURL: testACSURL, IdPMetadata: idp.metadata, Key: key, Certificate: MustCert(t, key, "sp")}
	tests := []struct {
		name string
		edit func(*saml.Config)
	}{
		{"no entity ID", func(c *saml.Config) { c.EntityID = "" }},
		{"relative ACS", func(c *saml.Config) { c.ACSURL = "/acs" }},
		{"no key", func(c *saml.Config) { c.Key = nil }},
		{"no metadata", func(c *saml.Config) { c.IdPMetadata = nil }},
		{"SP metadata", func(c *saml.Config) {
			c.IdPMetadata = []byte(`<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>`)
		}},
	}
	if _, err := saml.New(good); err != nil {
		t.Fatalf("New(good): %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			if _, err := saml.New(cfg); err == nil {
				t.Error("New succeeded")
			}
		})
	}
}

func wantReason(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
	var re *saml.ResponseError
	if !errors.As(err, &re) || re.Reason != want {
		t.Fatalf("got %#v, want a *ResponseError with Reason %v", err, want)
	}
	if msg := err.Error(); strings.ContainsAny(msg, "<>") || strings.Contains(msg, "alice") || msg != "saml: "+want.Error() {
		t.Errorf("error text %q, want %q", msg, "saml: "+want.Error())
	}
}

func inResponseTo(t *testing.T, xml string) string {
	t.Helper()
	m := regexp.MustCompile(`<samlp:Response [^>]*InResponseTo="([^"]*)"`).FindStringSubmatch(xml)
	if m == nil {
		t.Fatalf("no InResponseTo in %s", xml)
	}
	return m[1]
}

func mustReplace(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q not in %s", old, s)
	}
	return strings.Replace(s, old, new, 1)
}

// removeSignatures drops the ds:Signature of the Response and/or of its
// Assertion.
func removeSignatures(t *testing.T, xml string, response, assertion bool) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xml); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	drop := func(el *etree.Element) {
		for _, c := range el.ChildElements() {
			if c.Tag == "Signature" {
				el.RemoveChild(c)
				return
			}
		}
		t.Fatalf("no Signature in %s", el.Tag)
	}
	if response {
		drop(root)
	}
	if assertion {
		drop(root.SelectElement("Assertion"))
	}
	s, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// resign signs the (unsigned) Response in xml with ti's key, placing the
// signature after the Issuer as the schema wants.
func (ti *testIdP) resign(t *testing.T, xml string) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xml); err != nil {
		t.Fatal(err)
	}
	ctx, err := dsig.NewSigningContext(ti.key, [][]byte{ti.cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	sig, err := ctx.ConstructSignature(root, true)
	if err != nil {
		t.Fatal(err)
	}
	root.InsertChildAt(root.SelectElement("Issuer").Index()+1, sig)
	s, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConcurrentPosts(t *testing.T) {
	_, sp, _, p := setup(t)
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := sp.ParseResponse(p.Request())
			errs <- err
		}()
	}
	ok := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case errors.Is(err, saml.ErrReplayed), errors.Is(err, saml.ErrUnknownRequest):
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d posts of one response accepted, want 1", ok)
	}
}

func TestReplayToFreshRequest(t *testing.T) {
	// A response accepted once stays refused even if its request were
	// pending again.
	_, sp, _, p := setup(t)
	if _, err := sp.ParseResponse(p.Request()); err != nil {
		t.Fatal(err)
	}
	sp.ExpectRequestForTest(inResponseTo(t, p.XML(t)))
	_, err := sp.ParseResponse(p.Request())
	wantReason(t, err, saml.ErrReplayed)
}
