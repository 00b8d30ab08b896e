package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
)

func newConnectionsCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "connections",
		Short: "List the connections you may reach",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := o.connections(cmd.Context())
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), list.Connections)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTYPE\tDATABASE\tACCESS")
			for _, c := range list.Connections {
				access := c.Access
				if access == "review" {
					access = "after approval (gatehouse request " + c.Name + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", termSafe(c.Name, false), termSafe(c.Type, false), termSafe(c.Database, false), termSafe(access, false))
			}
			return tw.Flush()
		},
	}
}

func (o *clientOptions) connections(ctx context.Context) (*api.ConnectionList, error) {
	c, err := o.client()
	if err != nil {
		return nil, err
	}
	var list api.ConnectionList
	if err := c.do(ctx, http.MethodGet, "/api/v1/connections", nil, nil, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

func newConnectCmd(o *clientOptions) *cobra.Command {
	var listen, database, pgAddr string
	cmd := &cobra.Command{
		Use:   "connect CONNECTION",
		Short: "Open a local port to a connection that needs no password, for tools that cannot take a token",
		Long: `Open a local port to a connection that needs no password, for tools that
cannot take a token. Each client that connects to it is logged in to the
gateway with your token (read again for every client, so a new
"gatehouse login" is picked up), over TLS verified against the gateway's
certificate. The port listens on a loopback address only: anyone who can
reach it acts as you.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := args[0]
			host, _, err := net.SplitHostPort(listen)
			if err != nil {
				return fmt.Errorf("--listen %q: want host:port", listen)
			}
			if !config.IsLoopbackHost(host) {
				return fmt.Errorf("--listen %q: the port needs no password, so it listens on a loopback address only", listen)
			}
			list, err := o.connections(ctx)
			if err != nil {
				return err
			}
			var conn *api.Connection
			for i := range list.Connections {
				if list.Connections[i].Name == name {
					conn = &list.Connections[i]
				}
			}
			if conn == nil {
				return fmt.Errorf("no connection %q that you may reach; \"gatehouse connections\" lists them", name)
			}
			if conn.Type != "postgres" {
				return fmt.Errorf("connection %s is of type %s; connect serves postgres connections", name, conn.Type)
			}
			target, err := o.gatewayTarget(list, pgAddr)
			if err != nil {
				return err
			}
			target.User = name
			if conn.Access == "review" {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: %s needs an approved access request: gatehouse request %s --for 1h --reason \"...\"\n", name, name)
			}

			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", listen, err)
			}
			local := ln.Addr().(*net.TCPAddr)
			if !local.IP.IsLoopback() {
				// "localhost" is what /etc/hosts or DNS says it is.
				ln.Close()
				return fmt.Errorf("--listen %q: it resolved to %s, not a loopback address; the port needs no password, so it listens on a loopback address only", listen, local.IP)
			}
			db := database
			if db == "" {
				db = conn.Database
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Forwarding %s to %s through the gateway at %s; Ctrl-C stops.\nConnect with:\n\n  psql \"host=%s port=%d dbname=%s\"\n\n",
				local, name, target.Address, local.IP, local.Port, db)
			f := &postgres.Front{
				AllowPlaintext: true,
				NoPassword:     true,
				Logger:         slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn})),
				Open: func(ctx context.Context, req *postgres.OpenRequest) (*postgres.Opened, error) {
					return o.openThroughGateway(ctx, target, database, req)
				},
			}
			return f.Serve(ctx, ln)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "local address to listen on (loopback only; port 0 picks a free one)")
	cmd.Flags().StringVar(&database, "database", "", "database on the target for every client (default: the client's dbname, else the connection's)")
	cmd.Flags().StringVar(&pgAddr, "postgres", "", "the gateway's PostgreSQL listener, host:port (default: as the gateway reports it)")
	return cmd
}

// gatewayTarget says how to reach the gateway's PostgreSQL listener: at
// override, else where the gateway says it listens (a wildcard host meaning
// the API's host), verified against the gateway's CA when it made its own
// certificate.
func (o *clientOptions) gatewayTarget(list *api.ConnectionList, override string) (postgres.Target, error) {
	addr := override
	if addr == "" {
		addr = list.Listeners.Postgres
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return postgres.Target{}, fmt.Errorf("the gateway's PostgreSQL listener %q is not host:port; pass --postgres", addr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		base, err := o.gatewayURL()
		if err != nil {
			return postgres.Target{}, err
		}
		u, _ := url.Parse(base)
		host = u.Hostname()
	}
	t := postgres.Target{Address: net.JoinHostPort(host, port), TLSMode: postgres.TLSVerifyFull, ServerName: host}
	if list.Listeners.CA != "" {
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM([]byte(list.Listeners.CA)) {
			return postgres.Target{}, errors.New("the gateway sent a CA certificate that does not parse")
		}
	}
	return t, nil
}

// openThroughGateway logs in to the gateway for one local client, with the
// token as it is now.
func (o *clientOptions) openThroughGateway(ctx context.Context, t postgres.Target, database string, req *postgres.OpenRequest) (*postgres.Opened, error) {
	tok, err := o.resolveToken()
	if err != nil {
		return nil, &postgres.Error{Severity: "FATAL", Code: "28000", Message: "gatehouse connect: " + err.Error()}
	}
	t.Password = tok
	t.Database = database
	if t.Database == "" && req.Database != req.Connection {
		// libpq's dbname defaults to the user name, which here is
		// whatever the client had: that means the connection's own.
		t.Database = req.Database
	}
	u, err := postgres.DialGateway(ctx, t, req.Params)
	if err != nil {
		return nil, err
	}
	return &postgres.Opened{Params: u.Params(), Relay: u.Splice, Cancel: u.Cancel, Close: u.Close}, nil
}
