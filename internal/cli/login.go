package cli

import (
	"encoding/json"
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
	var oidcToken, oidcTokenFile, provider string
	cmd := &cobra.Command{
		Use:   "login [--provider NAME] | --oidc-token TOKEN | --oidc-token-file FILE",
		Short: "Sign in with your identity provider, or exchange a CI or platform OIDC token",
		Long: "Without flags, login signs you in with the gateway's identity provider (auth.oidc):\n" +
			"it prints a URL and a code to enter there, and waits until you have signed in.\n\n" +
			"With --oidc-token, it presents an OIDC token that your CI system or platform gives your job (GitHub\n" +
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
			}
			c, err := o.clientWith("")
			if err != nil {
				return err
			}
			var out api.IssuedToken
			if raw == "" {
				if err := deviceLogin(cmd, c, provider, &out); err != nil {
					return err
				}
			} else if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/auth/exchange", nil, api.ExchangeRequest{Token: raw}, &out); err != nil {
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
	cmd.Flags().StringVar(&provider, "provider", "", "the identity provider to sign in with (auth.oidc name; default the first)")
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

// deviceLogin runs the device sign-in through the gateway, which holds the
// identity provider's client secret.
func deviceLogin(cmd *cobra.Command, c *apiClient, provider string, out *api.IssuedToken) error {
	ctx := cmd.Context()
	var start api.DeviceStart
	if err := c.do(ctx, http.MethodPost, "/api/v1/auth/device", nil, api.DeviceStartRequest{Provider: provider}, &start); err != nil {
		return err
	}
	w := cmd.ErrOrStderr()
	fmt.Fprintf(w, "To sign in, open %s and enter the code %s\n", termSafe(start.VerificationURI, false), termSafe(start.UserCode, false))
	if start.VerificationURIComplete != "" {
		fmt.Fprintf(w, "or open %s\n", termSafe(start.VerificationURIComplete, false))
	}
	fmt.Fprintln(w, "Waiting for you to sign in...")
	for {
		var raw json.RawMessage
		err := c.do(ctx, http.MethodPost, "/api/v1/auth/device/token", nil, api.DeviceTokenRequest{Handle: start.Handle}, &raw)
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			return fmt.Errorf("sign-in refused: %s", ae.Message)
		}
		if err != nil {
			return err
		}
		var pending api.DevicePending
		if json.Unmarshal(raw, &pending) == nil && pending.Status == "pending" {
			if time.Now().After(start.ExpiresAt) {
				return errors.New("the sign-in code expired; run gatehouse login again")
			}
			continue
		}
		return json.Unmarshal(raw, out)
	}
}
