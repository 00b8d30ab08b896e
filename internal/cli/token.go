package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newTokenCmd returns "gatehouse token", which prints the token the client
// commands would use, for PGPASSWORD=$(gatehouse token).
func newTokenCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "token",
		Short: "Print the token the client would use (for PGPASSWORD=$(gatehouse token))",
		Long: "Token prints the gatehouse token from --token, GATEHOUSE_TOKEN, the file written by\n" +
			"\"gatehouse login\", or the admin token of a local \"gatehouse up\", in that order.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := o.resolveToken()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), tok)
			return err
		},
	}
}
