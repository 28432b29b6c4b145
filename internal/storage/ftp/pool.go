package ftp

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// errClosed is returned by operations on a closed [Store].
var errClosed = errors.New("store is closed")

// pool holds up to cfg.MaxConns control connections, idle or in use, and
// lets at most cfg.MaxDials of them be dialling at once, since FTP servers
// have small accept queues and drop bursts of connections.
type pool struct {
	cfg   *settings
	slots chan struct{} // one token per connection in use
	dials chan struct{} // one token per dial in progress

	mu     sync.Mutex
	idle   []*conn // most recently used last
	closed bool

	dialled atomic.Int64 // connections dialled so far, for tests and metrics

	now      func() time.Time // the clock; tests replace it
	dialWait func()           // when set, called when a dial waits for its turn (tests)
}

func newPool(cfg *settings) *pool {
	return &pool{
		cfg:   cfg,
		now:   time.Now,
		slots: make(chan struct{}, cfg.MaxConns),
		dials: make(chan struct{}, cfg.MaxDials),
	}
}

// get returns a connection for the caller's exclusive use, waiting for a
// free slot. It prefers the most recently used idle connection and dials a
// new one when there is none.
func (p *pool) get(ctx context.Context) (*conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		c, err := p.idleConn()
		if err != nil {
			<-p.slots
			return nil, err
		}
		if c == nil {
			break
		}
		if p.alive(c) {
			return c, nil
		}
	}
	c, err := p.dial(ctx)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return c, nil
}

// idleConn pops the most recently used idle connection, closing those idle
// longer than cfg.IdleTimeout on the way, which the server may have dropped.
func (p *pool) idleConn() (*conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if p.now().Sub(c.idleAt) <= p.cfg.IdleTimeout {
			c.reused = true
			return c, nil
		}
		c.close()
	}
	return nil, nil
}

// alive reports whether an idle connection still works. One idle for
// cfg.ProbeIdle or longer is probed with NOOP, which finds connections the
// server closed for idleness (often with a 421 reply); so is one whose last
// transfer was cut short, which finds a server still answering that
// transfer. A dead connection is closed.
func (p *pool) alive(c *conn) bool {
	if !c.probe && p.now().Sub(c.idleAt) < p.cfg.ProbeIdle {
		return true
	}
	if err := c.sc.NoOp(); err != nil {
		c.close()
		return false
	}
	c.probe = false
	return true
}

func (p *pool) dial(ctx context.Context) (*conn, error) {
	select {
	case p.dials <- struct{}{}:
	default:
		if p.dialWait != nil {
			p.dialWait()
		}
		select {
		case p.dials <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer func() { <-p.dials }()
	p.dialled.Add(1)
	return dialConn(ctx, p.cfg)
}

// put returns c to the pool, or closes it when it is no longer usable or
// the pool is closed, and frees its slot.
func (p *pool) put(c *conn, usable bool) {
	defer func() { <-p.slots }()
	p.mu.Lock()
	if !usable || p.closed {
		p.mu.Unlock()
		c.close()
		return
	}
	c.idleAt = p.now()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// add puts a connection dialled outside the pool into the idle list.
func (p *pool) add(c *conn) {
	p.slots <- struct{}{}
	p.put(c, true)
}

// drain closes every idle connection: one of them was found dropped by the
// server, which usually means the others were too.
func (p *pool) drain() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// close closes the idle connections and makes the pool close connections
// in use when they come back.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.drain()
}
