package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

func newUpCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run gateway and connector in one process (store: SQLite in the data dir, or store.postgres)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load()
			if err != nil {
				return err
			}
			return serveGateway(cmd.Context(), cfg, true, cmd, f.config)
		},
	}
	f.register(cmd)
	return cmd
}

func newGatewayCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the gateway role; connectors dial in to gateway.tunnel",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load()
			if err != nil {
				return err
			}
			if cfg.Gateway.Tunnel == "" {
				cfg.Gateway.Tunnel = "127.0.0.1:8443"
			}
			return serveGateway(cmd.Context(), cfg, false, cmd, f.config)
		},
	}
	f.register(cmd)
	return cmd
}

// serveGateway runs a gateway until ctx is done. SIGHUP re-reads the
// policies from cfgPath: an invalid file is logged and changes nothing.
func serveGateway(ctx context.Context, cfg *config.Config, embedded bool, cmd *cobra.Command, cfgPath string) error {
	log := newLogger(cfg, cmd.ErrOrStderr())
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	g := &gateway.Gateway{Config: cfg, Embedded: embedded, Logger: log}
	if err := g.Start(ctx); err != nil {
		return err
	}
	for ctx.Err() == nil {
		select {
		case <-hup:
			if cfgPath == "" {
				log.Warn("SIGHUP: no --config to reload policies from")
				continue
			}
			ncfg, err := config.Load(cfgPath)
			if err != nil {
				log.Error("SIGHUP: policies not reloaded; the ones in force stay", "err", err)
				continue
			}
			g.ReloadPolicies(ncfg)
		case <-ctx.Done():
		}
	}
	log.Info("shutting down")
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Close(cctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}
