package app

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/config"
)

func httpConfig() config.HTTP {
	return config.HTTP{
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		ShutdownTimeout:   10 * time.Millisecond,
		MaxHeaderBytes:    32 << 10,
		MaxConns:          1024,
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestServeWaitsForHandlersAfterShutdownTimeout: a handler that ignores
// shutdown until its context is cancelled, then keeps working until Serve
// is either waiting for it (the hook) or has returned without waiting. Past
// SHUTDOWN_TIMEOUT, Serve must cancel it and return only after it returned.
func TestServeWaitsForHandlersAfterShutdownTimeout(t *testing.T) {
	waiting := make(chan struct{})
	hook := func() { close(waiting) }
	waitingForHandlers.Store(&hook)
	defer waitingForHandlers.Store(nil)
	entered := make(chan struct{})
	served := make(chan error, 1)
	serveReturned := make(chan struct{})
	var handlerReturned bool // written by the handler before it returns
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
		select {
		case <-waiting:
		case <-serveReturned:
		}
		handlerReturned = true
	})
	ln := listen(t)
	ctx, stop := context.WithCancel(context.Background())
	go func() {
		err := serve(ctx, ln, nil, h, httpConfig(), slog.New(slog.DiscardHandler))
		close(serveReturned)
		served <- err
	}()
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	stop() // SIGTERM
	err := <-served
	if !handlerReturned { // the race detector also flags a Serve that did not wait
		t.Fatal("Serve returned before the handler did")
	}
	if err == nil || !strings.Contains(err.Error(), "SHUTDOWN_TIMEOUT") {
		t.Fatalf("Serve = %v; want the shutdown timeout reported", err)
	}
}

// TestHeaderFlood: connections each sending an unfinished header line
// larger than MaxHeaderBytes are answered 431 and closed, instead of being
// buffered up to net/http's 1 MiB default.
func TestHeaderFlood(t *testing.T) {
	ln := listen(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go serve(ctx, ln, nil, http.NotFoundHandler(), httpConfig(), slog.New(slog.DiscardHandler))
	line := "GET / HTTP/1.1\r\nHost: x\r\nX-Flood: " + strings.Repeat("a", 64<<10) // no end of line
	for i := range 20 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go io.WriteString(c, line) // may fail once the server closes
		status, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.Contains(status, "431") {
			t.Fatalf("connection %d: status line %q, %v; want 431", i, status, err)
		}
	}
}

// TestIdleConnectionsGiveWay: with MAX_CONNS=64 and 64 idle keep-alive
// connections held by a client without a token (one GET /healthz each),
// the real server still answers /healthz and the operator on new
// connections, closing idle ones to make room (issue 18, finding 6: with
// netutil.LimitListener both waited for as long as the idle connections
// were held).
func TestIdleConnectionsGiveWay(t *testing.T) {
	const maxConns = 64
	addr := serveApp(t, map[string]string{"MAX_CONNS": strconv.Itoa(maxConns)})
	for i := range maxConns {
		if status, err := dialRaw(t, addr).get("/healthz", ""); err != nil || status != http.StatusOK {
			t.Fatalf("idle connection %d: %d, %v", i, status, err)
		}
	}
	// The timeout bounds a hang: the old listener never answered.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, path := range []string{"/healthz", "/v1/blobs", "/healthz", "/v1/blobs"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer token")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s with %d idle connections held: %v", path, maxConns, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
	}
}

// TestAuthenticatedConnectionsKept: an idle connection that carried a
// request without a token is closed after HTTP_READ_HEADER_TIMEOUT, and
// one that carried the operator's, idle longer, is not (httpapi trusts
// the connections of requests that authenticated).
func TestAuthenticatedConnectionsKept(t *testing.T) {
	addr := serveApp(t, map[string]string{"HTTP_READ_HEADER_TIMEOUT": "100ms"})
	operator, anonymous := dialRaw(t, addr), dialRaw(t, addr)
	if status, err := operator.get("/v1/blobs", "token"); err != nil || status != http.StatusOK {
		t.Fatalf("the operator's GET: %d, %v", status, err)
	}
	if status, err := anonymous.get("/healthz", ""); err != nil || status != http.StatusOK {
		t.Fatalf("GET /healthz: %d, %v", status, err)
	}
	if _, err := anonymous.r.ReadByte(); err != io.EOF {
		t.Fatalf("the idle anonymous connection: %v; want it closed", err)
	}
	if status, err := operator.get("/v1/blobs", "token"); err != nil || status != http.StatusOK {
		t.Fatalf("the operator's connection after the anonymous one was closed: %d, %v", status, err)
	}
}

// serveApp serves the real app, configured by vars over a SQLite database
// and a local backend, with the token "token", until the test ends; it
// returns the server's address.
func serveApp(t *testing.T, vars map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{"API_TOKEN": "token", "DATABASE_URL": dir + "/meta.db", "LOCAL_STORAGE_PATH": dir + "/blobs"}
	maps.Copy(env, vars)
	cfg, err := config.Load(func(name string) string { return env[name] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		<-served
		a.Close()
	})
	return ln.Addr().String()
}

// rawConn is one keep-alive connection of a test client.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a bound on a hang, not synchronisation
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// get sends a GET of path, with token when not empty, and returns the
// response's status.
func (c *rawConn) get(path, token string) (int, error) {
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n"+auth+"\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// TestGracefulShutdownFinishesUploads stops the server while an upload is
// in its handler: the upload still gets its 201, then Serve returns nil and
// the listener is closed.
func TestGracefulShutdownFinishesUploads(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load(func(name string) string {
		return map[string]string{"API_TOKEN": "token", "DATABASE_URL": dir + "/meta.db", "LOCAL_STORAGE_PATH": dir + "/blobs"}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		a.Handler().ServeHTTP(w, r)
	})
	ln := listen(t)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, nil, h, cfg.HTTP, slog.New(slog.DiscardHandler)) }()

	body, bodyWriter := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/v1/blobs", body)
	req.Header.Set("Authorization", "Bearer token")
	answered := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
		}
		answered <- resp
	}()
	bodyWriter.Write([]byte(`{"id":"in-flight",`))
	<-entered
	stop() // SIGTERM while the handler reads the body
	bodyWriter.Write([]byte(`"data":"aGVsbG8="}`))
	bodyWriter.Close()
	resp := <-answered
	if resp == nil {
		t.Fatal("no response")
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight upload answered %d; want 201", resp.StatusCode)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v after a graceful shutdown", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("the server still accepts connections after shutdown")
	}
}

// messages is a slog.Handler that sends every record's message to a
// channel, for tests that wait on what the server logs.
type messages chan string

func (m messages) Enabled(context.Context, slog.Level) bool      { return true }
func (m messages) Handle(_ context.Context, r slog.Record) error { m <- r.Message; return nil }
func (m messages) WithAttrs([]slog.Attr) slog.Handler            { return m }
func (m messages) WithGroup(string) slog.Handler                 { return m }

// TestServerCollectsGarbage deletes a blob on a server whose collector runs
// every few milliseconds: once it reports a collection, the deleted blob's
// bytes are gone from the backend and the live blob's are not.
func TestServerCollectsGarbage(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load(func(name string) string {
		return map[string]string{"API_TOKEN": "token", "DATABASE_URL": dir + "/meta.db", "LOCAL_STORAGE_PATH": dir + "/blobs",
			"GC_INTERVAL": "5ms", "DELETE_GRACE": "1ms"}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := make(messages, 1000)
	a, err := New(context.Background(), cfg, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ln := listen(t)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String() + "/v1/blobs/"
	do := func(method, id, body string) int {
		req, _ := http.NewRequest(method, base+id, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if do(http.MethodPut, "kept", "k") != http.StatusCreated || do(http.MethodPut, "doomed", "d") != http.StatusCreated ||
		do(http.MethodDelete, "doomed", "") != http.StatusNoContent {
		t.Fatal("could not store and delete the blobs")
	}
	for msg := range logs {
		if msg == "garbage collected" {
			break
		}
	}
	keys, err := a.backend.ListKeys(context.Background(), "", "", 10)
	if err != nil || len(keys) != 1 {
		t.Fatalf("after a collection the backend holds %v (%v); want only the kept blob's bytes", keys, err)
	}
	if do(http.MethodGet, "kept?alt=media", "") != http.StatusOK {
		t.Fatal("the kept blob is gone")
	}
	stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
