package oidc_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/oidctest"
)

// FuzzVerify feeds Verify arbitrary strings. The seeds in
// testdata/fuzz/FuzzVerify were signed by providers long gone, so they
// exercise parsing and rejection; the seeds added here are signed by this
// run's provider and valid. Verify must not panic, must accept only
// exactly what the provider signed, and must not echo the token.
func FuzzVerify(f *testing.F) {
	op := oidctest.Start(f)
	es := op.AddKey("ES256")
	ed := op.AddKey("EdDSA")
	claims := op.Claims(audience)
	claims["repository"] = "acme/deploy"
	claims["groups"] = []string{"a", "b"}
	f.Add(op.Sign(claims))
	f.Add(op.SignWith(oidctest.SignOptions{KID: es}, claims))
	f.Add(op.SignWith(oidctest.SignOptions{KID: ed}, claims))
	f.Add(op.SignWith(oidctest.SignOptions{NoKID: true}, claims))
	f.Add(op.SignNone(claims))
	f.Add(op.SignHS256WithPublicKey(claims))
	f.Add(op.SignWith(oidctest.SignOptions{Payload: []byte(`{"iss":1,"aud":[null],"exp":1e999}`)}, nil))

	p, err := oidc.New(oidc.Config{Issuer: op.Issuer(), AllowLoopbackHTTP: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := p.Verify(context.Background(), raw, audience)
		if err == nil {
			if !op.Minted(raw) {
				t.Fatalf("accepted a token the provider did not sign: %q", raw)
			}
			if c == nil || c.Issuer != op.Issuer() {
				t.Fatalf("accepted with claims %v", c)
			}
			return
		}
		var te *oidc.TokenError
		if !errors.As(err, &te) {
			t.Fatalf("got %v, want a TokenError (the provider is up)", err)
		}
		if len(raw) >= 20 && strings.Contains(err.Error(), raw) {
			t.Fatalf("error %q contains the token", err)
		}
	})
}
