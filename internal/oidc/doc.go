// Package oidc verifies tokens issued by OpenID Connect providers and runs
// the client side of the flows gatehouse uses to obtain them.
//
// # Verifying tokens
//
// A Provider stands for one issuer URL. It is created without I/O by New and
// fetches the issuer's discovery document
// (<issuer>/.well-known/openid-configuration) and its JSON Web Key Set
// (jwks_uri) on first use, or eagerly with Discover. The discovery document's
// issuer must equal the configured issuer byte for byte. Issuers and the
// endpoints they announce must use https; plain http is accepted only when
// Config.AllowLoopbackHTTP is set, the issuer itself is http, and the host
// is a loopback address (tests and local identity providers).
//
// Provider.Verify checks, in this order: the compact JWS structure (three
// strictly base64url-encoded parts, no "crit" or "b64" header), the "alg"
// header (RS256, RS384, RS512, PS256, ES256, ES384 or EdDSA; never "none",
// never an HMAC algorithm), the signature by a key from the issuer's JWKS
// selected by "kid", then "iss" (exactly the issuer), "aud" (contains the
// audience), "exp" (required, not past), "nbf" and "iat" (not in the
// future), the times with ClockSkew of tolerance. Claims are only looked at
// after the signature has been verified.
//
// Keys are cached. A token whose "kid" is not in the cache makes the
// Provider fetch the JWKS again, but at most once per
// Config.RefetchInterval, so that a client sending random key IDs cannot
// make gatehouse hammer the identity provider; concurrent callers share one
// fetch. A cache older than Config.KeysMaxAge is refetched as well, so that a
// key the provider has retired stops being trusted. Responses are read up to
// Config.MaxResponseBytes.
//
// Rejections are *TokenError values wrapping one of the sentinel errors
// (ErrMalformed, ErrAlgorithm, ErrUnknownKey, ErrBadSignature, ErrIssuer,
// ErrAudience, ErrExpired, ErrNotYetValid); test them with errors.Is. Their
// text never contains the token. Failing to reach the provider is a plain
// wrapped error: the token was not judged.
//
// # Workload trust rules
//
// Match decides whether verified claims satisfy a trust rule such as
// {repository: acme/*, ref: refs/heads/main}; see its documentation for
// the matching rules.
//
// # Client flows
//
// A Client (NewClient) drives the OAuth 2.0 device authorization grant
// (RFC 8628) for "gatehouse login" and the authorization code grant with
// PKCE S256 (RFC 7636) for "gatehouse login --browser" and the console. It
// returns the provider's tokens as they are; the ID token is verified by
// whoever accepts it, with Provider.Verify.
package oidc
