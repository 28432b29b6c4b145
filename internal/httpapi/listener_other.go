//go:build !linux

package httpapi

import "syscall"

// acked reports that the system does not tell what a peer acknowledged.
func acked(syscall.RawConn) (uint64, bool) { return 0, false }
