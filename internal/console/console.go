package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Paths of the console.
const (
	// Prefix is where the console is mounted on the API listener.
	Prefix = "/console/"
	// CallbackPath is where identity providers send the browser back to
	// after an OIDC sign-in: the redirect URI <origin>/console/callback.
	CallbackPath = "/console/callback"
	loginPath    = "/console/login"
	logoutPath   = "/console/logout"
)

// Console is the web console. Fill in the fields, then serve it (it is an
// http.Handler) under Prefix. API and Key are required.
type Console struct {
	// API is the JSON API's handler (api.Server.Handler), called in
	// process for every page with the signed-in user's token. It may be
	// set after the Console is handed to the API server, before serving.
	API http.Handler
	// Key keys the CSRF tokens; at least 32 bytes. Keep it stable across
	// restarts (and replicas), or forms on open pages stop working.
	Key []byte
	// PublicURL is gateway.public_url: the origin browsers reach the
	// console at, when set. "" means the request's own origin, trusted
	// only for loopback hosts and the address the connection came in on.
	PublicURL string
	// TLS is true when the API listener serves TLS.
	TLS bool
	// Providers names the OIDC providers offered on the sign-in page.
	Providers []string
	// Logger receives internal errors; nil discards them.
	Logger *slog.Logger

	once sync.Once
	mux  *http.ServeMux
}

// ServeHTTP serves the console's routes under Prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.once.Do(c.routes)
	setHeaders(w.Header())
	if len(c.Key) < 32 || c.API == nil {
		c.logger().ErrorContext(r.Context(), "console: Key of at least 32 bytes and API are required")
		c.errorPage(w, r, nil, http.StatusInternalServerError, "The console is not set up on this gateway.")
		return
	}
	if _, ok := c.requestOrigin(r); !ok {
		c.untrustedHost(w, r)
		return
	}
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /console/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/reviews", http.StatusFound)
	})
	m.HandleFunc("GET /console/style.css", serveStyle)
	m.HandleFunc("GET "+loginPath, c.loginPage)
	m.HandleFunc("POST "+loginPath, c.post(c.loginToken))
	m.HandleFunc("POST /console/login/oidc", c.post(c.loginOIDC))
	m.HandleFunc("GET "+CallbackPath, c.callback)
	m.HandleFunc("POST "+logoutPath, c.post(c.logout))
	m.HandleFunc("GET /console/sessions", c.page(c.sessionsPage))
	m.HandleFunc("GET /console/sessions/{id}", c.page(c.sessionPage))
	m.HandleFunc("GET /console/reviews", c.page(c.reviewsPage))
	m.HandleFunc("GET /console/reviews/{id}", c.page(c.reviewPage))
	m.HandleFunc("POST /console/reviews/{id}/approve", c.post(c.page(c.vote(true))))
	m.HandleFunc("POST /console/reviews/{id}/reject", c.post(c.page(c.vote(false))))
	m.HandleFunc("GET /console/audit", c.page(c.auditPage))
	m.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, nil, http.StatusNotFound, "There is no such page.")
	})
	c.mux = m
}

func (c *Console) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// untrustedHost answers a request whose Host the console does not trust:
// to public_url when there is one, else with an explanation.
func (c *Console) untrustedHost(w http.ResponseWriter, r *http.Request) {
	if pub := c.public(); pub.valid() && r.Method == http.MethodGet {
		http.Redirect(w, r, pub.String()+r.URL.RequestURI(), http.StatusFound)
		return
	}
	c.errorPage(w, r, nil, http.StatusMisdirectedRequest,
		"The console answers only at the gateway's own address. Open it at the address of the API listener, or set gateway.public_url to the address people use.")
}

// signedIn is the browser's session: the gatehouse token from its cookie,
// whom the API says it belongs to, and the CSRF token for its forms.
type signedIn struct {
	token string
	me    auth.Principal
	csrf  string
}

// page wraps a page that needs a signed-in user. Without a session, or
// when the API no longer accepts its token, the browser goes to the
// sign-in page and comes back afterwards.
func (c *Console) page(h func(w http.ResponseWriter, r *http.Request, s *signedIn)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := &signedIn{token: cookie(r, cookieSession)}
		if s.token == "" {
			c.toLogin(w, r, "")
			return
		}
		err := c.call(r, s.token, http.MethodGet, "/api/v1/whoami", nil, &s.me)
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			c.setCookie(w, r, cookieSession, "", "/", http.SameSiteStrictMode, time.Time{})
			c.toLogin(w, r, "Your sign-in has expired or was revoked. Sign in again.")
			return
		}
		if err != nil {
			c.apiErrorPage(w, r, nil, err)
			return
		}
		s.csrf = c.csrfToken(s.token)
		h(w, r, s)
	}
}

// toLogin sends the browser to the sign-in page, to come back to the page
// it asked for; a POST is refused instead, as its form would be lost.
func (c *Console) toLogin(w http.ResponseWriter, r *http.Request, msg string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		c.errorPage(w, r, nil, http.StatusForbidden, "You are not signed in, or your sign-in has expired. Sign in again.")
		return
	}
	q := "?next=" + url.QueryEscape(safeNext(r.URL.RequestURI()))
	if msg != "" {
		q += "&expired=1"
	}
	http.Redirect(w, r, loginPath+q, http.StatusSeeOther)
}

// post wraps a POST handler: the request must come from the console's
// own origin. Each handler then checks its CSRF token, since what the
// token is bound to differs before and after sign-in.
func (c *Console) post(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !c.sameOrigin(r) {
			c.errorPage(w, r, nil, http.StatusForbidden, "This form was not sent from the console's own pages, so it was refused. Reload the page and try again.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			c.errorPage(w, r, nil, http.StatusBadRequest, "The form could not be read.")
			return
		}
		h(w, r)
	}
}

// checkCSRF reports whether a signed-in user's form carries the right
// CSRF token, answering 403 when not.
func (c *Console) checkCSRF(w http.ResponseWriter, r *http.Request, s *signedIn) bool {
	if validCSRF(r.PostFormValue("csrf"), s.csrf) {
		return true
	}
	c.errorPage(w, r, s, http.StatusForbidden, "This form has no valid CSRF token, so it was refused. Reload the page and try again.")
	return false
}

// Limits on what the console reads.
const (
	maxFormBytes = 64 << 10
	// maxAPIBytes bounds one API answer the console renders.
	maxAPIBytes = 64 << 20
)

// apiError is an API answer other than 2xx: its status and the message
// the API says is safe to show.
type apiError struct {
	Status  int
	Message string
	Ref     string
}

func (e *apiError) Error() string { return fmt.Sprintf("API %d: %s", e.Status, e.Message) }

var errTooLarge = errors.New("API answer too large for the console")

// call makes an API request in process, as the browser's client, with
// token as bearer (none when ""), in as the JSON body (none when nil),
// and decodes a 2xx answer into out (when not nil). A non-2xx answer is an
// *apiError.
func (c *Console) call(r *http.Request, token, method, target string, in, out any) error {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, target, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(r.Context(), method, target, body)
	if err != nil {
		return fmt.Errorf("API request %s %s: %w", method, target, err)
	}
	// The API sees the browser's address: rate limits and the audit log
	// apply to it as to any client.
	req.RemoteAddr = r.RemoteAddr
	req.Host = r.Host
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := &recorder{header: http.Header{}, max: maxAPIBytes}
	c.API.ServeHTTP(rec, req)
	if rec.tooLarge {
		return errTooLarge
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status < 200 || rec.status > 299 {
		var eb struct {
			Error string `json:"error"`
			Ref   string `json:"ref"`
		}
		if json.Unmarshal(rec.body.Bytes(), &eb) != nil || eb.Error == "" {
			eb.Error = http.StatusText(rec.status)
		}
		return &apiError{Status: rec.status, Message: eb.Error, Ref: eb.Ref}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		return fmt.Errorf("decode %s %s: %w", method, target, err)
	}
	return nil
}

// recorder is the http.ResponseWriter of an in-process API call: it keeps
// the status and up to max bytes of the body.
type recorder struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	max      int
	tooLarge bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if r.body.Len()+len(p) > r.max {
		r.tooLarge = true
		return 0, errTooLarge
	}
	return r.body.Write(p)
}

// apiErrorPage shows an API refusal with its status and message, or an
// internal error as 500 with a reference to the log.
func (c *Console) apiErrorPage(w http.ResponseWriter, r *http.Request, s *signedIn, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		msg := capitalize(ae.Message) + "."
		if ae.Status >= 500 && ae.Ref != "" {
			msg += " (ref " + ae.Ref + ")"
		}
		c.errorPage(w, r, s, ae.Status, msg)
	case errors.Is(err, errTooLarge):
		c.errorPage(w, r, s, http.StatusInsufficientStorage,
			"This page would be too large to show. Use gatehouse sessions export to read the whole recording.")
	default:
		ref := newNonce()[:16]
		c.logger().ErrorContext(r.Context(), "console request failed", "ref", ref, "method", r.Method, "path", r.URL.Path, "err", err)
		c.errorPage(w, r, s, http.StatusInternalServerError, "Internal error (ref "+ref+").")
	}
}
