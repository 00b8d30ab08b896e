package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// newIdentitiesCmd returns "gatehouse identities": disable, enable, list.
func newIdentitiesCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "identities",
		Short: "Disable and enable identities (admin)",
	}
	var reason string
	disable := &cobra.Command{
		Use:   "disable NAME [--reason TEXT]",
		Short: "Disable an identity: its tokens are revoked and its live sessions end at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			path := "/api/v1/identities/" + url.PathEscape(args[0]) + "/disable"
			if err := c.do(cmd.Context(), http.MethodPost, path, nil, api.DisableIdentityRequest{Reason: reason}, nil); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "disabled %s\n", termSafe(args[0], false))
			return err
		},
	}
	disable.Flags().StringVar(&reason, "reason", "", "why, for the audit log")
	enable := &cobra.Command{
		Use:   "enable NAME",
		Short: "Let a disabled identity sign in again (its revoked tokens stay revoked)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			err = c.do(cmd.Context(), http.MethodPost, "/api/v1/identities/"+url.PathEscape(args[0])+"/enable", nil, nil, nil)
			if isNotFound(err) {
				return fmt.Errorf("identity %q is not disabled", args[0])
			}
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "enabled %s\n", termSafe(args[0], false))
			return err
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List disabled identities",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			var out []store.Identity
			if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/identities", nil, nil, &out); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if o.json {
				return printJSON(w, out)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "IDENTITY\tDISABLED\tBY\tREASON")
			for _, i := range out {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", termSafe(i.Name, false), fmtTime(i.DisabledAt), termSafe(i.DisabledBy, false), termSafe(i.Reason, false))
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(disable, enable, list)
	return cmd
}

func newAuditEventsCmd(o *clientOptions) *cobra.Command {
	var f store.AuditFilter
	cmd := &cobra.Command{
		Use:   "events [--identity NAME] [--type TYPE] [--limit N]",
		Short: "Show authentication events: sign-ins, failures, token issues and revocations (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			out, err := c.auditEvents(cmd.Context(), f)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if o.json {
				return printJSON(w, out)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tTYPE\tOK\tIDENTITY\tBY\tSOURCE\tTOKEN\tREASON")
			for _, e := range out {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%t\t%s\t%s\t%s\t%s\t%s\n", e.ID, fmtTime(e.Time), termSafe(e.Type, false), e.OK,
					termSafe(e.Identity, false), termSafe(e.Actor, false), termSafe(e.Source, false), termSafe(e.TokenID, false), termSafe(e.Reason, false))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&f.Identity, "identity", "", "only events of this identity")
	cmd.Flags().StringVar(&f.Type, "type", "", "only events of this type (login, login.failed, token.issued, token.revoked, identity.disabled, ...)")
	cmd.Flags().IntVar(&f.Limit, "limit", 100, "at most this many, newest first")
	return cmd
}

func (c *apiClient) auditEvents(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	q := url.Values{}
	if f.Identity != "" {
		q.Set("identity", f.Identity)
	}
	if f.Type != "" {
		q.Set("type", f.Type)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	out := []store.AuditEvent{}
	return out, c.do(ctx, http.MethodGet, "/api/v1/audit/events", q, nil, &out)
}
