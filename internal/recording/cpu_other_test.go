//go:build !unix

package recording_test

import (
	"testing"
	"time"
)

// processCPU is not measured here; cpu-ns metrics read 0.
func processCPU(b *testing.B) time.Duration { return 0 }
