package oidc

import "time"

// SetSlowDown changes how much a slow_down answer lengthens the polling
// interval (5 s per RFC 8628), so that tests need not wait that long.
func SetSlowDown(c *Client, d time.Duration) { c.slowDown = d }
