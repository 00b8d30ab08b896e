package saml_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/saml"
)

// FuzzParseResponse posts arbitrary XML as the SAMLResponse. The SP expects
// a request with the ID "id-fuzz", which the seeds answer, so that inputs
// get past the request check; a genuine response from the IdP, already
// accepted once, is a seed too. Nothing may panic and nothing may be
// accepted: no input can carry a valid IdP signature over a fresh
// assertion.
func FuzzParseResponse(f *testing.F) {
	idp := StartIdP(f)
	sp := NewSP(f, idp, saml.Config{})
	idp.Register(f, "gw", sp)
	authURL, err := sp.AuthnRequestURL("rs")
	if err != nil {
		f.Fatal(err)
	}
	genuine := idp.Login(f, authURL)
	if _, err := sp.ParseResponse(genuine.Request()); err != nil {
		f.Fatalf("genuine response: %v", err)
	}
	f.Add([]byte(genuine.XML(f)))
	sp.ExpectRequestForTest("id-fuzz")

	f.Fuzz(func(t *testing.T, xml []byte) {
		form := url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(xml)}, "RelayState": {"rs"}}
		req := httptest.NewRequest(http.MethodPost, testACSURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		a, err := sp.ParseResponse(req)
		if err == nil {
			t.Fatalf("accepted %+v", a)
		}
		var re *saml.ResponseError
		if !errors.As(err, &re) {
			t.Fatalf("error %T %v, want *ResponseError", err, err)
		}
		if strings.ContainsAny(err.Error(), "<>") {
			t.Fatalf("error text %q quotes XML", err.Error())
		}
	})
}
