package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
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
	var browser, noOpen, useSAML bool
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
			if raw == "" && useSAML {
				if err := browserLogin(cmd, c, "/api/v1/auth/saml", func(redirect string) any {
					return api.SAMLStartRequest{RedirectURI: redirect}
				}, !noOpen, &out); err != nil {
					return err
				}
			} else if raw == "" && browser {
				if err := browserLogin(cmd, c, "/api/v1/auth/authorize", func(redirect string) any {
					return api.AuthorizeRequest{Provider: provider, RedirectURI: redirect}
				}, !noOpen, &out); err != nil {
					return err
				}
			} else if raw == "" {
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
	cmd.Flags().BoolVar(&browser, "browser", false, "sign in through this machine's browser (authorization code with PKCE, redirect to a loopback port)")
	cmd.Flags().BoolVar(&useSAML, "saml", false, "sign in through this machine's browser with the gateway's SAML identity provider")
	cmd.Flags().BoolVar(&noOpen, "no-open", false, "with --browser or --saml: print the URL instead of opening a browser")
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

// browserLogin runs the authorization code flow: the browser comes back to
// a listener on a loopback port with the code, which the gateway (holding
// the PKCE verifier and the client secret) exchanges.
func browserLogin(cmd *cobra.Command, c *apiClient, base string, startBody func(redirect string) any, open bool, out *api.IssuedToken) error {
	ctx := cmd.Context()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the browser: %w", err)
	}
	defer ln.Close()
	redirect := "http://" + ln.Addr().String() + "/callback"
	var start api.AuthorizeStart
	startPath, tokenPath := base, base+"/token"
	if strings.HasSuffix(base, "/saml") {
		startPath = base + "/start"
	}
	if err := c.do(ctx, http.MethodPost, startPath, nil, startBody(redirect), &start); err != nil {
		return err
	}
	// The handler hands the code over and waits for the exchange, so the
	// page the browser shows says how the sign-in really ended.
	type callback struct {
		code, err string
		done      chan error
	}
	got := make(chan callback, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/callback" || q.Get("state") != start.State {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		cb := callback{code: q.Get("code"), err: q.Get("error"), done: make(chan error, 1)}
		if cb.code == "" && cb.err == "" {
			cb.err = "no code"
		}
		select {
		case got <- cb:
		default:
			http.Error(w, "this sign-in is already being completed", http.StatusConflict)
			return
		}
		select {
		case err := <-cb.done:
			if err != nil {
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprintln(w, "Sign-in failed; the terminal says why. You can close this window.")
				return
			}
			fmt.Fprintln(w, "Signed in; you can close this window and go back to the terminal.")
		case <-r.Context().Done():
		}
	})}
	go srv.Serve(ln)
	defer func() {
		// Let the browser's page be written before the process goes away.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()
	fmt.Fprintf(cmd.ErrOrStderr(), "Open this URL to sign in: %s\n", start.URL)
	if open {
		openBrowser(start.URL)
	}
	var cb callback
	select {
	case cb = <-got:
	case <-time.After(10 * time.Minute):
		return errors.New("no sign-in within 10 minutes")
	case <-ctx.Done():
		return ctx.Err()
	}
	err = exchangeCode(ctx, c, tokenPath, start.State, cb.code, cb.err, out)
	cb.done <- err
	return err
}

// exchangeCode turns the code the browser brought back into a token.
func exchangeCode(ctx context.Context, c *apiClient, tokenPath, state, code, idpErr string, out *api.IssuedToken) error {
	if idpErr != "" {
		return fmt.Errorf("sign-in failed at the identity provider: %s", termSafe(idpErr, false))
	}
	err := c.do(ctx, http.MethodPost, tokenPath, nil, api.AuthorizeTokenRequest{State: state, Code: code}, out)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		return fmt.Errorf("sign-in refused: %s", ae.Message)
	}
	return err
}

// openBrowser tries the usual openers; the URL is printed anyway.
func openBrowser(u string) {
	for _, opener := range []string{"xdg-open", "open"} {
		if path, err := exec.LookPath(opener); err == nil {
			if exec.Command(path, u).Start() == nil {
				return
			}
		}
	}
}
