package console

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Lifetimes of the sign-in cookies.
const (
	loginNonceTTL = 12 * time.Hour
	// oidcTTL matches how long the gateway keeps a browser sign-in.
	oidcTTL = 10 * time.Minute
)

type loginData struct {
	frame
	Next      string
	Providers []string
	Message   string
	Error     string
}

// loginPage shows the sign-in forms. The browser gets a nonce cookie that
// keys their CSRF token, since there is no session to bind it to yet.
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := loginData{Next: safeNext(q.Get("next"))}
	switch {
	case q.Get("expired") != "":
		d.Message = "Your sign-in has expired or was revoked. Sign in again."
	case q.Get("signedout") != "":
		d.Message = "You are signed out."
	}
	c.renderLogin(w, r, http.StatusOK, d)
}

func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	nonce := cookie(r, cookieLogin)
	if nonce == "" {
		nonce = newNonce()
		c.setCookie(w, r, cookieLogin, nonce, Prefix, http.SameSiteStrictMode, time.Now().Add(loginNonceTTL))
	}
	d.frame = frame{Title: "Sign in", CSRF: c.loginCSRF(nonce)}
	d.Providers = c.Providers
	c.render(w, r, status, "login", d)
}

// checkLoginCSRF reports whether a sign-in form carries the CSRF token of
// this browser's nonce, answering 403 when not.
func (c *Console) checkLoginCSRF(w http.ResponseWriter, r *http.Request) bool {
	nonce := cookie(r, cookieLogin)
	if nonce != "" && validCSRF(r.PostFormValue("csrf"), c.loginCSRF(nonce)) {
		return true
	}
	c.errorPage(w, r, nil, http.StatusForbidden, "This sign-in form has no valid CSRF token, so it was refused. Reload the sign-in page and try again.")
	return false
}

// loginToken signs in with a pasted gatehouse token, once the API accepts
// it.
func (c *Console) loginToken(w http.ResponseWriter, r *http.Request) {
	if !c.checkLoginCSRF(w, r) {
		return
	}
	d := loginData{Next: safeNext(r.PostFormValue("next"))}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if !cookieSafe(token) {
		d.Error = "That is not a gatehouse token."
		c.renderLogin(w, r, http.StatusBadRequest, d)
		return
	}
	var me auth.Principal
	if err := c.call(r, token, http.MethodGet, "/api/v1/whoami", nil, &me); err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			c.apiErrorPage(w, r, nil, err)
			return
		}
		d.Error = "The gateway refused this token: " + ae.Message + "."
		c.renderLogin(w, r, ae.Status, d)
		return
	}
	c.startSession(w, r, token, me.Expires)
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

func (c *Console) startSession(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	c.setCookie(w, r, cookieSession, token, "/", http.SameSiteStrictMode, expires)
}

// loginOIDC starts a sign-in with an OIDC provider through the gateway
// (authorization code with PKCE; the verifier stays on the gateway) and
// sends the browser to the provider. The state goes into a cookie, so
// that only this browser can finish the sign-in.
func (c *Console) loginOIDC(w http.ResponseWriter, r *http.Request) {
	if !c.checkLoginCSRF(w, r) {
		return
	}
	d := loginData{Next: safeNext(r.PostFormValue("next"))}
	provider := r.PostFormValue("provider")
	if !slices.Contains(c.Providers, provider) {
		d.Error = "There is no such identity provider."
		c.renderLogin(w, r, http.StatusBadRequest, d)
		return
	}
	redirect, ok := c.callbackURL(r)
	if !ok {
		c.untrustedHost(w, r)
		return
	}
	var start api.AuthorizeStart
	err := c.call(r, "", http.MethodPost, "/api/v1/auth/authorize", api.AuthorizeRequest{Provider: provider, RedirectURI: redirect}, &start)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			c.apiErrorPage(w, r, nil, err)
			return
		}
		d.Error = "The sign-in could not start: " + ae.Message + "."
		c.renderLogin(w, r, ae.Status, d)
		return
	}
	u, err := url.Parse(start.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !cookieSafe(start.State) {
		c.apiErrorPage(w, r, nil, errors.New("authorize: the gateway answered an unusable URL or state"))
		return
	}
	value := start.State + "." + base64.RawURLEncoding.EncodeToString([]byte(d.Next))
	c.setCookie(w, r, cookieOIDC, value, CallbackPath, http.SameSiteLaxMode, time.Now().Add(oidcTTL))
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

type signedInData struct {
	frame
	Identity string
	Next     string
}

// callback finishes an OIDC sign-in: the provider sent the browser back
// with a code and the state, which must be the one this browser started
// with. The session cookie is SameSite=Strict, and a browser does not send
// those on the rest of a redirect chain that began at another site, so the
// page moves on with a same-site refresh instead of a redirect.
func (c *Console) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bound := cookie(r, cookieOIDC)
	c.setCookie(w, r, cookieOIDC, "", CallbackPath, http.SameSiteLaxMode, time.Time{})
	state, nextEnc, _ := strings.Cut(bound, ".")
	if state == "" || !hmac.Equal([]byte(state), []byte(q.Get("state"))) {
		c.renderLogin(w, r, http.StatusBadRequest, loginData{Next: Prefix,
			Error: "This sign-in did not start in this browser, or it took too long. Start it again."})
		return
	}
	next := Prefix
	if b, err := base64.RawURLEncoding.DecodeString(nextEnc); err == nil {
		next = safeNext(string(b))
	}
	if e := q.Get("error"); e != "" {
		msg := "The identity provider did not sign you in (" + e + ")"
		if desc := q.Get("error_description"); desc != "" && len(desc) < 300 {
			msg += ": " + desc
		}
		c.renderLogin(w, r, http.StatusUnauthorized, loginData{Next: next, Error: msg + "."})
		return
	}
	var issued api.IssuedToken
	err := c.call(r, "", http.MethodPost, "/api/v1/auth/authorize/token", api.AuthorizeTokenRequest{State: state, Code: q.Get("code")}, &issued)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			c.apiErrorPage(w, r, nil, err)
			return
		}
		c.renderLogin(w, r, ae.Status, loginData{Next: next, Error: "The sign-in failed: " + ae.Message + "."})
		return
	}
	if !cookieSafe(issued.Token) {
		c.apiErrorPage(w, r, nil, errors.New("authorize token: the gateway issued a token that cannot go into a cookie"))
		return
	}
	c.startSession(w, r, issued.Token, issued.ExpiresAt)
	c.render(w, r, http.StatusOK, "signedin", signedInData{frame: frame{Title: "Signed in"}, Identity: issued.Identity, Next: next})
}

// logout forgets the session's cookie. The token itself stays valid until
// it expires (revoking it is for admins: gatehouse tokens revoke).
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if token := cookie(r, cookieSession); token != "" && !validCSRF(r.PostFormValue("csrf"), c.csrfToken(token)) {
		c.errorPage(w, r, nil, http.StatusForbidden, "This form has no valid CSRF token, so it was refused. Reload the page and try again.")
		return
	}
	c.setCookie(w, r, cookieSession, "", "/", http.SameSiteStrictMode, time.Time{})
	http.Redirect(w, r, loginPath+"?signedout=1", http.StatusSeeOther)
}
