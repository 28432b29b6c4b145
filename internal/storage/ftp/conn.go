package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jlaffaye/ftp"
)

// conn is one logged-in control connection and the data connections it
// opens. It carries one operation at a time: the pool hands it to a single
// goroutine, which binds it to that operation's context.
type conn struct {
	sc        *ftp.ServerConn
	cfg       *settings
	tls       *tls.Config     // cfg.tls with this connection's own session cache
	ctx       context.Context // the bound operation's context, for dialling data connections
	idleAt    time.Time       // when it was last returned to the pool
	reused    bool            // taken from the idle list rather than freshly dialled
	uploading bool            // the next data connection carries an upload
	probe     bool            // a transfer was cut short: probe with NOOP before reuse

	mu   sync.Mutex
	ctrl net.Conn // the control connection, under its TLS layer if any
	data net.Conn // the latest data connection

	broken atomic.Bool // the control connection failed or was interrupted
}

// dialConn connects and logs in. Every read and write on the control and
// data connections is bounded by cfg.Timeout; ctx bounds the whole dial.
func dialConn(ctx context.Context, cfg *settings) (*conn, error) {
	c := &conn{cfg: cfg, ctx: ctx}
	stop := context.AfterFunc(ctx, c.interrupt)
	defer stop()
	opts := []ftp.DialOption{ftp.DialWithDialFunc(c.dial)}
	if cfg.tls != nil {
		c.tls = cfg.tls.Clone()
		c.tls.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		opts = append(opts, ftp.DialWithExplicitTLS(c.tls))
	}
	sc, err := ftp.Dial(cfg.Addr, opts...)
	if err != nil {
		c.closeNet()
		return nil, &dialError{err: err}
	}
	c.sc = sc
	if err := sc.Login(cfg.User, cfg.Password); err != nil {
		c.close()
		return nil, &loginError{err: err, password: cfg.Password}
	}
	return c, nil
}

// dialError is a failure to connect or to read the server's greeting.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connecting: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// loginError is a failure between the greeting and the end of the login
// sequence (USER, PASS, FEAT, TYPE, PBSZ, PROT). The library reports only
// the server's replies, but a server may echo what it was sent, so the
// message has the password masked.
type loginError struct {
	err      error
	password string
}

func (e *loginError) Error() string {
	msg := e.err.Error()
	if e.password != "" {
		msg = strings.ReplaceAll(msg, e.password, "***")
	}
	return "logging in: " + msg
}
func (e *loginError) Unwrap() error { return e.err }

// dial is the library's dial function. Its first call makes the control
// connection; later calls make data connections, which it wraps in TLS
// itself (the library does not when a dial function is set).
func (c *conn) dial(network, addr string) (net.Conn, error) {
	d := c.cfg.DialContext
	if d == nil {
		nd := &net.Dialer{Timeout: c.cfg.Timeout}
		d = nd.DialContext
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Timeout)
	defer cancel()
	raw, err := d(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctrl == nil {
		dc := &deadlineConn{Conn: raw, timeout: c.cfg.Timeout, owner: c}
		c.ctrl = dc
		return dc, nil
	}
	var nc net.Conn = &deadlineConn{Conn: raw, timeout: c.cfg.Timeout, owner: c, data: true}
	switch {
	case c.tls != nil && c.uploading:
		nc = &uploadConn{tls.Client(nc, c.tls)}
	case c.tls != nil:
		nc = tls.Client(nc, c.tls)
	}
	c.data = nc
	return nc, nil
}

// uploadConn is a TLS data connection that carries an upload. Its Close
// ends the TLS session gracefully: it sends close_notify, then reads what
// the server sent meanwhile (TLS 1.3 session tickets, the server's
// close_notify) before closing the socket. Closing a socket with unread
// bytes makes the kernel send a reset, which can destroy the upload's last
// bytes in flight: vsftpd then answers 426 "Failure reading network
// stream".
type uploadConn struct {
	*tls.Conn
}

// maxDrain bounds what Close reads after the upload.
const maxDrain = 64 << 10

func (u *uploadConn) Close() error {
	if err := u.Conn.CloseWrite(); err == nil {
		io.CopyN(io.Discard, u.Conn, maxDrain)
	}
	return u.Conn.Close()
}

// bind ties c to one operation: cancelling ctx interrupts whatever c is
// doing. The returned function unbinds c and reports whether it is still
// usable.
func (c *conn) bind(ctx context.Context) (unbind func() bool) {
	c.ctx = ctx
	stop := context.AfterFunc(ctx, c.interrupt)
	return func() bool {
		if !stop() && ctx.Err() != nil {
			c.broken.Store(true)
		}
		c.ctx = context.Background()
		return !c.broken.Load()
	}
}

// interrupt aborts c's current operation by closing its network
// connections; blocked reads and writes return at once.
func (c *conn) interrupt() {
	c.broken.Store(true)
	c.closeNet()
}

func (c *conn) closeNet() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctrl != nil {
		c.ctrl.Close()
	}
	if c.data != nil {
		c.data.Close()
	}
}

// close ends the session politely when the connection still works.
func (c *conn) close() {
	if c.sc != nil && !c.broken.Load() {
		c.sc.Quit()
	}
	c.broken.Store(true)
	c.closeNet()
}

// deadlineConn bounds every Read and Write by timeout, so a peer that stops
// answering (a server that never greets, a stalled transfer) fails the call
// instead of blocking it. A failure of the control connection breaks its
// owner; so does a timeout on a data connection, since a server stalled
// mid-transfer will not answer on the control connection either, and
// waiting for that answer would double the time the caller waits.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
	owner   *conn
	data    bool
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	if err := d.Conn.SetReadDeadline(time.Now().Add(d.timeout)); err != nil {
		d.fail(err)
		return 0, err
	}
	n, err := d.Conn.Read(p)
	if err != nil {
		d.fail(err)
	}
	return n, err
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	if err := d.Conn.SetWriteDeadline(time.Now().Add(d.timeout)); err != nil {
		d.fail(err)
		return 0, err
	}
	n, err := d.Conn.Write(p)
	if err != nil {
		d.fail(err)
	}
	return n, err
}

func (d *deadlineConn) fail(err error) {
	var netErr net.Error
	switch {
	case !d.data:
		d.owner.broken.Store(true)
	case errors.As(err, &netErr) && netErr.Timeout():
		d.owner.interrupt()
	}
}
