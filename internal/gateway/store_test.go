package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// TestStartPostgresStoreUnreachable: with store.postgres set the gateway
// opens the PostgreSQL store, and when it cannot, Start fails saying so,
// with the DSN's password in neither the error nor the log.
func TestStartPostgresStoreUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now

	const pw = "Gw-st0re-pw-5e2a"
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.API, cfg.Gateway.Postgres = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Store = config.Store{Postgres: config.Secret("postgres://gatehouse:" + pw + "@" + addr + "/gatehouse?sslmode=disable&connect_timeout=5")}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	var logs bytes.Buffer
	g := &Gateway{Config: cfg, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = g.Start(ctx)
	if err == nil {
		g.Close(ctx)
		t.Fatal("Start succeeded without a PostgreSQL server")
	}
	if !strings.Contains(err.Error(), "open store: open postgres store") || !strings.Contains(err.Error(), addr) {
		t.Errorf("Start: got %v, want an error opening the PostgreSQL store at %s", err, addr)
	}
	if strings.Contains(err.Error(), pw) || strings.Contains(logs.String(), pw) {
		t.Errorf("the password shows:\nerror: %v\nlog:\n%s", err, logs.String())
	}
}
