package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// Cookie names. The session cookie holds the gatehouse token; the login
// cookie a nonce that keys the sign-in form's CSRF token; the OIDC cookie
// binds a sign-in's state to the browser that started it.
const (
	cookieSession = "gatehouse_console"
	cookieLogin   = "gatehouse_console_login"
	cookieOIDC    = "gatehouse_console_oidc"
)

// headers are set on every console response. Pages have no scripts, no
// inline styles and no frames; forms post only to the console itself.
//
// Referrer-Policy is same-origin rather than no-referrer: under
// no-referrer a browser sends "Origin: null" with a form's POST (Fetch
// standard, "append a request Origin header"), which would make the
// same-origin check refuse every form. With same-origin, no referrer
// ever leaves the console's origin, and its own POSTs carry their Origin.
var headers = map[string]string{
	"Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "same-origin",
	"Cache-Control":           "no-store",
	"X-Frame-Options":         "DENY",
}

func setHeaders(h http.Header) {
	for k, v := range headers {
		h.Set(k, v)
	}
}

// csrfToken is the token a signed-in browser's forms carry: an HMAC over
// the hash of the session's gatehouse token. It changes with the token,
// needs no state on the server, and cannot be computed without the key.
func (c *Console) csrfToken(sessionToken string) string {
	sum := sha256.Sum256([]byte(sessionToken))
	return c.mac("session", sum[:])
}

// loginCSRF is the token the sign-in forms carry before there is a
// session: an HMAC over the browser's login nonce (cookieLogin).
func (c *Console) loginCSRF(nonce string) string {
	return c.mac("login", []byte(nonce))
}

func (c *Console) mac(purpose string, msg []byte) string {
	m := hmac.New(sha256.New, c.Key)
	m.Write([]byte("gatehouse console csrf v1\x00" + purpose + "\x00"))
	m.Write(msg)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validCSRF compares a form's token with the expected one in constant time.
func validCSRF(got, want string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(want))
}

// newNonce returns 128 random bits in hex.
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// cookieSafe reports whether v may go into a cookie as it is: gatehouse
// tokens, nonces and states are URL-safe base64 or hex.
func cookieSafe(v string) bool {
	if v == "" || len(v) > 512 {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// origin is a scheme and a host with an explicit port, as compared here.
type origin struct {
	scheme, host, port string
}

func (o origin) String() string {
	if o.port == defaultPort(o.scheme) {
		return o.scheme + "://" + hostForURL(o.host)
	}
	return o.scheme + "://" + net.JoinHostPort(o.host, o.port)
}

func (o origin) valid() bool { return o.scheme != "" && o.host != "" }

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

func hostForURL(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

// parseHost splits a Host header or URL host into a lower-case host and a
// port, the scheme's default when absent.
func parseHost(hostport, scheme string) (host, port string) {
	hostport = strings.ToLower(hostport)
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else {
		host, port = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), defaultPort(scheme)
	}
	if host == "" || port == "" || strings.ContainsAny(host, "/\\@?#% ") {
		return "", ""
	}
	return host, port
}

// parseOrigin parses a URL (an Origin or Referer header, public_url) into
// its origin; the zero origin when it has none.
func parseOrigin(s string) origin {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
		return origin{}
	}
	h, p := parseHost(u.Host, u.Scheme)
	return origin{u.Scheme, h, p}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// arrivedAt reports whether host:port is the local address the request's
// connection came in on (http.LocalAddrContextKey).
func arrivedAt(ctx context.Context, host, port string) bool {
	la, ok := ctx.Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	lh, lp, err := net.SplitHostPort(la.String())
	if err != nil || lp != port {
		return false
	}
	a, b := net.ParseIP(host), net.ParseIP(lh)
	return a != nil && b != nil && a.Equal(b)
}

// trusted reports whether o names this gateway's API listener without
// relying on anything an attacker could choose: gateway.public_url, a
// loopback host, or the address the request's connection arrived at.
func trusted(ctx context.Context, o origin, public origin) bool {
	switch {
	case !o.valid():
		return false
	case public.valid() && o == public:
		return true
	case isLoopback(o.host):
		return true
	}
	return arrivedAt(ctx, o.host, o.port)
}

// requestOrigin is the origin the browser used for r, and whether the
// console trusts it. Through public_url's host, public_url's scheme
// counts (a proxy in front may end TLS); elsewhere, TLS on the listener
// decides.
func (c *Console) requestOrigin(r *http.Request) (origin, bool) {
	scheme := "http"
	if r.TLS != nil || c.TLS {
		scheme = "https"
	}
	pub := c.public()
	if pub.valid() {
		if h, p := parseHost(r.Host, pub.scheme); h == pub.host && p == pub.port {
			return pub, true
		}
	}
	h, p := parseHost(r.Host, scheme)
	o := origin{scheme, h, p}
	return o, trusted(r.Context(), o, pub)
}

func (c *Console) public() origin {
	if c.PublicURL == "" {
		return origin{}
	}
	return parseOrigin(strings.TrimRight(c.PublicURL, "/"))
}

// sameOrigin reports whether a POST comes from a page of the console
// itself: its Origin header, or without one its Referer, must be the
// request's own (trusted) origin or public_url's. A request with neither
// is refused: every browser sends Origin with a form's POST.
func (c *Console) sameOrigin(r *http.Request) bool {
	own, ok := c.requestOrigin(r)
	if !ok {
		return false
	}
	var from origin
	switch o, ref := r.Header.Get("Origin"), r.Header.Get("Referer"); {
	case o != "":
		from = parseOrigin(o)
	case ref != "":
		from = parseOrigin(ref)
	default:
		return false
	}
	return from.valid() && (from == own || from == c.public())
}

// secure reports whether cookies for r get the Secure flag: whenever the
// browser reached the console over https.
func (c *Console) secure(r *http.Request) bool {
	o, _ := c.requestOrigin(r)
	return r.TLS != nil || c.TLS || o.scheme == "https"
}

// callbackURL is where an identity provider sends the browser back to:
// the console's callback on the origin the browser uses.
func (c *Console) callbackURL(r *http.Request) (string, bool) {
	o, ok := c.requestOrigin(r)
	if !ok {
		return "", false
	}
	return o.String() + CallbackPath, true
}

// AllowedCallback reports whether a browser sign-in may send its code to
// u as a console sign-in: u must be the console's callback on an origin
// the console trusts for the API request whose context is ctx (see
// requestOrigin): public_url's, a loopback host's, or the very address the
// request arrived at, with the listener's scheme. The gateway checks
// redirect URIs with it, so that a sign-in started by anyone can only end
// at this gateway's own console.
func AllowedCallback(ctx context.Context, u *url.URL, publicURL string, tls bool) bool {
	if u == nil || u.Path != CallbackPath || u.RawPath != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	o := parseOrigin(u.String())
	if !o.valid() {
		return false
	}
	pub := origin{}
	if publicURL != "" {
		pub = parseOrigin(strings.TrimRight(publicURL, "/"))
	}
	if pub.valid() && o == pub || isLoopback(o.host) {
		return true
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return o.scheme == scheme && arrivedAt(ctx, o.host, o.port)
}

// safeNext returns next when it is a path inside the console, else the
// console's start page: a sign-in never sends the browser elsewhere.
func safeNext(next string) string {
	const fallback = Prefix
	if next == "" || len(next) > 2000 || !strings.HasPrefix(next, Prefix) || strings.ContainsAny(next, "\\\x00\r\n\t") {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return fallback
	}
	if clean := path.Clean(u.Path); clean+"/" != Prefix && !strings.HasPrefix(clean, Prefix) {
		return fallback
	}
	if u.Path == loginPath || u.Path == CallbackPath || u.Path == logoutPath {
		return fallback
	}
	// Written anew, so that what goes into a Location header or a refresh
	// is plainly encoded.
	out := &url.URL{Path: u.Path, RawQuery: u.Query().Encode()}
	return out.String()
}

// setCookie sets a cookie for the console with the flags every console
// cookie has: HttpOnly, Secure over https, and sameSite. An empty value
// deletes it; a zero expiry makes it last as long as the browser session.
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value, cpath string, sameSite http.SameSite, expires time.Time) {
	ck := &http.Cookie{
		Name: name, Value: value, Path: cpath,
		HttpOnly: true, Secure: c.secure(r), SameSite: sameSite,
	}
	switch {
	case value == "":
		ck.MaxAge = -1
		ck.Expires = time.Unix(1, 0)
	case !expires.IsZero():
		ck.Expires = expires.UTC()
		ck.MaxAge = max(1, int(time.Until(expires).Seconds()))
	}
	http.SetCookie(w, ck)
}

// cookie returns the value of a console cookie, or "" when it is absent
// or not well-formed.
func cookie(r *http.Request, name string) string {
	ck, err := r.Cookie(name)
	if err != nil || !cookieSafe(ck.Value) {
		return ""
	}
	return ck.Value
}
