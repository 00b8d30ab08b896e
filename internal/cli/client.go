package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const defaultGatewayURL = "http://127.0.0.1:8080"

// clientOptions are the flags and environment shared by the client
// commands. The zero value reads the process environment.
type clientOptions struct {
	gateway, token string
	json           bool

	// getenv reads the environment; nil means os.Getenv. Tests set it.
	getenv func(string) string
	// httpClient talks to the gateway; nil means one with a timeout.
	httpClient *http.Client
}

// register adds the persistent flags --gateway, --token and --json to cmd.
func (o *clientOptions) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&o.gateway, "gateway", "", "gateway API URL (default $GATEHOUSE_URL, else "+defaultGatewayURL+")")
	f.StringVar(&o.token, "token", "", "gatehouse token (default $GATEHOUSE_TOKEN, else the token saved by \"gatehouse login\")")
	f.BoolVar(&o.json, "json", false, "print JSON instead of a table")
}

func (o *clientOptions) env(key string) string {
	if o.getenv != nil {
		return o.getenv(key)
	}
	return os.Getenv(key)
}

// gatewayURL returns the API's base URL without a trailing slash.
func (o *clientOptions) gatewayURL() (string, error) {
	raw := o.gateway
	if raw == "" {
		raw = o.env("GATEHOUSE_URL")
	}
	if raw == "" {
		raw = defaultGatewayURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("invalid gateway URL %q: want http(s)://host:port, from --gateway or GATEHOUSE_URL", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// tokenFiles lists, in order, the files a token is read from when neither
// --token nor GATEHOUSE_TOKEN is set: the one "gatehouse login" writes, then
// the admin token of a local "gatehouse up".
func (o *clientOptions) tokenFiles() []string {
	var files []string
	if dir := o.env("XDG_CONFIG_HOME"); dir != "" {
		files = append(files, filepath.Join(dir, "gatehouse", "token"))
	} else if home := o.env("HOME"); home != "" {
		files = append(files, filepath.Join(home, ".config", "gatehouse", "token"))
	}
	if dir := o.env("GATEHOUSE_DATA"); dir != "" {
		files = append(files, filepath.Join(dir, "admin.token"))
	} else {
		files = append(files, filepath.Join("gatehouse-data", "admin.token"))
	}
	return files
}

var errNoToken = errors.New(`no token: run "gatehouse login", set GATEHOUSE_TOKEN, pass --token, or (as the admin of a local gatehouse up) run from the directory holding gatehouse-data/admin.token or set GATEHOUSE_DATA`)

// resolveToken returns the token the client commands use.
func (o *clientOptions) resolveToken() (string, error) {
	if o.token != "" {
		return o.token, nil
	}
	if t := strings.TrimSpace(o.env("GATEHOUSE_TOKEN")); t != "" {
		return t, nil
	}
	for _, f := range o.tokenFiles() {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read token file: %w", err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	}
	return "", errNoToken
}

// client returns an API client for the resolved gateway and token.
func (o *clientOptions) client() (*apiClient, error) {
	tok, err := o.resolveToken()
	if err != nil {
		return nil, err
	}
	return o.clientWith(tok)
}

// clientWith returns an API client for the resolved gateway that sends tok
// ("" sends none).
func (o *clientOptions) clientWith(tok string) (*apiClient, error) {
	base, err := o.gatewayURL()
	if err != nil {
		return nil, err
	}
	if err := checkTransport(base); err != nil {
		return nil, err
	}
	hc := o.httpClient
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &apiClient{base: base, token: tok, http: hc}, nil
}

// checkTransport refuses to send a token in clear text anywhere but to a
// loopback address.
func checkTransport(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("parse gateway URL: %w", err)
	}
	if u.Scheme == "https" {
		return nil
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing to send a token over plain http to %s: use an https:// gateway URL", host)
}

// apiClient is a small typed client of the gateway's HTTP API.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

// apiError is an error answer of the gateway.
type apiError struct {
	Status  int
	Message string
	Ref     string
}

func (e *apiError) Error() string {
	switch e.Status {
	case http.StatusUnauthorized:
		return `not authenticated: the token is missing, invalid or expired; run "gatehouse login" or set GATEHOUSE_TOKEN`
	case http.StatusForbidden:
		return "not authorized: this command needs an admin token"
	}
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Ref != "" {
		return fmt.Sprintf("gateway: %s (ref %s)", msg, e.Ref)
	}
	return "gateway: " + msg
}

func isNotFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out unless out is nil.
// yamlBody is a request body sent as it is, as YAML.
type yamlBody []byte

func (c *apiClient) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case yamlBody:
		rd, ctype = bytes.NewReader(b), "application/yaml"
	default:
		enc, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("cannot reach gateway at %s: is \"gatehouse up\" running? (%w)", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		ae := &apiError{Status: resp.StatusCode}
		var eb struct {
			Error string `json:"error"`
			Ref   string `json:"ref"`
		}
		if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&eb) == nil {
			ae.Message, ae.Ref = eb.Error, eb.Ref
		}
		return ae
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

func (c *apiClient) whoami(ctx context.Context) (*auth.Principal, error) {
	var p auth.Principal
	return &p, c.do(ctx, http.MethodGet, "/api/v1/whoami", nil, nil, &p)
}

func (c *apiClient) sessions(ctx context.Context, f store.SessionFilter) ([]store.Session, error) {
	q := url.Values{}
	for k, v := range map[string]string{"identity": f.Identity, "connection": f.Connection, "status": f.Status} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []store.Session
	return out, c.do(ctx, http.MethodGet, "/api/v1/sessions", q, nil, &out)
}

func (c *apiClient) session(ctx context.Context, id string) (*store.Session, error) {
	var s store.Session
	err := c.do(ctx, http.MethodGet, "/api/v1/sessions/"+url.PathEscape(id), nil, nil, &s)
	if isNotFound(err) {
		return nil, fmt.Errorf("session %q not found: list sessions with \"gatehouse sessions list\"", id)
	}
	return &s, err
}

// eventPage is how many events one request asks for.
const eventPage = 1000

// events returns all of a session's events, fetched page by page.
func (c *apiClient) events(ctx context.Context, id string) ([]store.Event, error) {
	var all []store.Event
	var after uint64
	for {
		q := url.Values{"after": {strconv.FormatUint(after, 10)}, "limit": {strconv.Itoa(eventPage)}}
		var page []store.Event
		err := c.do(ctx, http.MethodGet, "/api/v1/sessions/"+url.PathEscape(id)+"/events", q, nil, &page)
		if isNotFound(err) {
			return nil, fmt.Errorf("session %q not found: list sessions with \"gatehouse sessions list\"", id)
		}
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < eventPage {
			return all, nil
		}
		after = page[len(page)-1].Seq
	}
}

func (c *apiClient) verify(ctx context.Context, id string) (*api.VerifyResult, error) {
	var res api.VerifyResult
	err := c.do(ctx, http.MethodGet, "/api/v1/sessions/"+url.PathEscape(id)+"/verify", nil, nil, &res)
	if isNotFound(err) {
		return nil, fmt.Errorf("session %q not found: list sessions with \"gatehouse sessions list\"", id)
	}
	return &res, err
}

func (c *apiClient) issueToken(ctx context.Context, req api.IssueTokenRequest) (*api.IssuedToken, error) {
	var out api.IssuedToken
	return &out, c.do(ctx, http.MethodPost, "/api/v1/tokens", nil, req, &out)
}

func (c *apiClient) tokens(ctx context.Context) ([]api.TokenInfo, error) {
	var out []api.TokenInfo
	return out, c.do(ctx, http.MethodGet, "/api/v1/tokens", nil, nil, &out)
}

func (c *apiClient) revokeToken(ctx context.Context, id string) error {
	err := c.do(ctx, http.MethodPost, "/api/v1/tokens/"+url.PathEscape(id)+"/revoke", nil, nil, nil)
	if isNotFound(err) {
		return fmt.Errorf("token %q not found: list tokens with \"gatehouse tokens list\"", id)
	}
	return err
}

func (c *apiClient) joinToken(ctx context.Context, req api.JoinTokenRequest) (string, error) {
	var out api.JoinTokenResponse
	return out.Token, c.do(ctx, http.MethodPost, "/api/v1/connectors/join-tokens", nil, req, &out)
}

func (c *apiClient) connectors(ctx context.Context) ([]api.ConnectorInfo, error) {
	var out []api.ConnectorInfo
	return out, c.do(ctx, http.MethodGet, "/api/v1/connectors", nil, nil, &out)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// termSafe makes recorded or remote text safe to print on a terminal: control
// characters (an escape sequence in a statement could rewrite what an
// auditor sees) are shown escaped. Newlines and tabs are kept only when
// multiline is set.
func termSafe(s string, multiline bool) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case multiline && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, "\\x%02x", r)
		case r == '\uFFFD':
			b.WriteString(`\ufffd`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// fmtTime prints a timestamp in local time, or "-" for the zero time.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
