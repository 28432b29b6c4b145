//go:build !linux

package httpapi

import "net"

// limitUnsent does nothing outside Linux (see [ProgressListener]).
func limitUnsent(*net.TCPConn, int) {}
