package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// TestDataDirInUse starts a second gateway on a running one's data dir:
// it must refuse, because two processes on one spool lose recordings.
func TestDataDirInUse(t *testing.T) {
	t.Parallel()
	h := startUp(t, nil)
	cfg := *h.cfg
	cfg.Gateway.API, cfg.Gateway.Postgres = "127.0.0.1:0", "127.0.0.1:0"
	g := &gateway.Gateway{Config: &cfg, Embedded: true}
	err := g.Start(context.Background())
	if err == nil {
		g.Close(context.Background())
		t.Fatal("a second gateway started on the same data dir")
	}
	if !strings.Contains(err.Error(), "in use by another gatehouse process") {
		t.Errorf("second gateway: got %v", err)
	}
	// The first one goes on recording.
	if out, err := h.psql(t, h.ciToken(t), "after-second", "-A", "-t", "-c", "SELECT 7"); err != nil || out != "7\n" {
		t.Fatalf("first gateway after the refused second: %v: %q", err, out)
	}
	waitRecording(t, h.g.Store(), "after-second")
}
