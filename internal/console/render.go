package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static/style.css
var styleCSS []byte

// pages are the parsed templates, one set per page, each with the layout.
// They are read-only after parsing.
var pages = parsePages("login", "signedin", "error", "sessions", "session", "reviews", "review", "audit")

var funcs = template.FuncMap{
	"visible": visible,
	"when":    when,
	"join":    func(ss []string) string { return strings.Join(ss, ", ") },
}

func parsePages(names ...string) map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html"))
	out := make(map[string]*template.Template, len(names))
	for _, n := range names {
		out[n] = template.Must(template.Must(base.Clone()).ParseFS(templateFiles, "templates/"+n+".html"))
	}
	return out
}

// frame is what the layout shows around every page.
type frame struct {
	Title string
	// Section is the active item of the navigation.
	Section string
	// Me is the signed-in user, nil on the sign-in pages.
	Me *auth.Principal
	// CSRF is the token for the page's forms.
	CSRF string
}

func (s *signedIn) frame(title, section string) frame {
	if s == nil {
		return frame{Title: title}
	}
	return frame{Title: title, Section: section, Me: &s.me, CSRF: s.csrf}
}

// render executes a page into a buffer first, so that a template error
// becomes a clean 500 instead of half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout.html", data); err != nil {
		c.logger().ErrorContext(r.Context(), "console: render page", "page", name, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintln(w, "internal error")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a failure here is a gone client
}

type errorData struct {
	frame
	Status  int
	Message string
}

// errorPage shows msg with status.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, s *signedIn, status int, msg string) {
	c.render(w, r, status, "error", errorData{frame: s.frame(http.StatusText(status), ""), Status: status, Message: msg})
}

func serveStyle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write(styleCSS)
}

// visible makes every character of recorded text visible: control
// characters and the invisible formatting characters that can reorder or
// hide text on screen (bidirectional overrides, zero-width characters)
// are shown as escapes. Line breaks and tabs stay.
func visible(s string) string {
	clean := true
	for _, r := range s {
		if hidden(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !hidden(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func hidden(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
		return true
	case r == '\uFFFD':
		return true
	}
	return unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

// when shows a time in UTC, to the second; "-" for the zero time.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// capitalize upper-cases the first letter of an API message for a page.
func capitalize(s string) string {
	for i, r := range s {
		return string(unicode.ToUpper(r)) + s[i+len(string(r)):]
	}
	return s
}
