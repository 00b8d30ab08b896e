package saml_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crewjam/saml/samlidp"

	"github.com/gatehouse-dev/gatehouse/internal/saml"
)

const (
	testEntityID = "https://gw.example.com/api/v1/auth/saml/metadata"
	testACSURL   = "https://gw.example.com/api/v1/auth/saml/acs"
)

// testIdP is a samlidp server on httptest with an in-memory store.
type testIdP struct {
	srv      *httptest.Server
	key      *rsa.PrivateKey
	cert     *x509.Certificate
	metadata []byte
}

// StartIdP starts an IdP with one user, alice (password "wonderland"),
// whose email is alice@example.com and groups dba and dev.
func StartIdP(tb testing.TB) *testIdP {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	tb.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		tb.Fatal(err)
	}
	cert := MustCert(tb, key, "test idp")
	idp, err := samlidp.New(samlidp.Options{
		URL:         *u,
		Key:         key,
		Certificate: cert,
		Store:       &samlidp.MemoryStore{},
		Logger:      log.New(io.Discard, "", 0),
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv.Config.Handler = idp
	ti := &testIdP{srv: srv, key: key, cert: cert}
	ti.put(tb, "/users/alice", "application/json", mustJSON(tb, map[string]any{
		"password": "wonderland",
		"email":    "alice@example.com",
		"groups":   []string{"dba", "dev"},
	}))
	ti.metadata = ti.get(tb, "/metadata")
	return ti
}

// Register tells the IdP about sp.
func (ti *testIdP) Register(tb testing.TB, name string, sp *saml.SP) {
	tb.Helper()
	md, err := sp.Metadata()
	if err != nil {
		tb.Fatal(err)
	}
	ti.put(tb, "/services/"+name, "application/xml", md)
}

func (ti *testIdP) put(tb testing.TB, path, ctype string, body []byte) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPut, ti.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := ti.srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("PUT %s: %s: %s", path, resp.Status, b)
	}
}

func (ti *testIdP) get(tb testing.TB, path string) []byte {
	tb.Helper()
	resp, err := ti.srv.Client().Get(ti.srv.URL + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %v %s", path, err, resp.Status)
	}
	return b
}

// posted is what the IdP's auto-submitting form would post to the ACS.
type posted struct {
	Action       string
	SAMLResponse string // base64, as posted
	RelayState   string
}

// XML returns the decoded response.
func (p posted) XML(tb testing.TB) string {
	tb.Helper()
	b, err := base64.StdEncoding.DecodeString(p.SAMLResponse)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// WithXML returns p carrying xml instead.
func (p posted) WithXML(xml string) posted {
	p.SAMLResponse = base64.StdEncoding.EncodeToString([]byte(xml))
	return p
}

// Request is the POST the browser would send to the ACS.
func (p posted) Request() *http.Request {
	form := url.Values{"SAMLResponse": {p.SAMLResponse}, "RelayState": {p.RelayState}}
	req := httptest.NewRequest(http.MethodPost, p.Action, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

var (
	formActionRe = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	inputRe      = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)
)

// Login plays the browser: it follows authURL to the IdP, gets the login
// form, signs alice in, and returns what the IdP's auto-submitting answer
// form would post to the ACS.
//
// samlidp's login form posts the credentials back to /sso with the
// AuthnRequest but without its HTTP-Redirect signature, which samlidp then
// refuses because the SP metadata says AuthnRequests are signed. So the
// credentials go to samlidp's /login endpoint (same fields), which sets the
// IdP session cookie, and the browser follows authURL again, as after any
// IdP login page.
func (ti *testIdP) Login(tb testing.TB, authURL string) posted {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	resp, err := client.Get(authURL)
	if err != nil {
		tb.Fatal(err)
	}
	page := readPage(tb, resp)
	if !strings.Contains(page, `name="password"`) {
		tb.Fatalf("IdP did not ask for a password: %s", page)
	}
	resp, err = client.PostForm(ti.srv.URL+"/login", url.Values{"user": {"alice"}, "password": {"wonderland"}})
	if err != nil {
		tb.Fatal(err)
	}
	readPage(tb, resp)
	resp, err = client.Get(authURL)
	if err != nil {
		tb.Fatal(err)
	}
	page = readPage(tb, resp)
	action, fields := parseForm(tb, page)
	if fields.Get("SAMLResponse") == "" {
		tb.Fatalf("IdP answered without a SAMLResponse: %s", page)
	}
	return posted{Action: action, SAMLResponse: fields.Get("SAMLResponse"), RelayState: fields.Get("RelayState")}
}

func readPage(tb testing.TB, resp *http.Response) string {
	tb.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("%s %s: %s: %s", resp.Request.Method, resp.Request.URL.Path, resp.Status, b)
	}
	return string(b)
}

func parseForm(tb testing.TB, page string) (string, url.Values) {
	tb.Helper()
	m := formActionRe.FindStringSubmatch(page)
	if m == nil {
		tb.Fatalf("no form in %s", page)
	}
	fields := url.Values{}
	for _, in := range inputRe.FindAllStringSubmatch(page, -1) {
		fields.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	return html.UnescapeString(m[1]), fields
}

// testClock is a settable clock that starts at the real time.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// NewSP returns an SP trusting ti, with cfg's zero fields filled in.
func NewSP(tb testing.TB, ti *testIdP, cfg saml.Config) *saml.SP {
	tb.Helper()
	if cfg.EntityID == "" {
		cfg.EntityID = testEntityID
	}
	if cfg.ACSURL == "" {
		cfg.ACSURL = testACSURL
	}
	if cfg.IdPMetadata == nil {
		cfg.IdPMetadata = ti.metadata
	}
	if cfg.Key == nil {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		cfg.Key, cfg.Certificate = key, MustCert(tb, key, "test sp")
	}
	if cfg.GroupsAttribute == "" {
		cfg.GroupsAttribute = "eduPersonAffiliation"
	}
	sp, err := saml.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return sp
}

// MustCert returns a self-signed certificate for key.
func MustCert(tb testing.TB, key crypto.Signer, cn string) *x509.Certificate {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustRSA(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}
