// Package cli implements the gatehouse command line: the server roles (up,
// gateway, connector, demo) and the client commands that talk to a
// gateway's API.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// Version is the gatehouse version; set at build time with -ldflags.
var Version = "dev"

// Main runs the command line with args (without the program name) and
// returns the process exit status.
func Main(ctx context.Context, args []string) int {
	return run(ctx, args, os.Stdout, os.Stderr)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "gatehouse: "+oneLine(err.Error()))
		return 1
	}
	return 0
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "An access gateway that records, masks, holds and blocks what reaches your databases",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	o := &clientOptions{}
	o.register(root)
	root.AddCommand(
		newUpCmd(),
		newGatewayCmd(),
		newConnectorCmd(),
		newDemoCmd(),
		newLoginCmd(o),
		newTokenCmd(o),
		newTokensCmd(o),
		newIdentitiesCmd(o),
		newSessionsCmd(o),
		newReviewsCmd(o),
		newAuditCmd(o),
		newConnectorsCmd(o),
		newPolicyCmd(o),
		newRequestCmd(o),
		newConnectionsCmd(o),
		newConnectCmd(o),
	)
	return root
}

// serverFlags are shared by the server roles.
type serverFlags struct {
	config string
	data   string
}

func (f *serverFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.config, "config", "c", "", "configuration file (YAML)")
	cmd.Flags().StringVar(&f.data, "data", "", "data directory (overrides data_dir)")
}

// load reads the configuration, or the defaults without --config.
func (f *serverFlags) load() (*config.Config, error) {
	var cfg *config.Config
	if f.config == "" {
		cfg = config.Default()
	} else {
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return nil, err
		}
	}
	if f.data != "" {
		cfg.DataDir = f.data
	}
	if err := cfg.Validate(); err != nil {
		var ve *config.ValidationError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("config: %w", err)
		}
		return nil, err
	}
	return cfg, nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level)) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
