package connlimit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// server serves h on a loopback listener limited by l, until the test
// ends. Requests with "X-Trust: yes" are trusted.
func server(t *testing.T, l *Limiter, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Trust") == "yes" {
			Trust(r.Context())
		}
		h.ServeHTTP(w, r)
	})}
	go l.Serve(srv, ln, nil)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// waitIdle returns once l counts n idle connections, untrusted and
// trusted: the server reports a connection idle only after the client
// may have read its response. It relies on l.wake, signalled at each
// connection gone idle, so no Accept may be waiting for room meanwhile.
func waitIdle(l *Limiter, untrusted, trusted int) {
	for {
		l.mu.Lock()
		done := l.idle[0].Len() == untrusted && l.idle[1].Len() == trusted
		l.mu.Unlock()
		if done {
			return
		}
		<-l.wake
	}
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })

// client is one keep-alive connection sending raw requests.
type client struct {
	t *testing.T
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, Conn: c, r: bufio.NewReader(c)}
}

// get sends a GET and returns its status, or an error when the
// connection is closed.
func (c *client) get(headers string) (int, error) {
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n"+headers+"\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func (c *client) mustGet(headers string) {
	c.t.Helper()
	if status, err := c.get(headers); err != nil || status != http.StatusOK {
		c.t.Fatalf("GET: %d, %v", status, err)
	}
}

// waitClosed returns once the server has closed the connection.
func (c *client) waitClosed() {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound on a hang, not synchronisation
	if _, err := c.r.ReadByte(); err == nil {
		c.t.Fatal("the server sent bytes on an idle connection")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.t.Fatal("the server did not close the connection")
	}
}

// TestIdleGiveWay: with every slot held by idle keep-alive connections, a
// new connection is served, and the connection idle longest is the one
// closed for it (not the one connected first); the others still serve.
func TestIdleGiveWay(t *testing.T) {
	const max = 4
	l := New(max, time.Hour)
	addr := server(t, l, ok)
	var held []*client
	for i := range max {
		c := dial(t, addr)
		c.mustGet("")
		waitIdle(l, i+1, 0)
		held = append(held, c)
	}
	held[0].mustGet("") // held[1] is now idle longest
	waitIdle(l, max, 0)
	dial(t, addr).mustGet("")
	held[1].waitClosed()
	for _, c := range append(held[:1], held[2:]...) {
		c.mustGet("")
	}
}

// TestUntrustedGiveWayFirst: a connection that carried an authenticated
// request keeps its slot while one that did not is idle, even one idle for
// less time.
func TestUntrustedGiveWayFirst(t *testing.T) {
	l := New(2, time.Hour)
	addr := server(t, l, ok)
	trusted, untrusted := dial(t, addr), dial(t, addr)
	trusted.mustGet("X-Trust: yes\r\n")
	waitIdle(l, 0, 1)
	untrusted.mustGet("") // idle less long than trusted
	waitIdle(l, 1, 1)
	dial(t, addr).mustGet("")
	untrusted.waitClosed()
	trusted.mustGet("")
}

// TestUntrustedIdleTimeout: an idle connection that never authenticated
// is closed after the untrusted idle timeout; a trusted one idle longer is
// not.
func TestUntrustedIdleTimeout(t *testing.T) {
	addr := server(t, New(10, 50*time.Millisecond), ok)
	trusted, untrusted := dial(t, addr), dial(t, addr)
	trusted.mustGet("X-Trust: yes\r\n")
	untrusted.mustGet("")
	untrusted.waitClosed()
	trusted.mustGet("")
}

// TestBusyConnectionsHoldTheirSlots: with every slot held by a request in
// progress, a new connection waits unaccepted until one finishes; no busy
// connection is closed for it.
func TestBusyConnectionsHoldTheirSlots(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	addr := server(t, New(2, time.Hour), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, "ok")
	}))
	busy := make(chan error, 2)
	for range 2 {
		c := dial(t, addr)
		go func() {
			_, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
			if err == nil {
				_, err = http.ReadResponse(c.r, nil)
			}
			busy <- err
		}()
		<-entered
	}
	extra := dial(t, addr)
	answered := make(chan error, 1)
	go func() { _, err := extra.get(""); answered <- err }()
	// Asserting an absence needs a bound: no answer within this window.
	select {
	case err := <-answered:
		t.Fatalf("a third connection was served (%v) with two slots busy", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	for range 2 {
		if err := <-busy; err != nil {
			t.Fatalf("a busy request failed: %v", err)
		}
	}
	if err := <-answered; err != nil {
		t.Fatalf("the waiting connection, once a slot was free: %v", err)
	}
}

// TestCloseReleasesWaitingAccept: closing the server while an Accept
// waits for a slot ends Serve.
func TestCloseReleasesWaitingAccept(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})}
	served := make(chan error, 1)
	go func() { served <- New(1, time.Hour).Serve(srv, ln, nil) }()
	c := dial(t, ln.Addr().String())
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	srv.Close()
	if err := <-served; err != http.ErrServerClosed && !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Serve = %v; want it ended by the close", err)
	}
}
