//go:build unix

package recording_test

import (
	"syscall"
	"testing"
	"time"
)

// processCPU returns the CPU time the whole process (all threads, user and
// kernel mode) has used. Benchmarks report it per operation as cpu-ns/op,
// since wall time also counts the time a busy machine gives to other work.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
