package httpapi

import (
	"context"
	"net"
	"syscall"
)

// tcpConnKey is the context key of a request's TCP connection.
type tcpConnKey struct{}

// ConnContext is the http.Server ConnContext hook that lets [Guard] see
// how far the peer has taken a response: it records the TCP connection
// beneath c (under TLS and under any wrapper that gives its connection by
// NetConn or SyscallConn). Without it, Guard measures a response's
// progress by the bytes its writes complete, which a large kernel send
// buffer makes coarse.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	for {
		switch u := c.(type) {
		case syscall.Conn:
			if rc, err := u.SyscallConn(); err == nil {
				return context.WithValue(ctx, tcpConnKey{}, rc)
			}
			return ctx
		case interface{ NetConn() net.Conn }:
			c = u.NetConn()
		default:
			return ctx
		}
	}
}

// connFrom returns the raw TCP connection [ConnContext] recorded, or nil.
func connFrom(ctx context.Context) syscall.RawConn {
	rc, _ := ctx.Value(tcpConnKey{}).(syscall.RawConn)
	return rc
}
