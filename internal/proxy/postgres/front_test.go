package postgres_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
)

func TestClientTLS(t *testing.T) {
	serverTLS, pool := certConfig(t)
	var sawTLS bool
	var p *proxy
	p = startProxy(t, proxyOptions{
		tls: serverTLS,
		open: func(ctx context.Context, req *postgres.OpenRequest) (*postgres.Opened, error) {
			sawTLS = req.TLS
			u, err := postgres.Dial(ctx, postgres.Target{Address: srv.Addr(), Database: p.DB, User: "postgres", Password: srv.Password}, req.Params)
			if err != nil {
				return nil, err
			}
			return &postgres.Opened{Params: u.Params(), Relay: func(ctx context.Context, c net.Conn) error { return u.Relay(ctx, c, p.Rec) }, Cancel: u.Cancel, Close: u.Close}, nil
		},
	})
	ctx := context.Background()

	t.Run("require", func(t *testing.T) {
		conn := connect(t, p.DSN("require"))
		var n int
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if !sawTLS {
			t.Error("OpenRequest.TLS: got false, want true")
		}
	})
	t.Run("verify-full", func(t *testing.T) {
		cfg, err := pgx.ParseConfig(p.DSN("verify-full"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.TLSConfig.RootCAs = pool
		cfg.TLSConfig.ServerName = "localhost"
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
	})
	t.Run("plaintext refused", func(t *testing.T) {
		_, err := pgx.Connect(ctx, p.DSN("disable"))
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "28000" || pe.Message != "gatehouse: TLS required" {
			t.Fatalf("plaintext connect: got %v, want 28000 gatehouse: TLS required", err)
		}
	})
	t.Run("no password prompt in clear", func(t *testing.T) {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fe := pgproto3.NewFrontend(c, c)
		fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "app"}})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		er, ok := msg.(*pgproto3.ErrorResponse)
		if !ok || er.Code != "28000" {
			t.Fatalf("first answer to a plaintext startup: got %#v, want ErrorResponse 28000", msg)
		}
		if _, err := fe.Receive(); err == nil {
			t.Error("connection still open after the refusal")
		}
	})
}

func TestFrontStartupErrors(t *testing.T) {
	p := startProxy(t, proxyOptions{
		open: func(ctx context.Context, req *postgres.OpenRequest) (*postgres.Opened, error) {
			switch req.Connection {
			case "internal":
				return nil, errors.New("store unavailable at 10.1.2.3 with secret s3cr3t")
			case "forbidden":
				return nil, &postgres.Error{Severity: "FATAL", Code: "28P01", Message: "gatehouse: invalid or expired token"}
			}
			return nil, errors.New("unexpected")
		},
	})
	ctx := context.Background()
	dsn := func(user string) string {
		return "postgres://" + user + ":" + testToken + "@" + p.Addr + "/db?sslmode=disable"
	}

	_, err := pgx.Connect(ctx, dsn("internal"))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "08006" || !strings.HasPrefix(pe.Message, "gatehouse: internal error (ref ") {
		t.Fatalf("Open failing internally: got %v, want 08006 internal error (ref ...)", err)
	}
	if strings.Contains(pe.Message, "10.1.2.3") || strings.Contains(pe.Message, "s3cr3t") {
		t.Errorf("internal detail reached the client: %q", pe.Message)
	}
	ref := strings.TrimSuffix(strings.TrimPrefix(pe.Message, "gatehouse: internal error (ref "), ")")
	if log := p.logText(); !strings.Contains(log, "ref="+ref) || !strings.Contains(log, "store unavailable") {
		t.Errorf("log lacks the reference %s and the cause:\n%s", ref, log)
	}

	_, err = pgx.Connect(ctx, dsn("forbidden"))
	if !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Fatalf("Open refusing: got %v, want 28P01", err)
	}
	if strings.Contains(p.logText(), testToken) {
		t.Error("the token appears in the log")
	}
}

// rawStartup sends a hand-made first packet and returns the first answer.
func rawStartup(t *testing.T, addr string, pkt []byte) (byte, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	// EOF after the packet, so the Front ends the connection after its
	// first answer instead of waiting for more. (It may have hung up
	// already, which makes CloseWrite fail: that is fine.)
	c.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(c)
	if len(b) == 0 {
		return 0, nil
	}
	return b[0], b
}

func startupPacket(version uint32, params ...string) []byte {
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint32(b, version)
	for _, p := range params {
		b = append(b, p...)
		b = append(b, 0)
	}
	b = append(b, 0)
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

func TestFrontRawStartup(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	tests := []struct {
		name     string
		pkt      []byte
		wantType byte   // first byte of the answer
		wantCode string // SQLSTATE when an ErrorResponse
	}{
		{name: "huge length", pkt: []byte{0x7f, 0, 0, 0, 0, 3, 0, 0}, wantType: 'E', wantCode: "08P01"},
		{name: "short length", pkt: []byte{0, 0, 0, 2}, wantType: 'E', wantCode: "08P01"},
		{name: "protocol 2", pkt: startupPacket(2<<16, "user", "app"), wantType: 'E', wantCode: "0A000"},
		{name: "no user", pkt: startupPacket(pgproto3.ProtocolVersion30, "database", "x"), wantType: 'E', wantCode: "28000"},
		{name: "replication", pkt: startupPacket(pgproto3.ProtocolVersion30, "user", "app", "replication", "database"), wantType: 'E', wantCode: "0A000"},
		{name: "unterminated params", pkt: []byte{0, 0, 0, 12, 0, 3, 0, 0, 'u', 's', 'e', 'r'}, wantType: 'E', wantCode: "08P01"},
		{name: "gssenc then eof", pkt: []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30}, wantType: 'N'},
		{name: "ssl without tls config", pkt: []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}, wantType: 'N'},
		{name: "cancel with unknown key", pkt: []byte{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 0, 0, 0, 2}, wantType: 0},
		{name: "valid startup asks for a password", pkt: startupPacket(pgproto3.ProtocolVersion30, "user", "app"), wantType: 'R'},
		{name: "protocol 3.2 negotiates down", pkt: startupPacket(pgproto3.ProtocolVersion32, "user", "app", "_pq_.x", "1"), wantType: 'v'},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, b := rawStartup(t, p.Addr, tt.pkt)
			if typ != tt.wantType {
				t.Fatalf("answer: got %q (%q), want %q", typ, b, tt.wantType)
			}
			if tt.wantCode != "" {
				var er pgproto3.ErrorResponse
				if len(b) < 5 || er.Decode(b[5:]) != nil {
					t.Fatalf("answer %q is not an ErrorResponse", b)
				}
				if er.Code != tt.wantCode || er.Severity != "FATAL" {
					t.Errorf("error: got %s %s %q, want FATAL %s", er.Severity, er.Code, er.Message, tt.wantCode)
				}
			}
		})
	}
}

func TestProtocol32Client(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	cfg, err := pgx.ParseConfig(p.DSN("disable"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxProtocolVersion = "3.2"
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connect asking for 3.2: %v", err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT 5").Scan(&n); err != nil || n != 5 {
		t.Fatalf("query: got %d, %v", n, err)
	}
}

func TestRecorderFailureFailsClosed(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := context.Background()
	conn := connect(t, p.DSN("disable"))
	mustExec(t, conn, "CREATE TABLE t (id int)")
	p.Rec.mu.Lock()
	p.Rec.failStatement = errors.New("spool full")
	p.Rec.mu.Unlock()
	_, err := conn.Exec(ctx, "INSERT INTO t VALUES (1)")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "58030" || pe.Severity != "FATAL" {
		t.Fatalf("statement with a failing recorder: got %v, want FATAL 58030", err)
	}
	if err := p.nextRelayErr(t); err == nil || !strings.Contains(err.Error(), "spool full") {
		t.Errorf("Relay: got %v, want the recorder's error", err)
	}
	direct, err := pgx.Connect(ctx, p.target.DSN(p.DB))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	var n int
	if err := direct.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("rows inserted by an unrecorded statement: got %d, want 0", n)
	}
}

func TestServeCancelEndsSessions(t *testing.T) {
	if srv == nil {
		pgtest.Missing(t, "no PostgreSQL binaries")
	}
	db := srv.CreateDatabase(t)
	rec := &recorder{}
	relayDone := make(chan error, 1)
	f := &postgres.Front{
		AllowPlaintext: true,
		Open: func(ctx context.Context, req *postgres.OpenRequest) (*postgres.Opened, error) {
			u, err := postgres.Dial(ctx, postgres.Target{Address: srv.Addr(), Database: db, User: "postgres", Password: srv.Password}, req.Params)
			if err != nil {
				return nil, err
			}
			return &postgres.Opened{Params: u.Params(), Relay: func(ctx context.Context, c net.Conn) error {
				err := u.Relay(ctx, c, rec)
				relayDone <- err
				return err
			}}, nil
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.Serve(ctx, ln) }()
	conn, err := pgx.Connect(context.Background(), "postgres://app:x@"+ln.Addr().String()+"/db?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	cancel()
	if err := <-relayDone; !errors.Is(err, context.Canceled) {
		t.Errorf("Relay after cancel: got %v, want context.Canceled", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after cancel: got %v, want nil", err)
	}
	_, err = conn.Exec(context.Background(), "SELECT 1")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57P01" {
		t.Errorf("query on a terminated session: got %v, want 57P01", err)
	}
}

// rawSession logs in to the proxy with pgproto3 and returns the frontend
// after the first ReadyForQuery.
func rawSession(t *testing.T, p *proxy) (*pgproto3.Frontend, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fe := pgproto3.NewFrontend(c, c)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "app", "database": p.DB}})
	fe.Flush()
	if msg, err := fe.Receive(); err != nil {
		t.Fatal(err)
	} else if _, ok := msg.(*pgproto3.AuthenticationCleartextPassword); !ok {
		t.Fatalf("got %#v, want AuthenticationCleartextPassword", msg)
	}
	fe.Send(&pgproto3.PasswordMessage{Password: testToken})
	fe.Flush()
	var sawKey bool
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.BackendKeyData:
			sawKey = m.ProcessID != 0 && len(m.SecretKey) == 4
		case *pgproto3.ErrorResponse:
			t.Fatalf("login: %s", m.Message)
		case *pgproto3.ReadyForQuery:
			if !sawKey {
				t.Fatal("no BackendKeyData before ReadyForQuery")
			}
			return fe, c
		}
	}
}

// untilReady collects message type names up to ReadyForQuery.
func untilReady(t *testing.T, fe *pgproto3.Frontend) []string {
	t.Helper()
	var got []string
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(fmt.Sprintf("%T", msg), "*pgproto3.")
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			name += " " + e.Code
		}
		got = append(got, name)
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			return got
		}
	}
}

func TestRawProtocol(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	fe, _ := rawSession(t, p)

	steps := []struct {
		name string
		send []pgproto3.FrontendMessage
		want []string
	}{
		{
			name: "function call",
			// int4abs(-5), OID 1397, binary argument and result.
			send: []pgproto3.FrontendMessage{&pgproto3.FunctionCall{Function: 1397, ArgFormatCodes: []uint16{1}, Arguments: [][]byte{{0xff, 0xff, 0xff, 0xfb}}, ResultFormatCode: 1}},
			want: []string{"FunctionCallResponse", "ReadyForQuery"},
		},
		{
			name: "empty query",
			send: []pgproto3.FrontendMessage{&pgproto3.Query{String: ""}},
			want: []string{"EmptyQueryResponse", "ReadyForQuery"},
		},
		{
			name: "describe unknown statement",
			send: []pgproto3.FrontendMessage{&pgproto3.Describe{ObjectType: 'S', Name: "nope"}, &pgproto3.Bind{PreparedStatement: "nope"}, &pgproto3.Execute{}, &pgproto3.Sync{}},
			want: []string{"ErrorResponse 26000", "ReadyForQuery"},
		},
		{
			name: "named statement and portal with a row limit",
			send: []pgproto3.FrontendMessage{
				&pgproto3.Parse{Name: "gen", Query: "SELECT generate_series(1, $1::int)"},
				&pgproto3.Describe{ObjectType: 'S', Name: "gen"},
				&pgproto3.Bind{DestinationPortal: "cur", PreparedStatement: "gen", Parameters: [][]byte{[]byte("5")}},
				&pgproto3.Execute{Portal: "cur", MaxRows: 3},
				&pgproto3.Execute{Portal: "cur", MaxRows: 3},
				&pgproto3.Close{ObjectType: 'P', Name: "cur"},
				&pgproto3.Close{ObjectType: 'S', Name: "gen"},
				&pgproto3.Sync{},
			},
			want: []string{"ParseComplete", "ParameterDescription", "RowDescription", "BindComplete",
				"DataRow", "DataRow", "DataRow", "PortalSuspended", "DataRow", "DataRow", "CommandComplete",
				"CloseComplete", "CloseComplete", "ReadyForQuery"},
		},
	}
	for _, st := range steps {
		for _, m := range st.send {
			fe.Send(m)
		}
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(st.want, untilReady(t, fe)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", st.name, diff)
		}
	}
	fe.Send(&pgproto3.Terminate{})
	fe.Flush()
	if err := p.nextRelayErr(t); err != nil {
		t.Errorf("Relay after Terminate: got %v, want nil", err)
	}

	want := []stmtSummary{
		{Protocol: "function", Text: "function 1397", Params: []string{"\xff\xff\xff\xfb"}, Results: []resSummary{{}}},
		{Protocol: "simple", Text: "", Results: []resSummary{{}}},
		{Protocol: "extended", Text: ""}, // skipped: the Describe failed first
		{Protocol: "extended", Text: "SELECT generate_series(1, $1::int)", Params: []string{"5"}, Results: []resSummary{{Rows: 3}}},
		{Protocol: "extended", Text: "SELECT generate_series(1, $1::int)", Params: []string{"5"}, Results: []resSummary{{Tag: "SELECT 2", Rows: 2}}},
	}
	if diff := cmp.Diff(want, summarize(p.Rec.statements())); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
}
