package httpapi

import "net"

// ProgressListener returns ln, whose TCP connections keep at most
// progressChunk bytes unsent in the kernel (TCP_NOTSENT_LOWAT, on Linux;
// elsewhere ln is unchanged). A response write then returns as the reader
// takes its bytes, so [Guard]'s write deadline, renewed per piece of
// progressChunk bytes, follows the reader's progress. Without it the
// kernel's send buffer grows to megabytes and wakes a blocked writer only
// once a third of it has drained: a reader slower than that third per
// HTTP_IDLE_BODY_TIMEOUT would be cut although its bytes keep moving.
// Serve [Guard] on it, on the TCP listener itself (beneath TLS).
func ProgressListener(ln net.Listener) net.Listener { return progressListener{ln} }

type progressListener struct{ net.Listener }

func (l progressListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		limitUnsent(tc, progressChunk)
	}
	return c, err
}
