package httpapi

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// acked returns the bytes the peer of c has acknowledged, and whether the
// kernel told.
func acked(c syscall.RawConn) (uint64, bool) {
	if c == nil {
		return 0, false
	}
	var info *unix.TCPInfo
	var err error
	if cerr := c.Control(func(fd uintptr) {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); cerr != nil || err != nil {
		return 0, false
	}
	return info.Bytes_acked, true
}
