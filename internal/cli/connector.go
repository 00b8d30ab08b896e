package cli

import (
	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/connector"
)

func newConnectorCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "connector",
		Short: "Run the connector role next to the targets; it dials out to the gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load()
			if err != nil {
				return err
			}
			return connector.Run(cmd.Context(), cfg, newLogger(cfg, cmd.ErrOrStderr()))
		},
	}
	f.register(cmd)
	return cmd
}
