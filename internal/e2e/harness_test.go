package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/recording"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// connName is the connection every test's gateway serves.
const connName = "pg"

// waitLimit bounds every poll for an asynchronous fact (events shipped to
// the store, a connector coming online). It is a deadline for a hang, not
// an assertion about speed.
const waitLimit = 60 * time.Second

// lockedBuffer is an io.Writer safe for concurrent use: logs and captured
// client bytes are written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// Bytes returns a copy of everything written so far.
func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

func (l *lockedBuffer) String() string { return string(l.Bytes()) }

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// targetConn is a connection to database db on the shared server as the
// superuser, served by the embedded connector.
func targetConn(name, db string) config.Connection {
	return config.Connection{
		Name:     name,
		Type:     "postgres",
		Address:  pg.Addr(),
		Database: db,
		Username: "postgres",
		Password: config.Secret(pg.Password),
		TLS:      "disable",
	}
}

// upConfig is an `up` configuration on port-0 listeners with a fresh data
// dir, one connection "pg" to database db, and a policy that lets group ci
// use every connection.
func upConfig(t testing.TB, db string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.API = "127.0.0.1:0"
	cfg.Gateway.Postgres = "127.0.0.1:0"
	cfg.Connections = []config.Connection{targetConn(connName, db)}
	cfg.Policies = []config.Policy{{Name: "ci", Subjects: []string{"group:ci"}, Connections: []string{"*"}, Access: config.AccessAllow}}
	return cfg
}

// gw is a running gateway under test.
type gw struct {
	cfg  *config.Config
	g    *gateway.Gateway
	logs *lockedBuffer
	db   string
}

// startGateway validates cfg and starts a gateway on it; the test's cleanup
// closes it.
func startGateway(t testing.TB, cfg *config.Config, embedded bool, db string) *gw {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &lockedBuffer{}
	g := &gateway.Gateway{Config: cfg, Embedded: embedded, Logger: newLogger(logs)}
	if err := g.Start(context.Background()); err != nil {
		t.Fatalf("start gateway: %v\nlog:\n%s", err, logs)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			t.Errorf("close gateway: %v", err)
		}
	})
	return &gw{cfg: cfg, g: g, logs: logs, db: db}
}

// startUp creates a database and starts an `up` gateway in front of it;
// mutate, if not nil, adjusts the configuration first.
func startUp(t testing.TB, mutate func(*config.Config)) *gw {
	t.Helper()
	db := pg.CreateDatabase(t)
	cfg := upConfig(t, db)
	if mutate != nil {
		mutate(cfg)
	}
	return startGateway(t, cfg, true, db)
}

// token issues a one-hour service token.
func (h *gw) token(t testing.TB, identity string, groups ...string) string {
	t.Helper()
	tok, _, err := h.g.Issuer().Issue(context.Background(), auth.IssueRequest{Identity: identity, Groups: groups, Kind: auth.KindService, TTL: time.Hour})
	if err != nil {
		t.Fatalf("issue token: %v", err)
	}
	return tok
}

// ciToken is a token for identity ci-bot in group ci.
func (h *gw) ciToken(t testing.TB) string { return h.token(t, "ci-bot", "ci") }

func (h *gw) adminToken(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(gateway.AdminTokenPath(h.cfg.DataDir))
	if err != nil {
		t.Fatalf("read admin token: %v", err)
	}
	return strings.TrimSpace(string(b))
}

func (h *gw) pgHostPort(t testing.TB) (string, string) {
	t.Helper()
	host, port, err := net.SplitHostPort(h.g.Addrs().Postgres)
	if err != nil {
		t.Fatalf("postgres listener address %q: %v", h.g.Addrs().Postgres, err)
	}
	return host, port
}

func (h *gw) apiURL() string { return "http://" + h.g.Addrs().API }

// pgxConfig is a pgx configuration reaching connection conn through the
// gateway with TLS (sslmode=require) and the token as the password.
func (h *gw) pgxConfig(t testing.TB, conn, token, app string) *pgx.ConnConfig {
	t.Helper()
	host, port := h.pgHostPort(t)
	cc, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=require connect_timeout=30", host, port, conn, h.db))
	if err != nil {
		t.Fatalf("parse pgx config: %v", err)
	}
	cc.Password = token
	if app != "" {
		cc.RuntimeParams["application_name"] = app
	}
	return cc
}

// connect opens a pgx connection through the gateway; the test's cleanup
// closes it.
func connect(t testing.TB, cc *pgx.ConnConfig) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		t.Fatalf("connect through the gateway: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// connectErr tries to connect and returns the server's error, failing the
// test if the connection succeeds or fails without a PostgreSQL error.
func connectErr(t testing.TB, cc *pgx.ConnConfig) *pgconn.PgError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cc)
	if err == nil {
		c.Close(context.Background())
		t.Fatalf("connect succeeded, want an error")
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("connect: got %v, want a PostgreSQL ErrorResponse", err)
	}
	return pe
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// pgCode returns the SQLSTATE of err, or "" when it carries none.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// eventually polls f every 20ms until it reports true, failing the test
// after waitLimit with what it waited for and f's last error.
func eventually(t testing.TB, what string, f func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	var lastErr error
	for {
		ok, err := f()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s (last error: %v)", waitLimit, what, lastErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recordingOf is a finished session as the gateway stored it.
type recordingOf struct {
	Session *store.Session
	Events  []recording.Event
}

// waitRecording waits until the session whose client set application_name
// app has its closing event in the store and is signed, and returns it.
func waitRecording(t testing.TB, st store.Store, app string) recordingOf {
	t.Helper()
	var out recordingOf
	apps := map[string]string{} // session ID -> application name
	defer func() {
		if t.Failed() {
			t.Logf("sessions seen, by application_name: %v", apps)
		}
	}()
	eventually(t, fmt.Sprintf("the recording of session %q to end and be signed", app), func() (bool, error) {
		ctx := context.Background()
		list, err := st.ListSessions(ctx, store.SessionFilter{Limit: 1000})
		if err != nil {
			return false, err
		}
		for _, s := range list {
			name, known := apps[s.ID]
			if known && name != app {
				continue
			}
			evs, err := st.ListEvents(ctx, s.ID, 0, 0)
			if err != nil {
				return false, err
			}
			if len(evs) == 0 {
				continue
			}
			if !known {
				var start struct {
					Application string `json:"application_name"`
				}
				if evs[0].Type != recording.TypeSessionStart {
					return false, fmt.Errorf("session %s: first event is %q, want %s", s.ID, evs[0].Type, recording.TypeSessionStart)
				}
				if err := json.Unmarshal(evs[0].Data, &start); err != nil {
					return false, err
				}
				apps[s.ID] = start.Application
				if start.Application != app {
					continue
				}
			}
			if evs[len(evs)-1].Type != recording.TypeSessionEnd {
				return false, nil
			}
			sess, err := st.GetSession(ctx, s.ID)
			if err != nil {
				return false, err
			}
			if sess.Signature == "" {
				return false, nil
			}
			out = recordingOf{Session: sess, Events: toRecording(evs)}
			return true, nil
		}
		return false, nil
	})
	return out
}

func toRecording(evs []store.Event) []recording.Event {
	out := make([]recording.Event, len(evs))
	for i, e := range evs {
		out[i] = recording.Event{Session: e.Session, Seq: e.Seq, Time: e.Time, Type: e.Type, Data: e.Data, Prev: e.Prev, Hash: e.Hash}
	}
	return out
}

// Recorded payloads, as the connector writes them.
type (
	recParam struct {
		Null      bool   `json:"null"`
		Format    int16  `json:"format"`
		Text      string `json:"text"`
		Base64    string `json:"base64"`
		Size      int    `json:"size"`
		Truncated bool   `json:"truncated"`
	}
	recResult struct {
		Statement uint64 `json:"statement"`
		Tag       string `json:"tag"`
		Rows      int64  `json:"rows"`
		Error     *struct {
			Severity string `json:"severity"`
			Code     string `json:"code"`
			Message  string `json:"message"`
		} `json:"error"`
	}
	recStatement struct {
		Seq      uint64       `json:"-"`
		Protocol string       `json:"protocol"`
		Text     string       `json:"text"`
		Name     string       `json:"name"`
		Params   []recParam   `json:"params"`
		Results  []*recResult `json:"-"`
	}
)

// statements returns a recording's statements, each with the results that
// belong to it: a result names its statement by number (the n-th statement
// event of the session).
func statements(t testing.TB, evs []recording.Event) []*recStatement {
	t.Helper()
	var all []*recStatement
	for _, e := range evs {
		switch e.Type {
		case recording.TypeStatement:
			s := &recStatement{Seq: e.Seq}
			if err := json.Unmarshal(e.Data, s); err != nil {
				t.Fatalf("event %d: decode statement %s: %v", e.Seq, e.Data, err)
			}
			all = append(all, s)
		case recording.TypeResult:
			var r recResult
			if err := json.Unmarshal(e.Data, &r); err != nil {
				t.Fatalf("event %d: decode result %s: %v", e.Seq, e.Data, err)
			}
			if r.Statement < 1 || r.Statement > uint64(len(all)) {
				t.Errorf("event %d: result %s names statement %d, but %d statements came before it", e.Seq, e.Data, r.Statement, len(all))
				continue
			}
			s := all[r.Statement-1]
			s.Results = append(s.Results, &r)
		}
	}
	return all
}

// findStatement returns the first statement from index from on whose text
// is text, and its index.
func findStatement(stmts []*recStatement, from int, text string) (*recStatement, int) {
	for i := from; i < len(stmts); i++ {
		if strings.TrimSpace(stmts[i].Text) == text {
			return stmts[i], i
		}
	}
	return nil, -1
}

func dumpStatements(stmts []*recStatement) string {
	var b strings.Builder
	for _, s := range stmts {
		fmt.Fprintf(&b, "  #%d %s %q params=%v", s.Seq, s.Protocol, s.Text, s.Params)
		for _, r := range s.Results {
			fmt.Fprintf(&b, " -> %q rows=%d", r.Tag, r.Rows)
			if r.Error != nil {
				fmt.Fprintf(&b, " error=%s %s", r.Error.Code, r.Error.Message)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// checkSealed asserts that a recording's chain verifies and that the
// gateway signed its closing event.
func checkSealed(t testing.TB, h *gw, rec recordingOf) {
	t.Helper()
	if err := recording.Verify(rec.Events); err != nil {
		t.Errorf("session %s: chain: %v", rec.Session.ID, err)
	}
	last := rec.Events[len(rec.Events)-1]
	if rec.Session.SignedSeq != 0 && rec.Session.SignedSeq != last.Seq {
		t.Errorf("session %s: signed seq %d, want the closing event %d", rec.Session.ID, rec.Session.SignedSeq, last.Seq)
	}
	if !recording.VerifySignature(h.g.PublicKey(), rec.Session.ID, last.Seq, last.Hash, rec.Session.Signature) {
		t.Errorf("session %s: signature over event %d does not verify with the gateway's public key", rec.Session.ID, last.Seq)
	}
}

// cleanEnv is the environment without the PG* and GATEHOUSE* variables,
// so that a developer's settings do not reach the clients under test.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "GATEHOUSE") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// requireBinary returns the path of a client program, skipping the test
// when it is not installed.
func requireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		pgtest.Missing(t, "%s is not installed", name)
	}
	return p
}

// runCmd runs cmd with a two-minute limit and returns its combined output.
func runCmd(t testing.TB, name string, args []string, env []string, dir string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// psqlConnString is a libpq connection string for connection conn through
// the gateway.
func (h *gw) psqlConnString(t testing.TB, conn, app, sslmode string) string {
	t.Helper()
	host, port := h.pgHostPort(t)
	return fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=%s application_name=%s connect_timeout=30", host, port, conn, h.db, sslmode, app)
}

// psql runs psql against the gateway with the token in PGPASSWORD.
func (h *gw) psql(t testing.TB, token, app string, args ...string) (string, error) {
	t.Helper()
	bin := requireBinary(t, "psql")
	all := append([]string{"-X", "-v", "ON_ERROR_STOP=1", h.psqlConnString(t, connName, app, "require")}, args...)
	return runCmd(t, bin, all, cleanEnv("PGPASSWORD="+token), t.TempDir())
}

// cliResult is what one gatehouse command printed.
type cliResult struct {
	Stdout, Stderr string
	Code           int
}

// runCLI runs the gatehouse command line (the test binary re-executed as
// cli.Main, see TestMain) against the gateway's API with token.
func (h *gw) runCLI(t testing.TB, token string, args ...string) cliResult {
	t.Helper()
	return h.runCLIEnv(t, []string{"GATEHOUSE_TOKEN=" + token, "HOME=" + t.TempDir()}, args...)
}

// runCLIEnv runs the gatehouse command line with env added to a clean
// environment that names the gateway's API.
func (h *gw) runCLIEnv(t testing.TB, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = cleanEnv(append([]string{cliEnv + "=1", "GATEHOUSE_URL=" + h.apiURL()}, env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run gatehouse %v: %v", args, err)
	}
	return res
}

// browserCLI is `gatehouse login` waiting for a browser: the URL it
// printed, and a way to collect how it ended.
type browserCLI struct {
	URL  string
	wait func() (stderr string, err error)
}

// startBrowserLogin runs `gatehouse login args...` with home as HOME and
// returns once it has printed the URL to open.
func (h *gw) startBrowserLogin(t testing.TB, home string, args ...string) browserCLI {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"login"}, args...)...)
	cmd.Env = cleanEnv(cliEnv+"=1", "GATEHOUSE_URL="+h.apiURL(), "HOME="+home, "XDG_CONFIG_HOME=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(all.String(), "\n") {
		n, err := stderr.Read(buf)
		all.Write(buf[:n])
		if err != nil {
			t.Fatalf("CLI output ended: %q", all.String())
		}
	}
	_, u, ok := strings.Cut(strings.TrimSpace(all.String()), "Open this URL to sign in: ")
	if !ok {
		t.Fatalf("no URL printed: %q", all.String())
	}
	return browserCLI{URL: u, wait: func() (string, error) {
		rest, _ := io.ReadAll(stderr)
		all.Write(rest)
		err := cmd.Wait()
		return all.String(), err
	}}
}

// readTree returns the raw bytes of every regular file under dir.
func readTree(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // removed while we walked (a rotated segment)
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		files[path] = b
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	return files
}
