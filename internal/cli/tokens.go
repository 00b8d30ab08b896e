package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/api"
)

// newTokensCmd returns "gatehouse tokens": issue, list, revoke.
func newTokensCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Issue, list and revoke gatehouse tokens (admin)",
	}
	cmd.AddCommand(newTokensIssueCmd(o), newTokensListCmd(o), newTokensRevokeCmd(o))
	return cmd
}

func newTokensIssueCmd(o *clientOptions) *cobra.Command {
	var req api.IssueTokenRequest
	cmd := &cobra.Command{
		Use:   "issue --identity NAME [--groups a,b] [--ttl 15m]",
		Short: "Issue a token for an identity and print only the token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Identity == "" {
				return fmt.Errorf("missing --identity: name who the token is for, e.g. --identity ci:deploy")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			t, err := c.issueToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), t)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), t.Token)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Identity, "identity", "", "identity the token stands for (required)")
	f.StringSliceVar(&req.Groups, "groups", nil, "groups, comma-separated")
	f.StringVar(&req.TTL, "ttl", "1h", "how long the token is valid, e.g. 15m")
	return cmd
}

func newTokensListCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List issued tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			list, err := c.tokens(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if o.json {
				if list == nil {
					list = []api.TokenInfo{}
				}
				return printJSON(w, list)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tIDENTITY\tKIND\tGROUPS\tISSUED\tEXPIRES\tSTATUS")
			for _, t := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", termSafe(t.ID, false), termSafe(t.Identity, false),
					termSafe(t.Kind, false), termSafe(strings.Join(t.Groups, ","), false),
					fmtTime(t.IssuedAt), fmtTime(t.ExpiresAt), termSafe(t.Status, false))
			}
			if err := tw.Flush(); err != nil {
				return fmt.Errorf("write table: %w", err)
			}
			return nil
		},
	}
}

func newTokensRevokeCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token; sessions using it end",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if err := c.revokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", termSafe(args[0], false))
			return err
		},
	}
}
