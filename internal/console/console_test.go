package console_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/console"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// env is a real API server (apitest) with the console mounted on it, as
// the gateway wires them.
type env struct {
	api *apitest.Env
	srv *httptest.Server
}

// start starts the API with the console, over TLS when tlsOn, offering
// sign-in with providers.
func start(t *testing.T, tlsOn bool, providers ...string) *env {
	t.Helper()
	e := apitest.Start(t)
	c := &console.Console{Key: bytes.Repeat([]byte{7}, 32), TLS: tlsOn, Providers: providers}
	e.Server.Console = c
	h := e.Server.Handler()
	c.API = h
	srv := httptest.NewUnstartedServer(h)
	if tlsOn {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return &env{api: e, srv: srv}
}

// browser is a client with a cookie jar that does not follow redirects,
// so that tests see each answer.
type browser struct {
	t      *testing.T
	e      *env
	c      *http.Client
	tokens []string // must never appear in a page
}

func (e *env) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if tr, ok := e.srv.Client().Transport.(*http.Transport); ok {
		c.Transport = tr
	}
	return &browser{t: t, e: e, c: c}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, tok := range b.tokens {
		if strings.Contains(string(body), tok) {
			b.t.Errorf("%s %s: the page shows a token", req.Method, req.URL.Path)
		}
	}
	return page{resp.StatusCode, resp.Header, string(body)}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	return b.do(req)
}

// post sends a form as a browser would from a console page, with origin as
// its Origin header ("" for none).
func (b *browser) post(path, origin string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, p page) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page (status %d): %s", p.status, p.body)
	}
	return m[1]
}

// signIn signs in with a token through the sign-in form.
func (b *browser) signIn(token string) page {
	b.t.Helper()
	b.tokens = append(b.tokens, token)
	login := b.get("/console/login")
	p := b.post("/console/login", b.e.srv.URL, url.Values{"csrf": {csrfOf(b.t, login)}, "token": {token}, "next": {"/console/sessions"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/sessions" {
		b.t.Fatalf("sign-in: got %d to %q, want 303 to /console/sessions: %s", p.status, p.header.Get("Location"), p.body)
	}
	return p
}

func sessionCookie(t *testing.T, p page) *http.Cookie {
	t.Helper()
	for _, line := range p.header.Values("Set-Cookie") {
		ck, err := http.ParseSetCookie(line)
		if err == nil && ck.Name == "gatehouse_console" {
			return ck
		}
	}
	t.Fatalf("no gatehouse_console cookie set; Set-Cookie: %q", p.header.Values("Set-Cookie"))
	return nil
}

func TestTokenSignIn(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tlsOn], func(t *testing.T) {
			e := start(t, tlsOn)
			b := e.browser(t)
			if p := b.get("/console/sessions"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/login?next=%2Fconsole%2Fsessions" {
				t.Fatalf("signed out: got %d to %q, want the sign-in page", p.status, p.header.Get("Location"))
			}
			tok := e.api.Token(t, "alice", auth.KindPerson, "dba")
			ck := sessionCookie(t, b.signIn(tok))
			if ck.Value != tok || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Secure != tlsOn {
				t.Errorf("cookie: HttpOnly %v, SameSite %v, Path %q, Secure %v; want HttpOnly, Strict, /, Secure %v",
					ck.HttpOnly, ck.SameSite, ck.Path, ck.Secure, tlsOn)
			}
			if d := time.Until(ck.Expires); d < 59*time.Minute || d > time.Hour+time.Minute || ck.MaxAge < 3500 || ck.MaxAge > 3600 {
				t.Errorf("cookie expires in %v (Max-Age %d), want with the one-hour token", d, ck.MaxAge)
			}
			p := b.get("/console/sessions")
			if p.status != http.StatusOK || !strings.Contains(p.body, "alice") || !strings.Contains(p.body, "No sessions.") {
				t.Errorf("sessions after sign-in: %d: %s", p.status, p.body)
			}
		})
	}
}

func TestTokenSignInRefused(t *testing.T) {
	e := start(t, false)
	b := e.browser(t)
	login := b.get("/console/login")
	tests := []struct {
		name, token string
		status      int
		want        string
	}{
		{"unknown token", "ght_nope", http.StatusUnauthorized, "missing, invalid or expired token"},
		{"not a token", "<script>", http.StatusBadRequest, "That is not a gatehouse token."},
		{"empty", "", http.StatusBadRequest, "That is not a gatehouse token."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.post("/console/login", e.srv.URL, url.Values{"csrf": {csrfOf(t, login)}, "token": {tt.token}})
			if p.status != tt.status || !strings.Contains(p.body, tt.want) || len(p.header.Values("Set-Cookie")) > 0 && strings.Contains(p.header.Get("Set-Cookie"), "gatehouse_console=") {
				t.Errorf("got %d, cookies %q: %s; want %d saying %q", p.status, p.header.Values("Set-Cookie"), p.body, tt.status, tt.want)
			}
			if tt.token != "" && strings.Contains(p.body, tt.token) {
				t.Error("the page repeats what was pasted")
			}
		})
	}
	// Without the browser's login nonce, the sign-in form is refused.
	other := e.browser(t)
	tok := e.api.Token(t, "alice", auth.KindPerson)
	if p := other.post("/console/login", e.srv.URL, url.Values{"csrf": {csrfOf(t, login)}, "token": {tok}}); p.status != http.StatusForbidden {
		t.Errorf("sign-in with another browser's CSRF token: got %d, want 403", p.status)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := start(t, false)
	b := e.browser(t)
	b.signIn(e.api.AdminToken)
	for _, path := range []string{"/console/login", "/console/sessions", "/console/reviews", "/console/audit", "/console/nope", "/console/sessions/s_none", "/console/style.css", "/console/"} {
		p := b.get(path)
		for k, want := range map[string]string{
			"Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "same-origin",
			"Cache-Control":           "no-store",
		} {
			if got := p.header.Get(k); !strings.HasPrefix(got, want) {
				t.Errorf("%s: %s: got %q, want %q", path, k, got, want)
			}
		}
		if strings.Contains(p.body, "<script") || strings.Contains(p.body, " style=") {
			t.Errorf("%s: the page has a script or an inline style", path)
		}
	}
	if p := b.get("/console/style.css"); !strings.HasPrefix(p.header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet content type %q", p.header.Get("Content-Type"))
	}
	if p := b.post("/console/logout", "https://evil.example", nil); p.header.Get("Content-Security-Policy") == "" || p.status != http.StatusForbidden {
		t.Errorf("a refused POST: %d, CSP %q", p.status, p.header.Get("Content-Security-Policy"))
	}
}

// TestReviewVotes: the forms carry a CSRF token and must come from the
// console's origin; the API decides who may vote, and its refusal is shown.
func TestReviewVotes(t *testing.T) {
	e := start(t, false)
	rv := e.api.Review(t, store.Review{Requester: "alice", Statement: "delete from orders where note = '</td><script>alert(1)</script>'"})
	approver := e.browser(t)
	approver.signIn(e.api.Token(t, "bob", auth.KindPerson, "dba"))
	requester := e.browser(t)
	requester.signIn(e.api.Token(t, "alice", auth.KindPerson, "dba"))

	list := approver.get("/console/reviews")
	if list.status != http.StatusOK || !strings.Contains(list.body, rv.ID) || strings.Index(list.body, "Pending") > strings.Index(list.body, rv.ID) {
		t.Fatalf("reviews page: %d: %s", list.status, list.body)
	}
	page := approver.get("/console/reviews/" + rv.ID)
	if !strings.Contains(page.body, `action="/console/reviews/`+rv.ID+`/approve"`) {
		t.Fatalf("an approver's review page has no approve form: %s", page.body)
	}
	if strings.Contains(page.body, "<script>alert(1)") || !strings.Contains(page.body, "&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the statement is not escaped: %s", page.body)
	}
	csrf := csrfOf(t, page)
	path := "/console/reviews/" + rv.ID + "/approve"
	origin := e.srv.URL

	refused := []struct {
		name   string
		origin string
		form   url.Values
		want   string
	}{
		{"no CSRF token", origin, url.Values{"reason": {"ok"}}, "no valid CSRF token"},
		{"wrong CSRF token", origin, url.Values{"csrf": {csrf + "x"}}, "no valid CSRF token"},
		{"another session's CSRF token", origin, url.Values{"csrf": {csrfOf(t, requester.get("/console/reviews"))}}, "no valid CSRF token"},
		{"foreign Origin", "https://evil.example", url.Values{"csrf": {csrf}}, "not sent from the console"},
		{"no Origin or Referer", "", url.Values{"csrf": {csrf}}, "not sent from the console"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			p := approver.post(path, tt.origin, tt.form)
			if p.status != http.StatusForbidden || !strings.Contains(p.body, tt.want) {
				t.Errorf("got %d: %s; want 403 saying %q", p.status, p.body, tt.want)
			}
		})
	}
	if got, _ := e.api.Store.GetReview(t.Context(), rv.ID); got.Status != store.ReviewPending || len(got.Votes) != 0 {
		t.Fatalf("after refused forms the review is %s with votes %v", got.Status, got.Votes)
	}

	// The requester's page offers no form, and a vote sent anyway is
	// refused by the API, whose message is shown.
	own := requester.get("/console/reviews/" + rv.ID)
	if strings.Contains(own.body, "/approve\"") || !strings.Contains(own.body, "another approver must decide it") {
		t.Errorf("the requester's review page: %s", own.body)
	}
	p := requester.post(path, origin, url.Values{"csrf": {csrfOf(t, own)}})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "You requested review "+rv.ID+": another approver must decide it.") {
		t.Errorf("self-approval: got %d: %s", p.status, p.body)
	}

	p = approver.post(path, origin, url.Values{"csrf": {csrf}, "reason": {"fine <b>by</b> me"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/reviews/"+rv.ID+"?voted=approved" {
		t.Fatalf("approve: got %d to %q: %s", p.status, p.header.Get("Location"), p.body)
	}
	done := approver.get(p.header.Get("Location"))
	if !strings.Contains(done.body, "You approved this review.") || !strings.Contains(done.body, "fine &lt;b&gt;by&lt;/b&gt; me") {
		t.Errorf("after approving: %s", done.body)
	}
	if got, _ := e.api.Store.GetReview(t.Context(), rv.ID); got.Status != store.ReviewApproved {
		t.Errorf("review is %s, want approved", got.Status)
	}
	// A second vote is refused with the API's conflict.
	if p := approver.post(path, origin, url.Values{"csrf": {csrf}}); p.status != http.StatusConflict {
		t.Errorf("vote on a decided review: got %d: %s", p.status, p.body)
	}
}

// TestSessionPage renders a recorded session: statements with parameters,
// results, kept rows and verification, all escaped.
func TestSessionPage(t *testing.T) {
	e := start(t, false)
	e.api.Record(t, apitest.Session{ID: "s_1", Identity: "alice", Statements: []apitest.Statement{
		{Text: "select '</td><script>alert(1)</script>' as x, $1", Params: []string{"it's"}, Tag: "SELECT 2", Rows: 2,
			Columns: []string{"x", "<i>col</i>"}, Sample: [][]any{{"</td><script>alert(2)</script>", nil}, {"abc\u202edcba", "ok"}}},
		{Text: "select nope", ErrCode: "42703", ErrMsg: `column "nope" does not exist`},
	}})
	e.api.Record(t, apitest.Session{ID: "s_2", Identity: "bob"})
	alice := e.browser(t)
	alice.signIn(e.api.Token(t, "alice", auth.KindPerson))
	p := alice.get("/console/sessions/s_1")
	if p.status != http.StatusOK {
		t.Fatalf("session page: %d: %s", p.status, p.body)
	}
	for _, want := range []string{
		"select &#39;&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#39; as x, $1",
		"<code>&#39;it&#39;&#39;s&#39;</code>",
		"<strong>SELECT 2</strong>, 2 rows",
		"<th>&lt;i&gt;col&lt;/i&gt;</th>",
		"&lt;/td&gt;&lt;script&gt;alert(2)&lt;/script&gt;",
		`<td class="null">NULL</td>`,
		`abc\u202edcba`,
		"ERROR 42703: column &#34;nope&#34; does not exist",
		"Intact: 6 events, hash chain unbroken, closing event signed by the gateway (signature valid).",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("session page lacks %q", want)
		}
	}
	if strings.Contains(p.body, "<script>") || strings.Contains(p.body, "\u202e") {
		t.Errorf("session page has unescaped text: %s", p.body)
	}
	// Another identity's session is not found, exactly as an unknown one.
	for _, path := range []string{"/console/sessions/s_2", "/console/sessions/s_none", "/console/sessions/..%2Ftokens"} {
		if p := alice.get(path); p.status != http.StatusNotFound || !strings.Contains(p.body, "Session not found.") {
			t.Errorf("%s: got %d: %s", path, p.status, p.body)
		}
	}
	list := alice.get("/console/sessions")
	if !strings.Contains(list.body, "/console/sessions/s_1") || strings.Contains(list.body, "s_2") {
		t.Errorf("alice's session list: %s", list.body)
	}

	// A tampered recording shows as broken.
	e.api.EditEvents(t, "s_1", func(evs []store.Event) []store.Event {
		evs[1].Data = []byte(`{"protocol":"simple","text":"select 1"}`)
		return evs
	})
	if p := alice.get("/console/sessions/s_1"); !strings.Contains(p.body, "Broken at event 2") {
		t.Errorf("tampered session: %s", p.body)
	}
}

func TestAuditPage(t *testing.T) {
	e := start(t, false)
	if err := e.api.Store.AppendAudit(t.Context(), &store.AuditEvent{Time: time.Now(), Type: store.AuditLoginFailed, Source: "10.1.2.3", Reason: "<b>bad</b>"}); err != nil {
		t.Fatal(err)
	}
	person := e.browser(t)
	person.signIn(e.api.Token(t, "alice", auth.KindPerson))
	p := person.get("/console/audit")
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "Audit events are for admins only") || strings.Contains(p.body, "10.1.2.3") {
		t.Errorf("audit page for a person: %d: %s", p.status, p.body)
	}
	if strings.Contains(person.get("/console/sessions").body, `href="/console/audit"`) {
		t.Error("a person's navigation links to the audit page")
	}
	admin := e.browser(t)
	admin.signIn(e.api.AdminToken)
	p = admin.get("/console/audit")
	if p.status != http.StatusOK || !strings.Contains(p.body, "10.1.2.3") || !strings.Contains(p.body, "&lt;b&gt;bad&lt;/b&gt;") {
		t.Errorf("audit page for an admin: %d: %s", p.status, p.body)
	}
}

func TestSignOut(t *testing.T) {
	e := start(t, false)
	b := e.browser(t)
	b.signIn(e.api.Token(t, "alice", auth.KindPerson))
	page := b.get("/console/reviews")
	if p := b.post("/console/logout", e.srv.URL, url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("sign-out without a CSRF token: got %d, want 403", p.status)
	}
	p := b.post("/console/logout", e.srv.URL, url.Values{"csrf": {csrfOf(t, page)}})
	if ck := sessionCookie(t, p); p.status != http.StatusSeeOther || ck.MaxAge >= 0 || ck.Value != "" {
		t.Errorf("sign-out: %d, cookie %+v; want 303 deleting the cookie", p.status, ck)
	}
	if p := b.get("/console/reviews"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/console/login") {
		t.Errorf("after sign-out: got %d to %q", p.status, p.header.Get("Location"))
	}
}

// TestExpiredSession: a cookie whose token the API no longer accepts is
// dropped, and the browser is sent to sign in again.
func TestExpiredSession(t *testing.T) {
	e := start(t, false)
	b := e.browser(t)
	tok, issued, err := e.api.Issuer.Issue(t.Context(), auth.IssueRequest{Identity: "alice", Kind: auth.KindPerson, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b.signIn(tok)
	if err := e.api.Issuer.Revoke(t.Context(), issued.ID); err != nil {
		t.Fatal(err)
	}
	p := b.get("/console/sessions")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/login?next=%2Fconsole%2Fsessions&expired=1" {
		t.Errorf("revoked token: got %d to %q", p.status, p.header.Get("Location"))
	}
	if ck := sessionCookie(t, p); ck.MaxAge >= 0 {
		t.Errorf("the revoked token's cookie is kept: %+v", ck)
	}
}

// TestUntrustedHost: behind a Host the console does not know, nothing is
// served, so that DNS rebinding or a forged Host cannot steer a sign-in.
func TestUntrustedHost(t *testing.T) {
	e := start(t, false)
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/console/login", nil)
	req.Host = "evil.example:80"
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest || resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("untrusted host: got %d, cookies %q; want 421 and none", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
}

// TestOpenRedirect: the next page after sign-in stays inside the console.
func TestOpenRedirect(t *testing.T) {
	e := start(t, false)
	b := e.browser(t)
	tok := e.api.Token(t, "alice", auth.KindPerson)
	b.tokens = append(b.tokens, tok)
	for next, want := range map[string]string{
		"https://evil.example/":      "/console/",
		"//evil.example/console/":    "/console/",
		"/console/reviews":           "/console/reviews",
		"/console/../api/v1/whoami":  "/console/",
		"/console/sessions?status=x": "/console/sessions?status=x",
	} {
		login := b.get("/console/login?next=" + url.QueryEscape(next))
		p := b.post("/console/login", e.srv.URL, url.Values{"csrf": {csrfOf(t, login)}, "token": {tok}, "next": {next}})
		if got := p.header.Get("Location"); got != want {
			t.Errorf("next %q: redirected to %q, want %q", next, got, want)
		}
	}
}

// TestOIDCRefusals: a provider that is not configured is refused before
// the gateway is asked; the gateway's refusal is shown; a callback that
// this browser did not start signs nobody in.
func TestOIDCRefusals(t *testing.T) {
	e := start(t, false, "corp")
	srv := e.srv
	b := e.browser(t)
	login := b.get("/console/login")
	if !strings.Contains(login.body, `name="provider" value="corp"`) {
		t.Fatalf("no button for the provider: %s", login.body)
	}
	csrf := csrfOf(t, login)
	if p := b.post("/console/login/oidc", srv.URL, url.Values{"csrf": {csrf}, "provider": {"other"}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, "There is no such identity provider.") {
		t.Errorf("unknown provider: got %d: %s", p.status, p.body)
	}
	// apitest's server has no Authorize hook: the API answers 501.
	if p := b.post("/console/login/oidc", srv.URL, url.Values{"csrf": {csrf}, "provider": {"corp"}}); p.status != http.StatusNotImplemented || !strings.Contains(p.body, "The sign-in could not start: not available on this gateway.") {
		t.Errorf("sign-in the gateway cannot start: got %d: %s", p.status, p.body)
	}
	if p := b.post("/console/login/oidc", srv.URL, url.Values{"provider": {"corp"}}); p.status != http.StatusForbidden {
		t.Errorf("OIDC sign-in without a CSRF token: got %d, want 403", p.status)
	}
	if p := b.get("/console/callback?state=abc&code=def"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "did not start in this browser") {
		t.Errorf("callback without a sign-in: got %d: %s", p.status, p.body)
	}
}
