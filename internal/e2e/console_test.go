package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/oidctest"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// consoleBrowser is a browser on the web console of a running gateway: a
// cookie jar, and no redirects followed unless asked, so that tests see
// each answer. Every page it gets is checked for the tokens it knows.
type consoleBrowser struct {
	t      *testing.T
	h      *gw
	c      *http.Client
	tokens []string
}

func newConsoleBrowser(t *testing.T, h *gw) *consoleBrowser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &consoleBrowser{t: t, h: h, c: &http.Client{Jar: jar, Timeout: waitLimit,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type consolePage struct {
	status int
	header http.Header
	body   string
	url    *url.URL // where the page was in the end
}

func (b *consoleBrowser) do(req *http.Request) consolePage {
	b.t.Helper()
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
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
			b.t.Errorf("%s %s: the page shows a gatehouse token", req.Method, req.URL.Path)
		}
	}
	return consolePage{resp.StatusCode, resp.Header, string(body), resp.Request.URL}
}

func (b *consoleBrowser) get(path string) consolePage {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.h.apiURL()+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form as the browser does from a console page: with the
// console's origin in Origin, unless origin says otherwise ("-" for no
// Origin header at all).
func (b *consoleBrowser) post(path, origin string, form url.Values) consolePage {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.h.apiURL()+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	switch origin {
	case "":
		req.Header.Set("Origin", b.h.apiURL())
	case "-":
	default:
		req.Header.Set("Origin", origin)
	}
	return b.do(req)
}

var consoleCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (p consolePage) csrf(t *testing.T) string {
	t.Helper()
	m := consoleCSRF.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page (status %d): %s", p.status, p.body)
	}
	return m[1]
}

// signIn pastes token into the console's sign-in form and returns the
// answer, which sets the session cookie.
func (b *consoleBrowser) signIn(token string) consolePage {
	b.t.Helper()
	b.tokens = append(b.tokens, token)
	login := b.get("/console/login")
	p := b.post("/console/login", "", url.Values{"csrf": {login.csrf(b.t)}, "token": {token}, "next": {"/console/sessions"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/sessions" {
		b.t.Fatalf("sign-in: got %d to %q, want 303 to /console/sessions: %s", p.status, p.header.Get("Location"), p.body)
	}
	return p
}

func consoleCookie(t *testing.T, p consolePage) *http.Cookie {
	t.Helper()
	for _, line := range p.header.Values("Set-Cookie") {
		if ck, err := http.ParseSetCookie(line); err == nil && ck.Name == "gatehouse_console" {
			return ck
		}
	}
	t.Fatalf("no gatehouse_console cookie set: %q", p.header.Values("Set-Cookie"))
	return nil
}

// TestConsoleSessions: a person signs in to the console with a token and
// reads a real psql session: its statements, and its kept rows masked,
// never the raw values; recorded text is escaped; another identity sees
// neither the session nor the audit log; signing out ends it.
func TestConsoleSessions(t *testing.T) {
	t.Parallel()
	h := startUp(t, maskConfig)
	pg.Exec(t, h.db, maskSeed)
	tok := h.ciToken(t)
	const selectSQL = "SELECT id, name, email, ssn, card FROM customers ORDER BY id"
	const xss = "SELECT '</td><script>alert(1)</script>' AS x"
	if out, err := h.psql(t, tok, "console-psql", "-c", selectSQL, "-c", xss); err != nil {
		t.Fatalf("psql: %v: %s", err, out)
	}
	rec := waitRecording(t, h.g.Store(), "console-psql")
	id := rec.Session.ID

	// A browser at the root is sent to the console; an API client is not.
	b := newConsoleBrowser(t, h)
	if p := b.get("/"); p.status != http.StatusFound || p.header.Get("Location") != "/console/" {
		t.Errorf("GET / from a browser: got %d to %q, want 302 to /console/", p.status, p.header.Get("Location"))
	}
	if resp, err := http.Get(h.apiURL() + "/"); err != nil || resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET / from an API client: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	ck := consoleCookie(t, b.signIn(tok))
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Secure {
		t.Errorf("cookie: HttpOnly %v, SameSite %v, Path %q, Secure %v; want HttpOnly, Strict, / and not Secure on plain loopback http",
			ck.HttpOnly, ck.SameSite, ck.Path, ck.Secure)
	}
	if d := time.Until(ck.Expires); d < 58*time.Minute || d > 61*time.Minute {
		t.Errorf("cookie expires in %v, want with the one-hour token", d)
	}

	list := b.get("/console/sessions")
	for _, want := range []string{`href="/console/sessions/` + id + `"`, "ci-bot", "<td>" + connName + "</td>", "<td>" + h.db + "</td>", "ended"} {
		if !strings.Contains(list.body, want) {
			t.Errorf("sessions page lacks %q", want)
		}
	}

	p := b.get("/console/sessions/" + id)
	if p.status != http.StatusOK {
		t.Fatalf("session page: %d: %s", p.status, p.body)
	}
	for _, want := range []string{
		selectSQL,
		"<strong>SELECT 2</strong>, 2 rows",
		"<th>email</th>", "<th>ssn</th>",
		"<td>Ada</td>", "<td>a***@example.com</td>", "<td>g***@example.org</td>",
		"<td>[REDACTED:credit_card]</td>", "<td>[HASH:",
		"masked: credit_card ×2, customers.ssn ×2, *.email ×2",
		"SELECT &#39;&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#39; AS x",
		"<td>&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;</td>",
		"Intact: ", "signature valid",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("session page lacks %q", want)
		}
	}
	if strings.Contains(p.body, "<script>") {
		t.Error("session page has the recorded script unescaped")
	}
	for _, raw := range maskRaw {
		if strings.Contains(p.body, raw) {
			t.Errorf("session page shows the raw value %q", raw)
		}
	}
	if t.Failed() {
		t.Logf("session page:\n%s", p.body)
	}

	// Another identity: the session is unknown to it, its list lacks it,
	// and the audit log is for admins.
	eve := newConsoleBrowser(t, h)
	eve.signIn(h.token(t, "eve", "ci"))
	if p := eve.get("/console/sessions/" + id); p.status != http.StatusNotFound || !strings.Contains(p.body, "Session not found.") {
		t.Errorf("another identity's session: got %d: %s", p.status, p.body)
	}
	if p := eve.get("/console/sessions"); strings.Contains(p.body, id) {
		t.Error("another identity's sessions page lists the session")
	}
	if p := eve.get("/console/audit"); p.status != http.StatusForbidden || !strings.Contains(p.body, "Audit events are for admins only") {
		t.Errorf("audit page for a non-admin: got %d: %s", p.status, p.body)
	}
	admin := newConsoleBrowser(t, h)
	admin.signIn(h.adminToken(t))
	if p := admin.get("/console/audit"); p.status != http.StatusOK || !strings.Contains(p.body, "<h1>Audit events</h1>") {
		t.Errorf("audit page for an admin: got %d: %s", p.status, p.body)
	}
	if p := admin.get("/console/sessions/" + id); p.status != http.StatusOK || !strings.Contains(p.body, "a***@example.com") {
		t.Errorf("an admin's view of the session: got %d", p.status)
	}

	// Signing out needs the form's CSRF token and the console's origin,
	// and then clears the cookie.
	page := b.get("/console/sessions")
	if p := b.post("/console/logout", "https://evil.example", url.Values{"csrf": {page.csrf(t)}}); p.status != http.StatusForbidden {
		t.Errorf("sign-out from a foreign origin: got %d, want 403", p.status)
	}
	if p := b.get("/console/sessions"); p.status != http.StatusOK {
		t.Errorf("a refused sign-out ended the session: %d", p.status)
	}
	out := b.post("/console/logout", "", url.Values{"csrf": {page.csrf(t)}})
	if ck := consoleCookie(t, out); out.status != http.StatusSeeOther || ck.Value != "" || ck.MaxAge >= 0 {
		t.Errorf("sign-out: got %d, cookie %+v; want 303 deleting it", out.status, ck)
	}
	if p := b.get("/console/sessions"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/console/login") {
		t.Errorf("after sign-out: got %d to %q, want the sign-in page", p.status, p.header.Get("Location"))
	}
}

var consoleReviewRE = regexp.MustCompile(`href="/console/reviews/(r_[0-9a-f]+)"`)

// TestConsoleReview: psql's statement is held for review; the requester's
// own approval through the console is refused with the API's message,
// forms without a CSRF token or from another origin are refused, and
// another identity's approval through the console form lets psql finish.
func TestConsoleReview(t *testing.T) {
	t.Parallel()
	h := startUp(t, func(cfg *config.Config) {
		cfg.Policies[0].Rules = []policy.Rule{
			{Match: policy.Match{Statement: []string{"insert"}}, Action: "review", Approvers: []string{"group:dba"}, Timeout: 2 * time.Minute},
		}
	})
	ctx := ctxT(t)
	setup := connect(t, h.pgxConfig(t, connName, h.ciToken(t), "setup"))
	if _, err := setup.Exec(ctx, "CREATE TABLE held (id int)", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	requester := h.token(t, "ci-bot", "ci", "dba") // in the approver group, still may not approve its own
	requireBinary(t, "psql")
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := h.psql(t, requester, "console-review", "-c", "INSERT INTO held VALUES (42)")
		done <- result{out, err}
	}()

	approver := newConsoleBrowser(t, h)
	approver.signIn(h.token(t, "dba-1", "dba"))
	var id string
	eventually(t, "the held statement's review in the console", func() (bool, error) {
		select {
		case r := <-done:
			t.Fatalf("psql finished before any approval: %v: %s", r.err, r.out)
		default:
		}
		m := consoleReviewRE.FindStringSubmatch(approver.get("/console/reviews").body)
		if m != nil {
			id = m[1]
		}
		return m != nil, nil
	})
	page := approver.get("/console/reviews/" + id)
	if !strings.Contains(page.body, "INSERT INTO held VALUES (42)") || !strings.Contains(page.body, `action="/console/reviews/`+id+`/approve"`) {
		t.Fatalf("review page for an approver: %s", page.body)
	}
	approve := "/console/reviews/" + id + "/approve"

	self := newConsoleBrowser(t, h)
	self.signIn(requester)
	own := self.get("/console/reviews/" + id)
	if own.status != http.StatusOK || strings.Contains(own.body, `/approve"`) {
		t.Errorf("the requester's review page offers to approve: %d: %s", own.status, own.body)
	}
	p := self.post(approve, "", url.Values{"csrf": {own.csrf(t)}, "reason": {"mine"}})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "You requested review "+id+": another approver must decide it.") {
		t.Errorf("self-approval: got %d: %s", p.status, p.body)
	}

	for _, tt := range []struct {
		name, origin string
		form         url.Values
	}{
		{"no CSRF token", "", url.Values{"reason": {"ok"}}},
		{"foreign Origin", "https://evil.example", url.Values{"csrf": {page.csrf(t)}}},
		{"no Origin or Referer", "-", url.Values{"csrf": {page.csrf(t)}}},
	} {
		if p := approver.post(approve, tt.origin, tt.form); p.status != http.StatusForbidden {
			t.Errorf("%s: got %d, want 403", tt.name, p.status)
		}
	}
	if rv, err := h.g.Store().GetReview(ctx, id); err != nil || rv.Status != store.ReviewPending || len(rv.Votes) != 0 {
		t.Fatalf("after refused votes: %+v, %v; want pending without votes", rv, err)
	}

	p = approver.post(approve, "", url.Values{"csrf": {page.csrf(t)}, "reason": {"looks fine"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("approve: got %d: %s", p.status, p.body)
	}
	select {
	case r := <-done:
		if r.err != nil || !strings.Contains(r.out, "INSERT 0 1") {
			t.Fatalf("psql after approval: %v: %s", r.err, r.out)
		}
	case <-time.After(waitLimit):
		t.Fatal("psql did not finish after the approval")
	}
	var n int
	if err := setup.QueryRow(ctx, "SELECT count(*) FROM held WHERE id = 42").Scan(&n); err != nil || n != 1 {
		t.Errorf("after approval: %d rows, %v; want 1", n, err)
	}
	if p := approver.get(p.header.Get("Location")); !strings.Contains(p.body, "You approved this review.") || !strings.Contains(p.body, "dba-1") || !strings.Contains(p.body, "looks fine") {
		t.Errorf("review page after approval: %s", p.body)
	}
}

// TestConsoleOIDC: a person signs in to the console with an OIDC provider
// (authorization code with PKCE, run by the gateway); the callback only
// works in the browser that started the sign-in.
func TestConsoleOIDC(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	op.SetUser(map[string]any{"sub": "u7", "email": "carol@example.com", "email_verified": true, "groups": []string{"ci"}})
	h := startUp(t, func(cfg *config.Config) {
		cfg.Auth.OIDC = []config.OIDCProvider{{Name: "corp", Issuer: op.Issuer(), ClientID: oidctest.ClientID, GroupsClaim: "groups"}}
	})
	// carol's own session, to find in the console afterwards.
	if out, err := h.psql(t, h.token(t, "carol@example.com", "ci"), "carol-psql", "-c", "SELECT 1"); err != nil {
		t.Fatalf("psql: %v: %s", err, out)
	}
	rec := waitRecording(t, h.g.Store(), "carol-psql")

	b := newConsoleBrowser(t, h)
	login := b.get("/console/login?next=%2Fconsole%2Fsessions")
	if !strings.Contains(login.body, "Sign in with corp") {
		t.Fatalf("sign-in page has no button for the provider: %s", login.body)
	}
	var callback *url.URL
	b.c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == "/console/callback" {
			callback = req.URL
		}
		return nil
	}
	p := b.post("/console/login/oidc", "", url.Values{"csrf": {login.csrf(t)}, "provider": {"corp"}, "next": {"/console/sessions"}})
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if callback == nil || p.status != http.StatusOK || !strings.Contains(p.body, "You are signed in as carol@example.com.") ||
		!strings.Contains(p.body, `<meta http-equiv="refresh" content="0; url=/console/sessions">`) {
		t.Fatalf("OIDC sign-in ended at %v with %d: %s", p.url, p.status, p.body)
	}
	if want := h.apiURL() + "/console/callback"; callback.Scheme+"://"+callback.Host+callback.Path != want {
		t.Errorf("the provider sent the browser to %s, want %s", callback, want)
	}
	ck := consoleCookie(t, p)
	b.tokens = append(b.tokens, ck.Value)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
		t.Errorf("cookie after OIDC sign-in: %+v", ck)
	}
	list := b.get("/console/sessions")
	if list.status != http.StatusOK || !strings.Contains(list.body, "carol@example.com") || !strings.Contains(list.body, rec.Session.ID) {
		t.Errorf("sessions page after OIDC sign-in: %d: %s", list.status, list.body)
	}

	// The callback is bound to the browser that started the sign-in: in
	// another browser, or a second time, it signs nobody in.
	for name, other := range map[string]*consoleBrowser{"another browser": newConsoleBrowser(t, h), "again": b} {
		req, _ := http.NewRequest(http.MethodGet, callback.String(), nil)
		p := other.do(req)
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "did not start in this browser") {
			t.Errorf("callback in %s: got %d: %s", name, p.status, p.body)
		}
		for _, line := range p.header.Values("Set-Cookie") {
			if strings.HasPrefix(line, "gatehouse_console=") && !strings.HasPrefix(line, "gatehouse_console=;") {
				t.Errorf("callback in %s set a session cookie", name)
			}
		}
	}
	evs, _ := h.g.Store().ListAudit(ctxT(t), store.AuditFilter{Identity: "carol@example.com", Type: store.AuditExchange})
	if len(evs) == 0 || !strings.Contains(evs[0].Reason, "corp") {
		t.Errorf("audit log of carol's sign-in: %+v", evs)
	}
}
