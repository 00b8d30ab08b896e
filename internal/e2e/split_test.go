package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/connector"
)

const connectorName = "dc1"

// splitEnv is a gateway without an embedded connector and a connector
// process (a goroutine running connector.Run) that dials its tunnel.
type splitEnv struct {
	*gw
	ccfg  *config.Config
	clogs *lockedBuffer

	mu   sync.Mutex
	stop func() error // stops the running connector; nil when stopped
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, for a listener that must come back on the same address.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startSplit starts a gateway whose connections (given as the connector
// sees them, with addresses and credentials) are served by connector dc1,
// enrolls dc1 with a join token from the CLI, and starts it.
func startSplit(t testing.TB, db string, conns []config.Connection, mutate func(*config.Config)) *splitEnv {
	t.Helper()
	gcfg := upConfig(t, db)
	gcfg.Gateway.Tunnel = freeAddr(t)
	gcfg.Connections = nil
	for _, cn := range conns {
		// The gateway knows only the name and which connector serves it.
		gcfg.Connections = append(gcfg.Connections, config.Connection{Name: cn.Name, Type: cn.Type, Connector: connectorName, Database: cn.Database})
	}
	if mutate != nil {
		mutate(gcfg)
	}
	h := startGateway(t, gcfg, false, db)

	res := h.runCLI(t, h.adminToken(t), "connectors", "join-token", "--name", connectorName)
	join := strings.TrimSpace(res.Stdout)
	if res.Code != 0 || !strings.HasPrefix(join, "ghj_") || strings.Contains(join, "\n") {
		t.Fatalf("connectors join-token: exit %d, stdout %q, stderr %q", res.Code, res.Stdout, res.Stderr)
	}

	ccfg := config.Default()
	ccfg.DataDir = t.TempDir()
	ccfg.Gateway.API = ""
	ccfg.Gateway.Postgres = ""
	ccfg.Connector = config.Connector{Name: connectorName, Gateway: gcfg.Gateway.Tunnel, JoinToken: config.Secret(join)}
	for _, cn := range conns {
		cn.Connector = connectorName
		ccfg.Connections = append(ccfg.Connections, cn)
	}
	if err := ccfg.Validate(); err != nil {
		t.Fatalf("connector config: %v", err)
	}
	s := &splitEnv{gw: h, ccfg: ccfg, clogs: &lockedBuffer{}}
	// Registered after the gateway's cleanup, so it runs first.
	t.Cleanup(func() { s.stopConnector(t) })
	s.startConnector(t)
	s.waitOnline(t, true)
	return s
}

// startConnector runs connector.Run in a goroutine until stopConnector.
func (s *splitEnv) startConnector(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		t.Fatalf("connector already running")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- connector.Run(ctx, s.ccfg, newLogger(s.clogs).With("role", "connector")) }()
	s.stop = func() error {
		cancel()
		return <-done
	}
}

// stopConnector stops the connector and waits for connector.Run to return.
func (s *splitEnv) stopConnector(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	stop := s.stop
	s.stop = nil
	s.mu.Unlock()
	if stop == nil {
		return
	}
	if err := stop(); err != nil {
		t.Errorf("connector.Run: %v\nconnector log:\n%s", err, s.clogs)
	}
}

// waitOnline waits until the gateway's API reports connector dc1 online
// (or offline).
func (s *splitEnv) waitOnline(t testing.TB, online bool) {
	t.Helper()
	admin := s.adminToken(t)
	eventually(t, fmt.Sprintf("connector %s online=%v", connectorName, online), func() (bool, error) {
		var list []api.ConnectorInfo
		if err := apiGet(s.apiURL()+"/api/v1/connectors", admin, &list); err != nil {
			return false, err
		}
		i := slices.IndexFunc(list, func(c api.ConnectorInfo) bool { return c.Name == connectorName })
		return i >= 0 && list[i].Online == online, fmt.Errorf("connectors: %+v", list)
	})
}

// apiGet GETs url with a bearer token and decodes the JSON answer.
func apiGet(url, token string, out any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// TestSplit runs sessions through a gateway and a separate connector over
// the mutual-TLS tunnel: pgx and psql work, recordings arrive in the
// gateway's store, a stopped connector is reported at once, and after a
// gateway restart the connector comes back with its stored certificate.
func TestSplit(t *testing.T) {
	t.Parallel()
	db := pg.CreateDatabase(t)
	s := startSplit(t, db, []config.Connection{targetConn(connName, db)}, nil)
	tok := s.ciToken(t)

	// roundTrip runs a session through the gateway and checks that its
	// recording reaches the gateway's store, from connector dc1.
	roundTrip := func(t *testing.T, h *gw, tok, app string) {
		t.Helper()
		c := connect(t, h.pgxConfig(t, connName, tok, app))
		ctx := ctxT(t)
		if _, err := c.Exec(ctx, "CREATE TABLE IF NOT EXISTS split_t (id int, app text)"); err != nil {
			t.Fatalf("create: %v", err)
		}
		if _, err := c.Exec(ctx, "INSERT INTO split_t VALUES ($1, $2)", 1, app); err != nil {
			t.Fatalf("insert: %v", err)
		}
		var got string
		if err := c.QueryRow(ctx, "SELECT app FROM split_t WHERE app = $1", app).Scan(&got); err != nil || got != app {
			t.Fatalf("select: %q, %v", got, err)
		}
		if _, err := c.Exec(ctx, "SELECT 1/0"); pgCode(err) != "22012" {
			t.Fatalf("division by zero: got %v, want 22012", err)
		}
		c.Close(ctx)
		rec := waitRecording(t, h.g.Store(), app)
		checkSealed(t, h, rec)
		if rec.Session.Connector != connectorName {
			t.Errorf("session connector %q, want %s", rec.Session.Connector, connectorName)
		}
		var start struct {
			Connector string `json:"connector"`
		}
		if err := json.Unmarshal(rec.Events[0].Data, &start); err != nil || start.Connector != connectorName {
			t.Errorf("session.start: %s", rec.Events[0].Data)
		}
		stmts := statements(t, rec.Events)
		ins, _ := findStatement(stmts, 0, "INSERT INTO split_t VALUES ($1, $2)")
		if ins == nil || len(ins.Params) != 2 || paramValue(t, ins.Params[1]) != app || len(ins.Results) != 1 || ins.Results[0].Tag != "INSERT 0 1" {
			t.Errorf("insert not recorded as run:\n%s", dumpStatements(stmts))
		}
	}

	t.Run("pgx", func(t *testing.T) { roundTrip(t, s.gw, tok, "split-pgx") })

	t.Run("psql", func(t *testing.T) {
		out, err := s.psql(t, tok, "split-psql", "-At", "-c", "SELECT 'via ' || 'dc1'; SELECT 2 + 2")
		if err != nil {
			t.Fatalf("psql: %v\n%s", err, out)
		}
		if out != "via dc1\n4\n" {
			t.Errorf("psql: got %q", out)
		}
		rec := waitRecording(t, s.g.Store(), "split-psql")
		checkSealed(t, s.gw, rec)
	})

	t.Run("cancel", func(t *testing.T) {
		// A CancelRequest reaches the connector through its own stream.
		c := connect(t, s.pgxConfig(t, connName, tok, "split-cancel"))
		var pid uint32
		if err := c.QueryRow(ctxT(t), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := c.Exec(context.Background(), "SELECT pg_sleep(10)")
			done <- err
		}()
		waitActive(t, pid, "SELECT pg_sleep(10)")
		if err := c.PgConn().CancelRequest(ctxT(t)); err != nil {
			t.Fatalf("cancel request: %v", err)
		}
		if err := <-done; pgCode(err) != "57014" {
			t.Fatalf("canceled sleep: got %v, want 57014", err)
		}
	})

	t.Run("connector offline", func(t *testing.T) {
		s.stopConnector(t)
		s.waitOnline(t, false)
		pe := connectErr(t, s.pgxConfig(t, connName, tok, "split-offline"))
		if want := "gatehouse: connector dc1 is offline"; pe.Message != want {
			t.Errorf("got %s %q, want %q", pe.Code, pe.Message, want)
		}
		// The connector comes back with its stored certificate: its join
		// token was used up at enrollment.
		s.startConnector(t)
		s.waitOnline(t, true)
		roundTrip(t, s.gw, tok, "split-reconnected")
	})

	t.Run("gateway restart", func(t *testing.T) {
		if err := s.g.Close(context.Background()); err != nil {
			t.Fatalf("close gateway: %v", err)
		}
		// Same data dir and the same tunnel address; new client listeners.
		s.gw = startGateway(t, s.cfg, false, db)
		s.waitOnline(t, true)
		// Tokens live in the gateway's store and survive the restart.
		roundTrip(t, s.gw, tok, "split-after-restart")
	})

	if t.Failed() {
		t.Logf("gateway log:\n%s\nconnector log:\n%s", s.logs, s.clogs)
	}
}
