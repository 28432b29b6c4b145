package testenv

import (
	"syscall"
	"testing"
	"time"
)

// CPUTime returns the user and system CPU time this process has used: a
// benchmark that reports it per operation (cpu-ns/op) beside the wall time
// is less disturbed by other work on a shared machine.
func CPUTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
