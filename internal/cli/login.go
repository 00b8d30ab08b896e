package cli

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/api"
)

// newLoginCmd returns "gatehouse login": exchange a workload's OIDC token
// for a gatehouse token and keep it for the other commands.
func newLoginCmd(o *clientOptions) *cobra.Command {
	var oidcToken, oidcTokenFile string
	cmd := &cobra.Command{
		Use:   "login --oidc-token TOKEN | --oidc-token-file FILE",
		Short: "Sign in: exchange a CI or platform OIDC token for a short-lived gatehouse token",
		Long: "Login presents an OIDC token that your CI system or platform gives your job (GitHub\n" +
			"Actions, GitLab CI, a Kubernetes service account) to the gateway, which checks it\n" +
			"against its auth.workloads rules and answers with a gatehouse token for the identity\n" +
			"the matching rule names. The token is saved (mode 0600) where the other commands and\n" +
			"\"gatehouse token\" find it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			raw := oidcToken
			switch {
			case oidcToken != "" && oidcTokenFile != "":
				return errors.New("give --oidc-token or --oidc-token-file, not both")
			case oidcTokenFile != "":
				b, err := os.ReadFile(oidcTokenFile)
				if err != nil {
					return fmt.Errorf("read --oidc-token-file: %w", err)
				}
				raw = strings.TrimSpace(string(b))
			case oidcToken == "":
				return errors.New("missing --oidc-token or --oidc-token-file: sign-in of people through the browser is not available yet")
			}
			c, err := o.clientWith("")
			if err != nil {
				return err
			}
			var out api.IssuedToken
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/auth/exchange", nil, api.ExchangeRequest{Token: raw}, &out); err != nil {
				var ae *apiError
				if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
					return fmt.Errorf("the gateway refused the OIDC token: %s", ae.Message)
				}
				return err
			}
			path, err := o.saveToken(out.Token)
			if err != nil {
				return err
			}
			if o.json {
				out.Token = ""
				return printJSON(cmd.OutOrStdout(), out)
			}
			_, err = fmt.Fprintf(cmd.ErrOrStderr(), "signed in as %s (groups %s) until %s; token saved in %s\n",
				termSafe(out.Identity, false), termSafe(strings.Join(out.Groups, ","), false), out.ExpiresAt.Local().Format(time.DateTime), path)
			return err
		},
	}
	cmd.Flags().StringVar(&oidcToken, "oidc-token", "", "the OIDC token to exchange")
	cmd.Flags().StringVar(&oidcTokenFile, "oidc-token-file", "", "a file holding the OIDC token (e.g. a Kubernetes projected token)")
	return cmd
}

// saveToken writes tok where resolveToken looks first, mode 0600.
func (o *clientOptions) saveToken(tok string) (string, error) {
	files := o.tokenFiles()
	if len(files) < 2 {
		return "", errors.New("cannot save the token: set HOME or XDG_CONFIG_HOME")
	}
	path := files[0]
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("save token: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("save token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("save token: %w", err)
	}
	return path, nil
}
