// Package connlimit bounds the connections an HTTP server holds without
// letting idle or anonymous clients lock everyone else out.
//
// A [Limiter] admits at most Max connections at once. When a new
// connection arrives with every slot taken, the limiter closes an idle
// keep-alive connection to make room, as nginx does: first the one idle
// longest among connections that never carried an authenticated request,
// then the one idle longest among the others. Only when no connection is
// idle (each is sending or receiving a request, or has not finished its
// first header) does a new connection wait: one is held, unserved, the
// rest wait in the listen backlog. A connection that has carried no authenticated request is
// also closed once it has been idle for UntrustedIdle, however many
// slots are free; one that has is kept for the server's IdleTimeout.
//
// Wire it with [Limiter.Listen] (below any TLS listener) and the server's
// ConnState and ConnContext hooks ([Limiter.Serve] does all three); the
// handler calls [Trust] with a request's context once the request has
// authenticated.
package connlimit

import (
	"container/list"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Limiter bounds a server's connections. It is safe for concurrent use.
type Limiter struct {
	max           int
	untrustedIdle time.Duration

	mu   sync.Mutex
	open int // connections admitted and not yet closed
	// idle holds the idle connections, longest idle first: [0] those
	// never trusted, [1] the trusted.
	idle [2]list.List
	// wake is signalled when a slot may have become free or a connection
	// idle, for an Accept waiting for room.
	wake chan struct{}
}

// New returns a Limiter of max connections (at least 1) that closes an
// untrusted connection idle for untrustedIdle (positive).
func New(max int, untrustedIdle time.Duration) *Limiter {
	return &Limiter{max: max, untrustedIdle: untrustedIdle, wake: make(chan struct{}, 1)}
}

// Serve wires l into srv, serving on ln, and calls srv.Serve. tlsConfig,
// when not nil, makes ln serve TLS, above the limiter. A ConnContext hook
// srv already has runs before the limiter's.
func (l *Limiter) Serve(srv *http.Server, ln net.Listener, tlsConfig *tls.Config) error {
	srv.ConnState = l.connState
	if prev := srv.ConnContext; prev != nil {
		srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			return l.connContext(prev(ctx, c), c)
		}
	} else {
		srv.ConnContext = l.connContext
	}
	limited := l.Listen(ln)
	if tlsConfig != nil {
		limited = tls.NewListener(limited, tlsConfig)
	}
	return srv.Serve(limited)
}

// Listen returns ln limited by l.
func (l *Limiter) Listen(ln net.Listener) net.Listener {
	return &listener{Listener: ln, l: l, done: make(chan struct{})}
}

// conn is one connection l admitted.
type conn struct {
	net.Conn
	l       *Limiter
	trusted atomic.Bool
	closed  sync.Once

	// Guarded by l.mu.
	elem  *list.Element // in the idle list in, while idle
	in    *list.List
	timer *time.Timer // closes an idle untrusted connection
}

// ReadFrom hands r to the connection's own ReadFrom when it has one:
// net/http sends a file response through it, with sendfile on TCP.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// Close closes the connection and frees its slot.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.closed.Do(func() {
		l := c.l
		l.mu.Lock()
		c.leaveIdle()
		l.open--
		l.mu.Unlock()
		l.signal()
	})
	return err
}

// leaveIdle takes c off the idle lists; l.mu is held.
func (c *conn) leaveIdle() {
	if c.elem != nil {
		c.in.Remove(c.elem)
		c.elem, c.in = nil, nil
	}
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

func (l *Limiter) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// listener admits connections into its limiter's slots.
type listener struct {
	net.Listener
	l         *Limiter
	done      chan struct{}
	closeOnce sync.Once
}

// Accept accepts a connection, then gives it a slot: a free one, or the
// slot of the connection idle longest, which it closes. With no slot free
// and no connection idle, it waits for one, holding the new connection
// unserved.
func (ln *listener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l := ln.l
	for {
		l.mu.Lock()
		if l.open < l.max {
			l.open++
			l.mu.Unlock()
			return &conn{Conn: c, l: l}, nil
		}
		victim := l.longestIdle()
		l.mu.Unlock()
		if victim != nil {
			victim.Close()
			continue
		}
		select {
		case <-l.wake:
		case <-ln.done:
			c.Close()
			return nil, net.ErrClosed
		}
	}
}

// Close closes the listener; an Accept waiting for a slot returns.
func (ln *listener) Close() error {
	ln.closeOnce.Do(func() { close(ln.done) })
	return ln.Listener.Close()
}

// longestIdle takes the connection to close for room off the idle lists,
// or returns nil when none is idle; l.mu is held.
func (l *Limiter) longestIdle() *conn {
	for i := range l.idle {
		if e := l.idle[i].Front(); e != nil {
			c := e.Value.(*conn)
			c.leaveIdle()
			return c
		}
	}
	return nil
}

// own returns the limiter's connection under c, a *tls.Conn or not.
func (l *Limiter) own(c net.Conn) (*conn, bool) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, ok := c.(*conn)
	return lc, ok && lc.l == l
}

// connState is the server's ConnState hook: it keeps the idle lists.
func (l *Limiter) connState(nc net.Conn, state http.ConnState) {
	c, ok := l.own(nc)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c.leaveIdle()
	if state != http.StateIdle {
		return
	}
	trusted := c.trusted.Load()
	c.in = &l.idle[0]
	if trusted {
		c.in = &l.idle[1]
	}
	c.elem = c.in.PushBack(c)
	if !trusted {
		c.timer = time.AfterFunc(l.untrustedIdle, func() { l.closeIdle(c) })
	}
	l.signal() // an Accept waiting for room may close it
}

// closeIdle closes c if it is still idle.
func (l *Limiter) closeIdle(c *conn) {
	l.mu.Lock()
	idle := c.elem != nil
	if idle {
		c.leaveIdle()
	}
	l.mu.Unlock()
	if idle {
		c.Close()
	}
}

type connKey struct{}

// connContext is the server's ConnContext hook: it lets [Trust] find the
// connection of a request.
func (l *Limiter) connContext(ctx context.Context, nc net.Conn) context.Context {
	if c, ok := l.own(nc); ok {
		return context.WithValue(ctx, connKey{}, c)
	}
	return ctx
}

// Trust marks the connection of the request whose context is ctx as
// authenticated: from now on, idle, it is kept for the server's
// IdleTimeout and closed for room only after every untrusted idle
// connection. Without a [Limiter] on the connection it does nothing.
func Trust(ctx context.Context) {
	if c, ok := ctx.Value(connKey{}).(*conn); ok {
		c.trusted.Store(true)
	}
}
