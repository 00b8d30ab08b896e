// Package console serves gatehouse's web console: server-rendered pages,
// without JavaScript, for people who approve reviews and audit sessions in
// a browser. It is mounted under /console/ on the API listener.
//
// The console is a thin HTML client of the JSON API, in process: every
// page is rendered from what the API's own handler answers to a request
// carrying the signed-in user's token as "Authorization: Bearer". It holds
// no data and decides nothing about authorization; a page or action is
// allowed exactly when the API allows it, and the API's refusal is shown.
//
// Signing in: a pasted gatehouse token, or an OIDC provider through the
// gateway's authorization code flow with PKCE, whose redirect comes back to
// /console/callback. The token then lives in the cookie gatehouse_console
// (HttpOnly, SameSite=Strict, Secure on TLS, expiring with the token) and
// never appears in a page.
//
// Requests that change anything are POSTs, and each needs both a CSRF token
// (an HMAC, under a key the server keeps, over the hash of the session's
// token, or over a per-browser nonce before sign-in) and an Origin or
// Referer of the console's own origin. Every response carries a strict
// Content-Security-Policy (no scripts at all), nosniff, no caching and no
// framing.
//
// Origins: the console trusts a request's Host only when it is
// gateway.public_url's host, a loopback name or address, or the address
// the connection came in on; behind any other name it asks for
// gateway.public_url, so that no redirect or sign-in is ever built from a
// Host header an attacker chose (DNS rebinding included).
package console
