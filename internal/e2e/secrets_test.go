package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func randHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// captureConn records every byte the client reads.
type captureConn struct {
	net.Conn
	w io.Writer
}

func (c *captureConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.Write(p[:n])
	return n, err
}

// captureDial negotiates TLS with the gateway itself (SSLRequest, then a
// handshake verified against caFile) and hands pgconn the decrypted stream,
// wrapped so that everything the client receives lands in w. pgconn must
// then be configured without TLS.
func captureDial(caFile string, w io.Writer) pgconn.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", caFile)
		}
		var d net.Dialer
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		sslRequest := []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}
		var answer [1]byte
		if _, err := raw.Write(sslRequest); err == nil {
			_, err = io.ReadFull(raw, answer[:])
		}
		if err != nil || answer[0] != 'S' {
			raw.Close()
			return nil, fmt.Errorf("SSLRequest: answer %q, %v", answer[0], err)
		}
		host, _, _ := net.SplitHostPort(addr)
		tc := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return &captureConn{Conn: tc, w: w}, nil
	}
}

// TestSecretsNeverLeak runs a session with errors, a bad login and a
// target-side login failure, then looks for the target's password and the
// client's token in everything the gateway and connector produced: logs,
// what the client received, recorded events and session rows, and the raw
// bytes of every file in the data dirs.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"up", "split"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			db := pg.CreateDatabase(t)
			role := "app_" + randHex(t, 4)
			stmtPassword := "Ts-" + randHex(t, 16)
			password := "Tp-" + randHex(t, 16)
			wrongPassword := "Tw-" + randHex(t, 16)
			pg.Exec(t, "postgres", fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", role, password))
			pg.Exec(t, "postgres", fmt.Sprintf("ALTER DATABASE %s OWNER TO %s", db, role))
			good := targetConn(connName, db)
			good.Username, good.Password = role, config.Secret(password)
			wrong := targetConn("pg-wrong", db)
			wrong.Username, wrong.Password = role, config.Secret(wrongPassword)
			conns := []config.Connection{good, wrong}

			var h *gw
			var connLogs *lockedBuffer
			var dirs []string
			var joinToken string
			if mode == "up" {
				cfg := upConfig(t, db)
				cfg.Connections = conns
				h = startGateway(t, cfg, true, db)
			} else {
				s := startSplit(t, db, conns, nil)
				h, connLogs = s.gw, s.clogs
				dirs = append(dirs, s.ccfg.DataDir)
				joinToken = string(s.ccfg.Connector.JoinToken)
			}
			dirs = append(dirs, h.cfg.DataDir)
			tok := h.ciToken(t)
			ca := filepath.Join(h.cfg.DataDir, "pki", "ca.crt")
			received := &lockedBuffer{}
			capturing := func(conn, token, app string) *pgx.ConnConfig {
				cc := h.pgxConfig(t, conn, token, app)
				cc.TLSConfig = nil
				cc.Fallbacks = nil
				cc.DialFunc = captureDial(ca, received)
				return cc
			}

			// A session with errors, including ones that echo input.
			c := connect(t, capturing(connName, tok, "secrets"))
			ctx := ctxT(t)
			for _, q := range []struct {
				sql  string
				args []any
				code string
			}{
				{"CREATE TABLE s_t (id int PRIMARY KEY, v text)", nil, ""},
				{"INSERT INTO s_t VALUES ($1, $2)", []any{1, "x"}, ""},
				{"INSERT INTO s_t VALUES ($1, $2)", []any{1, "dup"}, "23505"},
				{"SELECT * FROM no_such_table", nil, "42P01"},
				{"SELECT $1::int", []any{"not a number"}, "22P02"},
				{"SELECT current_user, session_user", nil, ""},
				{"SHOW ALL", nil, ""},
				{"SET ROLE postgres", nil, "42501"},
				// The connection's role may not create roles; the statement
				// is recorded all the same, without its password.
				{"CREATE ROLE r_" + randHex(t, 4) + " LOGIN PASSWORD '" + stmtPassword + "'", nil, "42501"},
			} {
				if _, err := c.Exec(ctx, q.sql, q.args...); pgCode(err) != q.code {
					t.Errorf("%s: got %v, want SQLSTATE %q", q.sql, err, q.code)
				}
			}
			c.Close(ctx)

			// A bad login at the gateway.
			if pe := connectErr(t, capturing(connName, "ght_"+randHex(t, 21)+"x", "secrets-bad-token")); pe.Code != "28P01" {
				t.Errorf("bad token: got %s %q", pe.Code, pe.Message)
			}
			// A login the target refuses: the connection's password is wrong.
			pe := connectErr(t, capturing("pg-wrong", tok, "secrets-target-auth"))
			if pe.Code == "" || pe.Severity != "FATAL" {
				t.Errorf("target login failure: got %s %s %q", pe.Severity, pe.Code, pe.Message)
			}
			t.Logf("target login failure reached the client as: %s %s %q", pe.Severity, pe.Code, pe.Message)

			waitRecording(t, h.g.Store(), "secrets")
			// The refused target login leaves a failed session.
			eventually(t, "the session to pg-wrong to be marked failed", func() (bool, error) {
				list, err := h.g.Store().ListSessions(context.Background(), store.SessionFilter{Connection: "pg-wrong"})
				return err == nil && len(list) == 1 && list[0].Status == store.StatusFailed, fmt.Errorf("sessions %+v, %v", list, err)
			})

			secrets := map[string]string{
				"target password":         password,
				"wrong target password":   wrongPassword,
				"client token":            tok,
				"password in a statement": stmtPassword,
				"target password (hex)":   hex.EncodeToString([]byte(password)),
				"client token (hex)":      hex.EncodeToString([]byte(tok)),
			}
			noSecret := func(where string, data []byte) {
				t.Helper()
				for name, v := range secrets {
					if bytes.Contains(data, []byte(v)) {
						t.Errorf("the %s appears in %s", name, where)
					}
				}
			}
			noSecret("the gateway's log", h.logs.Bytes())
			if connLogs != nil {
				noSecret("the connector's log", connLogs.Bytes())
			}
			noSecret("what the clients received", received.Bytes())
			// The capture holds the decrypted protocol: current_user's answer.
			if !bytes.Contains(received.Bytes(), []byte(role)) {
				t.Errorf("the captured client bytes lack the result of current_user (%s)", role)
			}
			sessions, err := h.g.Store().ListSessions(ctx, store.SessionFilter{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range sessions {
				row, _ := json.Marshal(s)
				noSecret("session row "+s.ID, row)
				evs, err := h.g.Store().ListEvents(ctx, s.ID, 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range evs {
					raw, _ := json.Marshal(e)
					noSecret(fmt.Sprintf("event %d of %s", e.Seq, s.ID), raw)
				}
			}
			if joinToken != "" {
				for name, data := range map[string][]byte{"the gateway's log": h.logs.Bytes(), "the connector's log": connLogs.Bytes()} {
					if bytes.Contains(data, []byte(joinToken)) {
						t.Errorf("the join token appears in %s", name)
					}
				}
			}
			checkFiles := func(when string) {
				t.Helper()
				for _, dir := range dirs {
					files := readTree(t, dir)
					if len(files) == 0 {
						t.Errorf("no files in %s", dir)
					}
					for path, data := range files {
						noSecret(fmt.Sprintf("%s (%s)", path, when), data)
						if joinToken != "" && dir == h.cfg.DataDir && bytes.Contains(data, []byte(joinToken)) {
							t.Errorf("the join token appears in %s (%s)", path, when)
						}
					}
				}
			}
			checkFiles("while running")
			if err := h.g.Close(context.Background()); err != nil {
				t.Errorf("close gateway: %v", err)
			}
			checkFiles("after close")
		})
	}
}
