//go:build !unix

package pgstore_test

import "time"

// cpuTime is not measured on this platform.
func cpuTime() (user, sys time.Duration, ok bool) { return 0, 0, false }
