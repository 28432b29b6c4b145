package sqlstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/sqlstore"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// stallProxy forwards TCP connections to a target. While stalled it stops
// forwarding without closing anything, so the client sees a silent network,
// as in a partition, rather than a reset.
type stallProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	cond    *sync.Cond // broadcast on every change of stalled, closed and held
	stalled bool
	closed  bool
	held    int // pipes holding back what they read while stalled
	conns   []net.Conn
	wg      sync.WaitGroup
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) setStalled(v bool) {
	p.mu.Lock()
	p.stalled = v
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (p *stallProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.cond.Broadcast()
	p.wg.Wait()
}

func (p *stallProxy) serve() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(server, client)
		go p.pipe(client, server)
	}
}

// pipe copies src to dst, holding each read back while the proxy is stalled.
// A held read counts in p.held until it is written on, or, when src ended,
// until dst is closed.
func (p *stallProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		held, closed := p.hold()
		var werr error
		if n > 0 && !closed {
			_, werr = dst.Write(buf[:n])
		}
		done := closed || err != nil || werr != nil
		if done {
			dst.Close()
		}
		if held {
			p.mu.Lock()
			p.held--
			p.mu.Unlock()
			p.cond.Broadcast()
		}
		if done {
			return
		}
	}
}

// hold waits while the proxy is stalled, and reports whether it waited and
// whether the proxy is closed.
func (p *stallProxy) hold() (held, closed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled && !p.closed {
		held = true
		p.held++
		for p.stalled && !p.closed {
			p.cond.Wait()
		}
	}
	return held, p.closed
}

// waitFlushed waits until every read held back during the stall has been
// passed on (or its connection closed), failing t after timeout.
func (p *stallProxy) waitFlushed(t *testing.T, timeout time.Duration) {
	t.Helper()
	expired := false
	timer := time.AfterFunc(timeout, func() {
		p.mu.Lock()
		expired = true
		p.mu.Unlock()
		p.cond.Broadcast()
	})
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.held > 0 && !expired {
		p.cond.Wait()
	}
	if p.held > 0 {
		t.Fatalf("the proxy still holds %d reads %v after the stall ended", p.held, timeout)
	}
}

// TestPostgresSilentNetwork stalls the network under requests in flight and
// new ones: each must fail with ErrUnavailable by its context deadline, an
// open reader must fail too, and the store must serve again afterwards.
func TestPostgresSilentNetwork(t *testing.T) {
	const deadline = 500 * time.Millisecond
	direct := testenv.PostgresURL(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newStallProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	s := sqlstore.New(testenv.OpenDB(t, u.String()))
	s.SetChunkSize(1 << 10)
	ctx := context.Background()
	data := blobFor("stall", 64<<10)
	if err := s.Put(ctx, "ab/cd/stall", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	// A reader opened before the stall and read during it; it runs on
	// its Get's context.
	rctx, cancel := context.WithTimeout(ctx, 2*deadline)
	defer cancel()
	open, err := s.Get(rctx, "ab/cd/stall")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()

	proxy.setStalled(true)
	requests := map[string]func(ctx context.Context) error{
		"put": func(ctx context.Context) error {
			return s.Put(ctx, "ab/cd/stalled-put", bytes.NewReader(data), int64(len(data)))
		},
		"get": func(ctx context.Context) error { return readCompare(ctx, s, "ab/cd/stall", data) },
		"exists": func(ctx context.Context) error {
			_, err := s.Exists(ctx, "ab/cd/stall")
			return err
		},
		"delete": func(ctx context.Context) error { return s.Delete(ctx, "ab/cd/missing") },
		"read": func(context.Context) error {
			_, err := io.Copy(io.Discard, open)
			return err
		},
	}
	var wg sync.WaitGroup
	for name, req := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, deadline)
			defer cancel()
			limit := deadline
			if name == "read" {
				limit = 2 * deadline
			}
			start := time.Now()
			err := req(ctx)
			took := time.Since(start)
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("%s on a silent network = %v; want ErrUnavailable", name, err)
			}
			if took > limit+500*time.Millisecond {
				t.Errorf("%s took %v on a silent network, past its %v deadline", name, took, limit)
			}
		}()
	}
	wg.Wait()
	proxy.setStalled(false)

	// Service resumes. This polls, with a deadline, because it waits on
	// PostgreSQL and the pool's dead connections, outside the test.
	for limit := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := readCompare(ctx, s, "ab/cd/stall", data)
		if err == nil {
			break
		}
		if time.Now().After(limit) {
			t.Fatalf("store did not recover after the network came back: %v", err)
		}
	}
	// The stalled Put left no row, or, if the bytes it had queued reached
	// the server after the network healed, a complete one (the in-doubt
	// case of the package documentation): never a partial one. Wait for
	// the proxy to pass on what it held.
	proxy.waitFlushed(t, 10*time.Second)
	check := sqlstore.New(testenv.OpenDB(t, direct))
	ok, err := check.Exists(ctx, "ab/cd/stalled-put")
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		if err := readCompare(ctx, check, "ab/cd/stalled-put", data); err != nil {
			t.Errorf("stalled Put left a partial row: %v", err)
		}
	}
	t.Logf("stalled Put left a complete row: %v", ok)
}
