package postgres_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/mask"
	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/jackc/pgx/v5"
)

// An inet in binary form (pgx's default for it) is four or sixteen bytes,
// not the text the ipv4 detector looks for: the masker reads the address.
func TestMaskInetBinary(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{mask: maskingFor(t, mask.Profile{Detect: []string{"ipv4"}}), rows: postgres.RowLimits{Rows: 10, Bytes: 4096}})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.DSN("disable"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeDescribeExec} {
		var ip, mapped, cidr, other *netip.Prefix
		err := conn.QueryRow(ctx, "SELECT '10.1.2.3'::inet, '::ffff:10.1.2.3'::inet, '10.1.2.0/24'::cidr, '2001:db8::1'::inet /* inet */", mode).Scan(&ip, &mapped, &cidr, &other)
		if err != nil {
			t.Fatal(err)
		}
		if ip != nil || mapped != nil || cidr != nil {
			t.Errorf("%s: IPv4 addresses reached the client: %v, %v, %v", mode, ip, mapped, cidr)
		}
		if other == nil || other.String() != "2001:db8::1/128" {
			t.Errorf("%s: an IPv6 address: got %v", mode, other)
		}
	}
	for _, r := range p.Rec.statements() {
		for _, res := range r.Results {
			for _, row := range sampled(res) {
				if strings.Contains(strings.Join(row, " "), "10.1.2") {
					t.Errorf("kept row %q", row)
				}
			}
		}
	}
}
