package connector

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/datadir"
	"github.com/gatehouse-dev/gatehouse/internal/recording"
	"github.com/gatehouse-dev/gatehouse/internal/tunnel"
)

// ShipBatch is how many spooled events go to the gateway at most at once.
const ShipBatch = 512

// Served returns the connections of cfg that the connector called name
// serves: those that name it, and those that name no connector.
func Served(cfg *config.Config, name string) map[string]config.Connection {
	m := make(map[string]config.Connection)
	for _, cn := range cfg.Connections {
		if cn.Connector == name || cn.Connector == config.EmbeddedConnector {
			m[cn.Name] = cn
		}
	}
	return m
}

// OpenSpool opens the spool in the data directory.
func OpenSpool(dataDir string) (*recording.Spool, error) {
	sp, err := recording.OpenSpool(filepath.Join(dataDir, "spool"), recording.SpoolOptions{})
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	return sp, nil
}

// Run runs the connector role: it dials the gateway, serves the sessions it
// is sent and ships its spool, until ctx is done.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	cc := cfg.Connector
	if cc.Name == "" {
		return fmt.Errorf("connector.name: must be set to run a connector")
	}
	if cc.Gateway == "" {
		return fmt.Errorf("connector.gateway: must be set to the gateway's tunnel address")
	}
	join := string(cc.JoinToken)
	if cc.JoinTokenFile != "" {
		b, err := os.ReadFile(cc.JoinTokenFile)
		if err != nil {
			return fmt.Errorf("connector.join_token_file: %w", err)
		}
		join = strings.TrimSpace(string(b))
	}
	conns := Served(cfg, cc.Name)
	for name, cn := range conns {
		if !cn.Targeted() {
			return fmt.Errorf("connection %s: a connector needs its address and username", name)
		}
		if _, err := cn.ResolvePassword(); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	lock, err := datadir.Acquire(cfg.DataDir)
	if err != nil {
		return err
	}
	defer lock.Release()
	spool, err := OpenSpool(cfg.DataDir)
	if err != nil {
		return err
	}
	defer spool.Close()
	key, err := LoadOrCreateMaskKey(cfg.DataDir)
	if err != nil {
		return err
	}
	c := &Connector{Name: cc.Name, Connections: conns, Spool: spool, Logger: log, MaskKey: key}
	defer c.Close()
	client := &tunnel.Client{
		Addr:      cc.Gateway,
		Name:      cc.Name,
		JoinToken: join,
		StateDir:  filepath.Join(cfg.DataDir, "connector"),
		Accept:    c.ServeStream,
		Logger:    log,
	}
	c.Hold = remoteHold(client.Open)
	log.Info("connector starting", "name", cc.Name, "gateway", cc.Gateway, "connections", len(conns))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return client.Run(gctx) })
	g.Go(func() error {
		sh := &shipper{open: client.Open}
		defer sh.close()
		return recording.Ship(gctx, spool, ShipBatch, sh.send)
	})
	err = g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}
