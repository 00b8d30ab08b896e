package tunnel

import "net"

// Backoff exposes the reconnection delay computation to tests.
var Backoff = backoff

// NewCoalescer exposes the header-coalescing writer to tests.
func NewCoalescer(conn net.Conn) net.Conn { return newCoalescer(conn) }
