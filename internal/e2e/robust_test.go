package e2e

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestUpBadInput sends the gateway's PostgreSQL listener malformed
// openings and checks that each gets an answer or a close, never a hang,
// and that the gateway keeps serving.
func TestUpBadInput(t *testing.T) {
	t.Parallel()
	h := startUp(t, nil)
	addr := h.g.Addrs().Postgres
	startup := func(params ...string) []byte {
		b := []byte{0, 0, 0, 0, 0, 3, 0, 0}
		for _, p := range params {
			b = append(b, p...)
			b = append(b, 0)
		}
		b = append(b, 0)
		binary.BigEndian.PutUint32(b, uint32(len(b)))
		return b
	}
	tests := []struct {
		name  string
		send  []byte
		isTLS bool
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false},
		{"huge length", []byte{0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0}, false},
		{"short length", []byte{0, 0, 0, 2}, false},
		{"startup without TLS", startup("user", connName), false},
		{"startup without user", startup("database", "x"), true},
		{"startup then garbage", append(startup("user", connName), "\x00\x00garbage"...), true},
		{"unterminated params", []byte{0, 0, 0, 12, 0, 3, 0, 0, 'u', 's', 'e', 'r'}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := net.DialTimeout("tcp", addr, 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			var c net.Conn = raw
			if tt.isTLS {
				if _, err := raw.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
					t.Fatal(err)
				}
				var b [1]byte
				if _, err := io.ReadFull(raw, b[:]); err != nil || b[0] != 'S' {
					t.Fatalf("SSLRequest: %q, %v", b[0], err)
				}
				tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true}) // only bad input is sent
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				c = tc
			}
			c.SetDeadline(time.Now().Add(waitLimit))
			if _, err := c.Write(tt.send); err != nil {
				return // closed at once: fine
			}
			// The gateway answers (an ErrorResponse, or an auth request it
			// will never get a valid answer to) or closes; it must not hang.
			buf := make([]byte, 4096)
			_, err = c.Read(buf)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("no answer and no close within %v", waitLimit)
			}
		})
	}
	c := connect(t, h.pgxConfig(t, connName, h.ciToken(t), "after-bad-input"))
	var one int
	if err := c.QueryRow(ctxT(t), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("after bad input: %d, %v", one, err)
	}
}

// TestUpDatabases checks how the client's dbname reaches the target.
func TestUpDatabases(t *testing.T) {
	t.Parallel()
	h := startUp(t, nil)
	tok := h.ciToken(t)
	tests := []struct {
		name, dbname string
		want         string // current_database(), or an SQLSTATE prefixed with "!"
	}{
		{"named", h.db, h.db},
		{"another database", "postgres", "postgres"},
		{"connection name means the connection's database", connName, h.db},
		{"missing database", "no_such_db", "!3D000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := h.pgxConfig(t, connName, tok, "db-"+tt.dbname)
			cc.Database = tt.dbname
			if code, ok := strings.CutPrefix(tt.want, "!"); ok {
				if pe := connectErr(t, cc); pe.Code != code {
					t.Errorf("got %s %q, want %s", pe.Code, pe.Message, code)
				}
				return
			}
			c := connect(t, cc)
			var got string
			if err := c.QueryRow(ctxT(t), "SELECT current_database()").Scan(&got); err != nil || got != tt.want {
				t.Errorf("current_database(): got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("psql without dbname", func(t *testing.T) {
		bin := requireBinary(t, "psql")
		host, port := h.pgHostPort(t)
		out, err := runCmd(t, bin, []string{"-X", "-At", fmt.Sprintf("host=%s port=%s user=%s sslmode=require", host, port, connName), "-c", "SELECT current_database()"},
			cleanEnv("PGPASSWORD="+tok), t.TempDir())
		if err != nil || strings.TrimSpace(out) != h.db {
			t.Errorf("psql: got %q, %v; want %s", out, err, h.db)
		}
	})
}

// TestClientDisconnect drops a client in the middle of a long statement
// and checks that the gateway (and connector) release the target session
// and record the session's end.
func TestClientDisconnect(t *testing.T) {
	t.Parallel()
	t.Run("up", func(t *testing.T) {
		t.Parallel()
		testClientDisconnect(t, startUp(t, nil))
	})
	t.Run("split", func(t *testing.T) {
		t.Parallel()
		db := pg.CreateDatabase(t)
		testClientDisconnect(t, startSplit(t, db, []config.Connection{targetConn(connName, db)}, nil).gw)
	})
}

func testClientDisconnect(t *testing.T, h *gw) {
	var raw net.Conn
	cc := h.pgxConfig(t, connName, h.ciToken(t), "dropped")
	dial := cc.DialFunc
	cc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		raw = c
		return c, err
	}
	c, err := pgx.ConnectConfig(ctxT(t), cc)
	if err != nil {
		t.Fatal(err)
	}
	var pid uint32
	if err := c.QueryRow(ctxT(t), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL notices a closed client socket during a statement only
	// when it checks for it; ask it to, so that the gateway closing its
	// target connection shows as the backend going away.
	if _, err := c.Exec(ctxT(t), "SET client_connection_check_interval = '100ms'"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), "SELECT pg_sleep(600)")
		done <- err
	}()
	waitActive(t, pid, "SELECT pg_sleep(600)")
	raw.Close() // the client vanishes without a Terminate
	<-done

	direct, err := pgx.Connect(ctxT(t), pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())
	eventually(t, "the target backend to go away", func() (bool, error) {
		var n int
		err := direct.QueryRow(ctxT(t), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n)
		return err == nil && n == 0, err
	})
	rec := waitRecording(t, h.g.Store(), "dropped")
	checkSealed(t, h, rec)
	if rec.Session.Status == store.StatusActive || rec.Session.EndedAt.IsZero() {
		t.Errorf("session after the client vanished: status %q ended %v", rec.Session.Status, rec.Session.EndedAt)
	}
}
