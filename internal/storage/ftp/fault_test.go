package ftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
)

func TestConformanceInProcess(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		return newStore(t, newTestServer(t).config())
	})
}

// TestConformanceDotEntries runs the suite against a server without MLST
// or MLSD (like vsftpd) whose listings include "." and "..".
func TestConformanceDotEntries(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		srv := newTestServer(t, func(s *testServer) { s.likeVsftpd = true })
		return newStore(t, srv.config())
	})
}

// TestDotEntriesServer checks that the server of TestConformanceDotEntries
// really lists "." and ".." and has no MLSD, so that the suite covers them.
func TestDotEntriesServer(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.likeVsftpd = true })
	s := newStore(t, srv.config())
	var names []string
	err := s.withConn(context.Background(), never, func(c *conn) error {
		entries, err := c.sc.List(s.root)
		for _, e := range entries {
			names = append(names, e.Name)
		}
		if _, mlstErr := c.sc.GetEntry(s.root); mlstErr == nil {
			t.Error("the server answers MLST")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != ".,.." {
		t.Errorf("listing of the empty root = %q; want . and ..", names)
	}
}

// mustPut stores data under key or fails t.
func mustPut(t testing.TB, s *Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// assertRecovers checks that s works again: a round trip succeeds.
func assertRecovers(t testing.TB, s *Store) {
	t.Helper()
	data := storagetest.RandomBytes(t, 100<<10)
	mustPut(t, s, "ab/cd/recovered", data)
	if got := storagetest.MustGet(t, s, "ab/cd/recovered"); !bytes.Equal(got, data) {
		t.Fatalf("after recovery Get returned %d bytes that differ from the %d put", len(got), len(data))
	}
}

// assertFiles checks the exact set of files on the server's disk: no final
// file of a failed put, no temporary file left behind.
func assertFiles(t *testing.T, srv *testServer, want ...string) {
	t.Helper()
	got := srv.files()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("files on the server = %q; want %q", got, want)
	}
}

// hookReader yields size zero bytes and calls hook once, after the first n.
type hookReader struct {
	n, size int
	hook    func()
	fired   bool
}

func (r *hookReader) Read(p []byte) (int, error) {
	if r.size == 0 {
		return 0, io.EOF
	}
	if !r.fired && r.n == 0 {
		r.fired = true
		r.hook()
	}
	k := min(len(p), r.size)
	if !r.fired {
		k = min(k, r.n)
		r.n -= k
	}
	clear(p[:k])
	r.size -= k
	return k, nil
}

func TestServerKilledMidPut(t *testing.T) {
	srv := newTestServer(t)
	s := newStore(t, srv.config())
	start := time.Now()
	err := s.Put(context.Background(), "ab/cd/killed", &hookReader{n: 256 << 10, size: 4 << 20, hook: srv.kill}, 4<<20)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Put while the server dies = %v; want ErrUnavailable", err)
	}
	t.Logf("Put failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	srv.start()
	// The temporary file could not be removed while the server was down:
	// it is garbage, but nothing is under the key.
	if _, err := s.Get(context.Background(), "ab/cd/killed"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get after the failed Put = %v; want ErrNotFound", err)
	}
	for _, f := range srv.files() {
		if !strings.HasPrefix(path.Base(f), tempPrefix) {
			t.Errorf("the failed Put left %s, which is not a temporary file", f)
		}
	}
	assertRecovers(t, s)
}

func TestConnectionsDroppedMidPut(t *testing.T) {
	srv := newTestServer(t)
	s := newStore(t, srv.config())
	// Every connection drops mid-transfer but the server stays up: the
	// failed Put's cleanup, on a fresh connection, removes the temporary
	// file.
	err := s.Put(context.Background(), "ab/cd/dropped", &hookReader{n: 256 << 10, size: 4 << 20, hook: srv.dropConns}, 4<<20)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Put whose connections drop = %v; want ErrUnavailable", err)
	}
	assertFiles(t, srv)
	assertRecovers(t, s)
	assertFiles(t, srv, "data/ab/cd/recovered")
}

func TestConnectionsDroppedDuringRename(t *testing.T) {
	srv := newTestServer(t)
	s := newStore(t, srv.config())
	// The rename happens, but the connection drops before the server can
	// say so: the Put fails, so the bytes it put under the key must go too.
	srv.fs.afterRename.Store(func() {
		srv.fs.afterRename.Store(func() {})
		srv.dropConns()
	})
	err := s.Put(context.Background(), "ab/cd/renamed", strings.NewReader("data"), 4)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Put whose rename reply was lost = %v; want ErrUnavailable", err)
	}
	assertFiles(t, srv)
	assertRecovers(t, s)
}

func TestServerKilledMidGet(t *testing.T) {
	srv := newTestServer(t)
	s := newStore(t, srv.config())
	data := storagetest.RandomBytes(t, 8<<20)
	srv.writeFile("data/ab/cd/big", data)
	rc, err := s.Get(context.Background(), "ab/cd/big")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	srv.kill()
	n, err := io.Copy(io.Discard, rc)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("reading while the server dies = %d bytes, %v; want ErrUnavailable, never a silent short read", n, err)
	}
	rc.Close()
	srv.start()
	assertRecovers(t, s)
}

func TestServerNeverGreets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // accepted, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	cfg := Config{Addr: ln.Addr().String(), User: testUser, Password: testPassword, Timeout: 300 * time.Millisecond}
	start := time.Now()
	_, err = New(context.Background(), cfg)
	elapsed := time.Since(start)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("New against a silent server = %v; want ErrUnavailable", err)
	}
	if elapsed > 2*cfg.Timeout {
		t.Errorf("New took %v; want about the %v timeout", elapsed, cfg.Timeout)
	}
	if !strings.Contains(err.Error(), "FTP_ADDR") {
		t.Errorf("error %q does not name FTP_ADDR", err)
	}
}

func TestServerStallsMidGet(t *testing.T) {
	srv := newTestServer(t)
	s := newStore(t, srv.config())
	srv.writeFile("data/ab/cd/big", storagetest.RandomBytes(t, 1<<20))
	srv.fs.stallReads.Store(true)
	start := time.Now()
	// The stall comes within the bytes Get reads ahead, so Get itself
	// fails; without read-ahead, reading the stream does.
	for _, buffer := range []int64{DefaultGetBufferBytes, -1} {
		s.cfg.GetBufferBytes = buffer
		var n int64
		rc, err := s.Get(context.Background(), "ab/cd/big")
		if err == nil {
			n, err = io.Copy(io.Discard, rc)
			rc.Close()
		}
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("reading from a stalled server (buffer %d) = %d bytes, %v; want ErrUnavailable", buffer, n, err)
		}
		if elapsed := time.Since(start); elapsed > 4*s.cfg.Timeout {
			t.Errorf("the stalled read failed after %v; want about the %v timeout", elapsed, s.cfg.Timeout)
		}
		start = time.Now()
	}
	s.cfg.GetBufferBytes = DefaultGetBufferBytes
	srv.fs.stallReads.Store(false)
	assertRecovers(t, s)
}

func TestServerStallsMidPut(t *testing.T) {
	srv := newTestServer(t)
	s := newStore(t, srv.config())
	srv.fs.stallWrites.Store(true)
	start := time.Now()
	// Larger than the loopback socket buffers, so the writer must block.
	const size = 64 << 20
	err := s.Put(context.Background(), "ab/cd/stalled", &hookReader{size: size, hook: func() {}}, size)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Put to a stalled server = %v; want ErrUnavailable", err)
	}
	if elapsed := time.Since(start); elapsed > 4*s.cfg.Timeout {
		t.Errorf("Put to a stalled server failed after %v; want about the %v timeout", elapsed, s.cfg.Timeout)
	}
	srv.fs.stallWrites.Store(false)
	if _, err := s.Get(context.Background(), "ab/cd/stalled"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get after the failed Put = %v; want ErrNotFound", err)
	}
	assertRecovers(t, s)
}

func TestServerClosesIdleConnections(t *testing.T) {
	srv := newTestServer(t, func(s *testServer) { s.idleTimeout = 1 })
	s := newStore(t, srv.config())
	data := []byte("survives idle timeouts")
	mustPut(t, s, "ab/cd/idle", data)
	dialled := s.pool.dialled.Load()
	if n := srv.waitControl(0); n != 0 { // the server drops the pooled connection
		t.Fatalf("the server still has %d control connections after its idle timeout", n)
	}
	if got := storagetest.MustGet(t, s, "ab/cd/idle"); !bytes.Equal(got, data) {
		t.Fatalf("Get after the idle timeout = %q; want %q", got, data)
	}
	if ok, err := s.Exists(context.Background(), "ab/cd/idle"); err != nil || !ok {
		t.Fatalf("Exists = %v, %v; want true, nil", ok, err)
	}
	if got := s.pool.dialled.Load(); got != dialled+1 {
		t.Errorf("dialled %d connections after the idle timeout; want exactly 1 redial", got-dialled)
	}
}

func TestServerRestartedBetweenRequests(t *testing.T) {
	srv := newTestServer(t)
	s := newStore(t, srv.config())
	var wg sync.WaitGroup
	for i := range 4 { // fill the pool with several connections
		wg.Add(1)
		go func() {
			defer wg.Done()
			mustPut(t, s, fmt.Sprintf("ab/cd/before-%d", i), []byte("x"))
		}()
	}
	wg.Wait()
	srv.restart()
	// Every pooled connection is dead; the request still succeeds.
	if got := storagetest.MustGet(t, s, "ab/cd/before-0"); string(got) != "x" {
		t.Fatalf("Get after a restart = %q", got)
	}
}

func TestServerDown(t *testing.T) {
	srv := newTestServer(t)
	s := newStore(t, srv.config())
	b := storage.NewBucket("ftp", s)
	srv.kill()
	for name, op := range map[string]func() error{
		"Put":      func() error { return b.Put(context.Background(), "ab/cd/x", strings.NewReader("x"), 1) },
		"Get":      func() error { _, err := b.Get(context.Background(), "ab/cd/x"); return err },
		"GetRange": func() error { _, err := b.GetRange(context.Background(), "ab/cd/x", 1, 1); return err },
		"Delete":   func() error { return b.Delete(context.Background(), "ab/cd/x") },
		"Exists":   func() error { _, err := b.Exists(context.Background(), "ab/cd/x"); return err },
		"ListKeys": func() error { _, err := b.ListKeys(context.Background(), "ab/cd/x", "", 1); return err },
	} {
		if err := op(); !errors.Is(err, storage.ErrUnavailable) || !strings.Contains(err.Error(), "ab/cd/x") {
			t.Errorf("%s with the server down = %v; want ErrUnavailable naming the key", name, err)
		}
	}
	srv.start()
	assertRecovers(t, s)
}

func TestConcurrency64Through8(t *testing.T) {
	srv := newTestServer(t)
	s := newStore(t, srv.config())
	const workers = 64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("ab/cd/worker-%d", i)
			data := bytes.Repeat([]byte{byte(i)}, 32<<10+i)
			if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
				errs <- err
				return
			}
			rc, err := s.Get(context.Background(), key)
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data) {
				errs <- fmt.Errorf("worker %d read %d bytes (%v); want its own %d", i, len(got), err, len(data))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.maxControl(); n > DefaultMaxConns {
		t.Errorf("the server saw %d control connections at once; want at most %d", n, DefaultMaxConns)
	}
	if n := s.pool.dialled.Load(); n > DefaultMaxConns {
		t.Errorf("dialled %d connections; want at most %d, reused", n, DefaultMaxConns)
	}
	if got := len(srv.files()); got != workers {
		t.Errorf("%d files on the server; want %d", got, workers)
	}
}

// TestDialLimit holds every greeting until MaxDials connections are being
// greeted and all the other requests wait for their turn to dial: a Store
// that dialled more at once would never reach that state.
func TestDialLimit(t *testing.T) {
	const workers = 8
	srv := newTestServer(t)
	cfg := srv.config()
	cfg.MaxDials = 2
	s := newStore(t, cfg)
	s.pool.drain()
	gate := make(chan struct{})
	var waiting int
	srv.mu.Lock()
	srv.greetGate, srv.maxGreet = gate, 0
	srv.mu.Unlock()
	s.pool.dialWait = func() {
		srv.mu.Lock()
		waiting++
		srv.notify()
		srv.mu.Unlock()
	}
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Exists(context.Background(), fmt.Sprintf("ab/cd/%d", i)); err != nil {
				t.Error(err)
			}
		}()
	}
	held := srv.waitFor(10*time.Second, func() bool {
		return srv.greeting == cfg.MaxDials && waiting == workers-cfg.MaxDials
	})
	srv.mu.Lock()
	greeting, waited := srv.greeting, waiting
	srv.mu.Unlock()
	close(gate)
	wg.Wait()
	if !held {
		t.Fatalf("%d connections being greeted and %d requests waiting to dial; want MaxDials=%d and %d", greeting, waited, cfg.MaxDials, workers-cfg.MaxDials)
	}
	srv.mu.Lock()
	maxGreet := srv.maxGreet
	srv.mu.Unlock()
	if maxGreet > cfg.MaxDials {
		t.Errorf("%d connections were being set up at once; want at most MaxDials=%d", maxGreet, cfg.MaxDials)
	}
}

func TestInsufficientStorage(t *testing.T) {
	srv := newTestServer(t)
	s := newStore(t, srv.config())
	srv.fs.writeErr.Store(ftpserver.ErrStorageExceeded) // replies 552
	err := s.Put(context.Background(), "ab/cd/full", strings.NewReader("data"), 4)
	if !errors.Is(err, storage.ErrInsufficientStorage) {
		t.Fatalf("Put to a full server = %v; want ErrInsufficientStorage", err)
	}
	assertFiles(t, srv)
}

func TestPermissionDeniedIsNotNotFound(t *testing.T) {
	srv := newTestServer(t)
	s := newStore(t, srv.config())
	srv.writeFile("data/ab/cd/"+deniedPrefix+"x", []byte("secret"))
	_, err := s.Get(context.Background(), "ab/cd/"+deniedPrefix+"x")
	if err == nil || errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get of a file the server refuses to open = %v; want an error other than ErrNotFound", err)
	}
	if _, err := s.Get(context.Background(), "ab/cd/"+deniedPrefix+"missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get of a missing file = %v; want ErrNotFound", err)
	}
}

func TestCancelledGetReleasesConnection(t *testing.T) {
	srv := newTestServer(t)
	s := newStore(t, srv.config())
	srv.writeFile("data/ab/cd/big", storagetest.RandomBytes(t, 4<<20))
	ctx, cancel := context.WithCancel(context.Background())
	rc, err := s.Get(ctx, "ab/cd/big")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.Copy(io.Discard, rc); !errors.Is(err, context.Canceled) {
		t.Errorf("reading after cancel = %v; want context.Canceled", err)
	}
	rc.Close()
	assertRecovers(t, s)
}

func TestNewErrors(t *testing.T) {
	srv := newTestServer(t)
	srv.writeFile("file", []byte("not a directory"))
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		edit     func(*Config)
		want     []string
		sentinel error
	}{
		{"no address", func(c *Config) { c.Addr = "" }, []string{"FTP_ADDR"}, nil},
		{"bad address", func(c *Config) { c.Addr = "localhost" }, []string{"FTP_ADDR"}, nil},
		{"refused", func(c *Config) { c.Addr = closedAddr }, []string{"FTP_ADDR", closedAddr}, storage.ErrUnavailable},
		{"wrong password", func(c *Config) { c.Password = "wrong-" + testPassword }, []string{"FTP_USER", "FTP_PASSWORD", "***"}, nil},
		{"wrong user", func(c *Config) { c.User = "mallory" }, []string{"FTP_USER", "FTP_PASSWORD"}, nil},
		{"root is a file", func(c *Config) { c.Root = "/file" }, []string{"FTP_ROOT"}, nil},
		{"TLS refused", func(c *Config) { c.TLS = TLSExplicit }, []string{"FTP_TLS"}, nil},
		{"TLS mode", func(c *Config) { c.TLS = "implicit" }, []string{"FTP_TLS", "implicit"}, nil},
		{"CA without TLS", func(c *Config) { c.TLSCAFile = caFile }, []string{"FTP_TLS_CA", "FTP_TLS=explicit"}, nil},
		{"CA file missing", func(c *Config) { c.TLS, c.TLSCAFile = TLSExplicit, caFile+".missing" }, []string{"FTP_TLS_CA"}, nil},
		{"CA file without certificate", func(c *Config) { c.TLS, c.TLSCAFile = TLSExplicit, caFile }, []string{"FTP_TLS_CA", "no PEM certificate"}, nil},
		{"negative dials", func(c *Config) { c.MaxDials = -1 }, []string{"FTP_MAX_DIALS"}, nil},
		{"negative idle timeout", func(c *Config) { c.IdleTimeout = -1 }, []string{"FTP_IDLE_TIMEOUT"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := srv.config()
			tt.edit(&cfg)
			s, err := New(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error %q contains the password", err)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("error %q does not wrap %v", err, tt.sentinel)
			}
		})
	}
}

func TestNewCreatesRoot(t *testing.T) {
	srv := newTestServer(t)
	cfg := srv.config()
	cfg.Root = "deep/er/root" // relative to the login directory
	s := newStore(t, cfg)
	mustPut(t, s, "ab/cd/k", []byte("v"))
	assertFiles(t, srv, "deep/er/root/ab/cd/k")
}

func TestCloseClosesConnections(t *testing.T) {
	srv := newTestServer(t)
	s := newStore(t, srv.config())
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mustPut(t, s, fmt.Sprintf("ab/cd/%d", i), []byte("v"))
		}()
	}
	wg.Wait()
	s.Close()
	if n := srv.waitControl(0); n > 0 {
		t.Errorf("%d control connections still open after Close", n)
	}
	if err := s.Put(context.Background(), "ab/cd/k", strings.NewReader("v"), 1); err == nil {
		t.Fatal("Put on a closed store succeeded")
	}
}

func TestPoolExhaustedHonoursContext(t *testing.T) {
	srv := newTestServer(t)
	srv.writeFile("data/ab/cd/k", storagetest.RandomBytes(t, 2*DefaultGetBufferBytes))
	cfg := srv.config()
	cfg.MaxConns = 1
	s := newStore(t, cfg)
	rc, err := s.Get(context.Background(), "ab/cd/k") // streams: holds the only connection
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Exists(ctx, "ab/cd/k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Exists with the pool exhausted = %v; want context.DeadlineExceeded", err)
	}
	rc.Close()
	if ok, err := s.Exists(context.Background(), "ab/cd/k"); err != nil || !ok {
		t.Errorf("Exists after the connection came back = %v, %v; want true, nil", ok, err)
	}
}

func TestMaxIdle(t *testing.T) {
	srv := newTestServer(t)
	cfg := srv.config()
	cfg.IdleTimeout = time.Minute
	s := newStore(t, cfg)
	var later atomic.Bool // the clock is past IdleTimeout
	s.pool.now = func() time.Time {
		if later.Load() {
			return time.Now().Add(cfg.IdleTimeout + time.Second)
		}
		return time.Now()
	}
	mustPut(t, s, "ab/cd/k", []byte("v"))
	before := s.pool.dialled.Load()
	later.Store(true)
	if got := storagetest.MustGet(t, s, "ab/cd/k"); string(got) != "v" {
		t.Fatalf("Get = %q", got)
	}
	if got := s.pool.dialled.Load() - before; got != 1 {
		t.Errorf("dialled %d connections after MaxIdle; want 1: the idle one is replaced", got)
	}
	if n := srv.waitControl(1); n != 1 {
		t.Errorf("%d control connections open; want 1: the expired one is closed", n)
	}
}
