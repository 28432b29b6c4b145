package console_test

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// cutProxy is a TCP proxy between the browser and the server that the test
// can cut: armed with a byte count, it drops every connection once that
// many request bytes have gone through, and refuses new ones (accepting
// and closing them at once) until restored.
type cutProxy struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	cut   bool
	// armed: cut after this many more request bytes (0: not armed).
	armed atomic.Int64
	// cutDone is closed when an armed cut has happened.
	cutDone chan struct{}
	// sent, when set, is told the size of every piece of request bytes
	// the proxy passes on, as it passes them.
	sent atomic.Pointer[func(n int)]
}

func newCutProxy(t *testing.T, upstream string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.closeAll() })
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

// armCut cuts every connection after n more request bytes; the returned
// channel is closed when it has.
func (p *cutProxy) armCut(n int64) <-chan struct{} {
	p.mu.Lock()
	p.cutDone = make(chan struct{})
	ch := p.cutDone
	p.mu.Unlock()
	p.armed.Store(n)
	return ch
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

func (p *cutProxy) doCut() {
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		return
	}
	p.cut = true
	done := p.cutDone
	p.mu.Unlock()
	p.closeAll()
	if done != nil {
		close(done)
	}
}

func (p *cutProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *cutProxy) handle(c net.Conn) {
	if !p.track(c) {
		c.Close()
		return
	}
	u, err := net.Dial("tcp", p.upstream)
	if err != nil || !p.track(u) {
		c.Close()
		if u != nil {
			u.Close()
		}
		return
	}
	go func() {
		io.Copy(c, u)
		c.Close()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if left := p.armed.Load(); left > 0 {
				if p.armed.Add(-int64(n)) <= 0 {
					p.armed.Store(0)
					p.doCut()
					return
				}
			}
			if _, werr := u.Write(buf[:n]); werr != nil {
				break
			}
			if f := p.sent.Load(); f != nil {
				(*f)(n)
			}
		}
		if err != nil {
			break
		}
	}
	u.Close()
	c.Close()
}
