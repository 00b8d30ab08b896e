package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/api"
)

// newConnectorsCmd returns "gatehouse connectors": join-token, list.
func newConnectorsCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connectors",
		Short: "Enroll and list connectors (admin)",
	}
	cmd.AddCommand(newConnectorsJoinTokenCmd(o), newConnectorsListCmd(o))
	return cmd
}

func newConnectorsJoinTokenCmd(o *clientOptions) *cobra.Command {
	var req api.JoinTokenRequest
	cmd := &cobra.Command{
		Use:   "join-token --name NAME [--ttl 1h]",
		Short: "Create a one-time join token for a connector and print only the token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Name == "" {
				return fmt.Errorf("missing --name: name the connector, e.g. --name dc1")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			tok, err := c.joinToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), api.JoinTokenResponse{Token: tok})
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), tok)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "connector name (required)")
	f.StringVar(&req.TTL, "ttl", "1h", "how long the join token is valid")
	return cmd
}

func newConnectorsListCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List enrolled connectors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			list, err := c.connectors(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if o.json {
				if list == nil {
					list = []api.ConnectorInfo{}
				}
				return printJSON(w, list)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tONLINE\tJOINED\tLAST SEEN")
			for _, c := range list {
				online := "no"
				if c.Online {
					online = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", termSafe(c.Name, false), online, fmtTime(c.JoinedAt), fmtTime(c.LastSeen))
			}
			if err := tw.Flush(); err != nil {
				return fmt.Errorf("write table: %w", err)
			}
			return nil
		},
	}
}
