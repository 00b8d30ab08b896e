package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/console"
)

// apiHandler returns the API listener's handler: the API, with the web
// console under /console/ calling back into it.
func (g *Gateway) apiHandler(srv *api.Server) http.Handler {
	c := &console.Console{
		Key:       g.consoleKey(),
		PublicURL: g.Config.Gateway.PublicURL,
		TLS:       g.Config.Gateway.TLS != nil,
		Logger:    g.Logger.With("component", "console"),
	}
	for _, p := range g.Config.Auth.OIDC {
		c.Providers = append(c.Providers, p.Name)
	}
	srv.Console = c
	h := srv.Handler()
	c.API = h
	return h
}

// consoleKey derives the console's CSRF key from the gateway's signing
// key: stable across restarts, and never the signing key itself.
func (g *Gateway) consoleKey() []byte {
	m := hmac.New(sha256.New, g.key.Seed())
	m.Write([]byte("gatehouse console csrf key v1"))
	return m.Sum(nil)
}
