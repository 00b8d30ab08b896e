package tunnel_test

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/tunnel"
)

// startPair starts a gateway and an enrolled, connected connector whose
// streams are handled by accept.
func startPair(b *testing.B, accept func(ctx context.Context, stream net.Conn)) *gateway {
	b.Helper()
	gw := StartGateway(b, gatewayOptions{})
	token := gw.Tokens.issue(b, gw.CA.Fingerprint(), "dc1")
	StartConnector(b, &tunnel.Client{Addr: gw.Addr, Name: "dc1", JoinToken: token, StateDir: b.TempDir(), Accept: accept})
	gw.WaitStatus(b, "dc1", true)
	return gw
}

// BenchmarkStreamOpenEcho measures what one client session costs the tunnel:
// open a stream, send a header frame and a small message, read the echo.
func BenchmarkStreamOpenEcho(b *testing.B) {
	gw := startPair(b, connectorEcho)
	msg := make([]byte, 64)
	got := make([]byte, len(msg))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		stream, err := gw.Server.Open(ctx, "dc1")
		if err != nil {
			b.Fatal(err)
		}
		if err := tunnel.WriteFrame(stream, echoHeader{Kind: "echo", N: len(msg)}); err != nil {
			b.Fatal(err)
		}
		if _, err := stream.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(stream, got); err != nil {
			b.Fatal(err)
		}
		stream.Close()
	}
}

// BenchmarkBulkThroughput measures one stream carrying a large result from
// the connector to the gateway.
func BenchmarkBulkThroughput(b *testing.B) {
	const chunk = 64 << 10
	gw := startPair(b, func(_ context.Context, stream net.Conn) {
		defer stream.Close()
		var h echoHeader
		if err := tunnel.ReadFrame(stream, &h); err != nil {
			return
		}
		buf := make([]byte, chunk)
		for range h.N {
			if _, err := stream.Write(buf); err != nil {
				return
			}
		}
	})
	stream, err := gw.Server.Open(context.Background(), "dc1")
	if err != nil {
		b.Fatal(err)
	}
	defer stream.Close()
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	if err := tunnel.WriteFrame(stream, echoHeader{Kind: "bulk", N: b.N}); err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, stream)
	if err != nil {
		b.Fatal(err)
	}
	if n != int64(b.N)*chunk {
		b.Fatalf("got %d bytes, want %d", n, int64(b.N)*chunk)
	}
}
