package console

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestSafeNext(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "/console/"},
		{"console page", "/console/sessions", "/console/sessions"},
		{"with query", "/console/sessions?status=active&identity=a%20b", "/console/sessions?identity=a+b&status=active"},
		{"start page", "/console/", "/console/"},
		{"absolute URL", "https://evil.example/console/", "/console/"},
		{"scheme-relative", "//evil.example/console/", "/console/"},
		{"backslashes", "/console/\\evil.example", "/console/"},
		{"backslash host", "/\\evil.example/console/", "/console/"},
		{"outside the console", "/api/v1/tokens", "/console/"},
		{"dot-dot out", "/console/../api/v1/tokens", "/console/"},
		{"encoded dot-dot stays a path", "/console/%2e%2e/api", "/console/"},
		{"javascript", "javascript:alert(1)", "/console/"},
		{"newline", "/console/x\r\nSet-Cookie: a=b", "/console/"},
		{"tab", "/console/\t/evil", "/console/"},
		{"login loop", "/console/login", "/console/"},
		{"callback", "/console/callback?code=x", "/console/"},
		{"quotes are encoded", `/console/sessions?identity="><x`, "/console/sessions?identity=%22%3E%3Cx"},
		{"prefix lookalike", "/consolex/", "/console/"},
		{"console without slash", "/console", "/console/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := safeNext(tt.in); got != tt.want {
				t.Errorf("safeNext(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCSRFTokens(t *testing.T) {
	c := &Console{Key: bytes.Repeat([]byte{1}, 32)}
	other := &Console{Key: bytes.Repeat([]byte{2}, 32)}
	a, b := c.csrfToken("ght_aaa"), c.csrfToken("ght_bbb")
	if a == b || a == "" {
		t.Fatalf("tokens for two sessions: %q, %q; want distinct", a, b)
	}
	if a != c.csrfToken("ght_aaa") {
		t.Error("the token of one session changes")
	}
	if other.csrfToken("ght_aaa") == a {
		t.Error("the token does not depend on the key")
	}
	if strings.Contains(a, "aaa") {
		t.Errorf("token %q shows the session token", a)
	}
	if c.loginCSRF("n1") == c.csrfToken("n1") {
		t.Error("a login token works as a session token for the same input")
	}
	for _, tt := range []struct {
		got, want string
		ok        bool
	}{{a, a, true}, {"", "", false}, {b, a, false}, {a[:len(a)-1], a, false}} {
		if validCSRF(tt.got, tt.want) != tt.ok {
			t.Errorf("validCSRF(%q, %q): got %v, want %v", tt.got, tt.want, !tt.ok, tt.ok)
		}
	}
}

// request is a request to the console as it arrived on a connection to
// local, with a Host header and optional Origin and Referer.
func request(local, host, origin, referer string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://"+host+"/console/logout", nil)
	r.Host = host
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	if referer != "" {
		r.Header.Set("Referer", referer)
	}
	addr, _ := net.ResolveTCPAddr("tcp", local)
	return r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, addr))
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		name                   string
		public                 string
		local, host            string
		origin, referer        string
		want                   bool
		wantTrusted, wantTLSed bool
	}{
		{name: "loopback, own origin", local: "127.0.0.1:8080", host: "127.0.0.1:8080", origin: "http://127.0.0.1:8080", want: true, wantTrusted: true},
		{name: "localhost", local: "127.0.0.1:8080", host: "localhost:8080", origin: "http://localhost:8080", want: true, wantTrusted: true},
		{name: "referer only", local: "127.0.0.1:8080", host: "127.0.0.1:8080", referer: "http://127.0.0.1:8080/console/reviews/r_1", want: true, wantTrusted: true},
		{name: "neither", local: "127.0.0.1:8080", host: "127.0.0.1:8080", wantTrusted: true},
		{name: "Origin null", local: "127.0.0.1:8080", host: "127.0.0.1:8080", origin: "null", referer: "http://127.0.0.1:8080/console/", wantTrusted: true},
		{name: "foreign origin", local: "127.0.0.1:8080", host: "127.0.0.1:8080", origin: "https://evil.example", wantTrusted: true},
		{name: "foreign origin, own referer", local: "127.0.0.1:8080", host: "127.0.0.1:8080", origin: "https://evil.example", referer: "http://127.0.0.1:8080/console/", wantTrusted: true},
		{name: "other loopback port", local: "127.0.0.1:8080", host: "127.0.0.1:8080", origin: "http://127.0.0.1:9999", wantTrusted: true},
		{name: "https origin on http", local: "127.0.0.1:8080", host: "127.0.0.1:8080", origin: "https://127.0.0.1:8080", wantTrusted: true},
		{name: "rebound name", local: "127.0.0.1:8080", host: "evil.example:8080", origin: "http://evil.example:8080"},
		{name: "listener address", local: "10.0.0.5:8443", host: "10.0.0.5:8443", origin: "http://10.0.0.5:8443", want: true, wantTrusted: true},
		{name: "another address", local: "10.0.0.5:8443", host: "10.0.0.6:8443", origin: "http://10.0.0.6:8443"},
		{name: "a name for the listener", local: "10.0.0.5:8443", host: "gw.internal:8443", origin: "http://gw.internal:8443"},
		{name: "public_url", public: "https://gw.example.com/", local: "127.0.0.1:8080", host: "gw.example.com", origin: "https://gw.example.com", want: true, wantTrusted: true, wantTLSed: true},
		{name: "public_url with port", public: "https://gw.example.com:8443", local: "10.0.0.5:8443", host: "gw.example.com:8443", origin: "https://gw.example.com:8443", want: true, wantTrusted: true, wantTLSed: true},
		{name: "public_url, origin of another port", public: "https://gw.example.com", local: "127.0.0.1:8080", host: "gw.example.com", origin: "https://gw.example.com:444", wantTrusted: true, wantTLSed: true},
		{name: "public_url, plain origin", public: "https://gw.example.com", local: "127.0.0.1:8080", host: "gw.example.com", origin: "http://gw.example.com", wantTrusted: true, wantTLSed: true},
		{name: "public_url page posting to loopback", public: "https://gw.example.com", local: "127.0.0.1:8080", host: "127.0.0.1:8080", origin: "https://gw.example.com", want: true, wantTrusted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Console{PublicURL: tt.public}
			r := request(tt.local, tt.host, tt.origin, tt.referer)
			if got := c.sameOrigin(r); got != tt.want {
				t.Errorf("sameOrigin: got %v, want %v", got, tt.want)
			}
			if _, got := c.requestOrigin(r); got != tt.wantTrusted {
				t.Errorf("trusted: got %v, want %v", got, tt.wantTrusted)
			}
			if got := c.secure(r); got != tt.wantTLSed {
				t.Errorf("secure: got %v, want %v", got, tt.wantTLSed)
			}
		})
	}
}

func TestAllowedCallback(t *testing.T) {
	tests := []struct {
		name, public, local, redirect string
		tls                           bool
		want                          bool
	}{
		{name: "loopback", local: "127.0.0.1:8080", redirect: "http://127.0.0.1:8080/console/callback", want: true},
		{name: "loopback https", local: "127.0.0.1:8080", redirect: "https://localhost:8080/console/callback", tls: true, want: true},
		{name: "public_url", public: "https://gw.example.com", local: "127.0.0.1:8080", redirect: "https://gw.example.com/console/callback", want: true},
		{name: "public_url with a path", public: "https://gw.example.com/", local: "127.0.0.1:8080", redirect: "https://gw.example.com:443/console/callback", want: true},
		{name: "public_url, plain http", public: "https://gw.example.com", local: "127.0.0.1:8080", redirect: "http://gw.example.com/console/callback"},
		{name: "the listener's address", local: "10.0.0.5:8443", redirect: "https://10.0.0.5:8443/console/callback", tls: true, want: true},
		{name: "the listener's address, wrong scheme", local: "10.0.0.5:8443", redirect: "http://10.0.0.5:8443/console/callback", tls: true},
		{name: "elsewhere", local: "10.0.0.5:8443", redirect: "https://evil.example/console/callback", tls: true},
		{name: "another path", local: "127.0.0.1:8080", redirect: "http://127.0.0.1:8080/console/sessions"},
		{name: "a query", public: "https://gw.example.com", redirect: "https://gw.example.com/console/callback?x=1"},
		{name: "user info", public: "https://gw.example.com", redirect: "https://a@gw.example.com/console/callback"},
		{name: "fragment", public: "https://gw.example.com", redirect: "https://gw.example.com/console/callback#x"},
		{name: "encoded path", public: "https://gw.example.com", redirect: "https://gw.example.com/console%2Fcallback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.local != "" {
				addr, _ := net.ResolveTCPAddr("tcp", tt.local)
				ctx = context.WithValue(ctx, http.LocalAddrContextKey, addr)
			}
			u, err := url.Parse(tt.redirect)
			if err != nil {
				t.Fatal(err)
			}
			if got := AllowedCallback(ctx, u, tt.public, tt.tls); got != tt.want {
				t.Errorf("AllowedCallback(%s): got %v, want %v", tt.redirect, got, tt.want)
			}
		})
	}
}

func TestVisible(t *testing.T) {
	tests := []struct{ in, want string }{
		{"select 1", "select 1"},
		{"a\nb\tc", "a\nb\tc"},
		{"\x1b[31mred", `\x1b[31mred`},
		{"abc\u202edcba", `abc\u202edcba`},
		{"zero\u200bwidth", `zero\u200bwidth`},
		{"bad \xff byte", `bad \ufffd byte`},
		{"é and 日本", "é and 日本"},
	}
	for _, tt := range tests {
		if got := visible(tt.in); got != tt.want {
			t.Errorf("visible(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"r_8f2c0a1b": true, "s_0123abcd": true, "01HX": true,
		"": false, "..": false, ".x": false, "a/b": false, "a%2Fb": false, "a b": false, strings.Repeat("a", 129): false,
	} {
		if got := validID(id); got != want {
			t.Errorf("validID(%q): got %v, want %v", id, got, want)
		}
	}
}
