// Package oidctest runs an OpenID provider inside a test process.
//
// Start serves, on a loopback httptest server, what package oidc and
// gatehouse's clients talk to, as real HTTP:
//
//	GET  /.well-known/openid-configuration   discovery
//	GET  /jwks                                the published signing keys
//	GET  /authorize                           authorization code flow: approves
//	                                          at once for the user set with
//	                                          SetUser, redirects with code+state
//	POST /token                               authorization_code (PKCE S256 is
//	                                          required and checked) and device_code
//	                                          grants
//	POST /device/code                         device authorization (RFC 8628)
//
// The issuer is the server's http://127.0.0.1:port URL, so an oidc.Provider
// for it needs AllowLoopbackHTTP.
//
// Tests drive the provider through methods: RotateKey, AddKey and RetireKey
// change the published keys; Sign, SignWith, SignNone and
// SignHS256WithPublicKey mint tokens, good or deliberately bad; ApproveDevice,
// DenyDevice and ExpireDevice settle a pending device authorization;
// SetDeviceInterval makes the token endpoint answer slow_down to clients
// that poll too fast; SetDiscoveryIssuer and PadJWKS misconfigure it;
// JWKSFetches and DiscoveryFetches count requests.
//
// Only the client "gatehouse" (ClientID, public, no secret) is registered
// at start; RegisterClient adds others.
//
// oidctest is for tests only; production code must not import it.
package oidctest
