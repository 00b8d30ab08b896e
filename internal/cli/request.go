package cli

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/api"
)

func newRequestCmd(o *clientOptions) *cobra.Command {
	var (
		dur    time.Duration
		reason string
	)
	cmd := &cobra.Command{
		Use:   "request CONNECTION --for 1h --reason TEXT",
		Short: "Ask for time-bound access to a connection whose policy needs approval",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dur <= 0 || reason == "" {
				return fmt.Errorf("request needs --for (e.g. 1h) and --reason")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			var r api.ReviewInfo
			req := api.AccessRequest{Connection: args[0], For: dur.String(), Reason: reason}
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/requests", nil, req, &r); err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), r)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "requested access to %s for %s: review %s\nan approver runs: gatehouse reviews approve %s\n",
				args[0], dur, r.ID, r.ID)
			return nil
		},
	}
	cmd.Flags().DurationVar(&dur, "for", 0, "how long the access should last once approved")
	cmd.Flags().StringVar(&reason, "reason", "", "why you need it (approvers see this)")
	return cmd
}
