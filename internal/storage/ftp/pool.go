package ftp

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// probeAfter is how long a connection may sit idle before it is probed
// with NOOP on its next use.
const probeAfter = time.Second

// errClosed is returned by operations on a closed [Store].
var errClosed = errors.New("store is closed")

// pool holds up to cfg.MaxConns control connections, idle or in use, and
// lets at most cfg.MaxDials of them be dialling at once, since FTP servers
// have small accept queues and drop bursts of connections.
type pool struct {
	cfg   *Config
	slots chan struct{} // one token per connection in use
	dials chan struct{} // one token per dial in progress

	mu     sync.Mutex
	idle   []*conn // most recently used last
	closed bool

	dialled atomic.Int64 // connections dialled so far, for tests and metrics
}

func newPool(cfg *Config) *pool {
	return &pool{
		cfg:   cfg,
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
// longer than cfg.MaxIdle on the way, which the server may have dropped.
func (p *pool) idleConn() (*conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if time.Since(c.idleAt) <= p.cfg.MaxIdle {
			c.reused = true
			return c, nil
		}
		c.close()
	}
	return nil, nil
}

// alive reports whether an idle connection still works. One idle for
// longer than probeAfter is probed with NOOP, which finds connections the
// server closed for idleness (often with a 421 reply); it is closed if dead.
func (p *pool) alive(c *conn) bool {
	if time.Since(c.idleAt) < probeAfter {
		return true
	}
	if err := c.sc.NoOp(); err != nil {
		c.close()
		return false
	}
	return true
}

func (p *pool) dial(ctx context.Context) (*conn, error) {
	select {
	case p.dials <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
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
	c.idleAt = time.Now()
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
