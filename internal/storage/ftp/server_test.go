package ftp

import (
	"crypto/tls"
	"errors"
	"fmt"
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
	"github.com/spf13/afero"
)

// Test credentials of the in-process server.
const (
	testUser     = "alice"
	testPassword = "s3cret-Pa55word"
)

// testServer is an in-process FTP server (ftpserverlib) over a temporary
// directory, which tests can kill, restart, slow down or make fail. It
// tracks the server side of every connection, control and data.
type testServer struct {
	t    *testing.T
	dir  string // the files the server serves
	fs   *faultFS
	addr string

	// Settings applied by the next start.
	idleTimeout int  // seconds; 0 means the library's default
	likeVsftpd  bool // no MLST/MLSD; listings include "." and ".."

	mu        sync.Mutex
	srv       *ftpserver.FtpServer
	conns     map[net.Conn]struct{}
	control   int           // control connections open now
	maxCtl    int           // most control connections open at once
	greeting  int           // clients being greeted now
	maxGreet  int           // most clients greeted at once
	greetGate chan struct{} // when set, greetings wait until it is closed
	changed   chan struct{} // closed and replaced whenever the counts change
	accepted  atomic.Int64
}

func newTestServer(t *testing.T, opts ...func(*testServer)) *testServer {
	t.Helper()
	dir := t.TempDir()
	s := &testServer{
		t:       t,
		dir:     dir,
		fs:      &faultFS{Fs: afero.NewBasePathFs(afero.NewOsFs(), dir), release: make(chan struct{})},
		addr:    "127.0.0.1:0",
		conns:   make(map[net.Conn]struct{}),
		changed: make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.start()
	t.Cleanup(func() {
		close(s.fs.release)
		s.kill()
	})
	return s
}

// config returns a Config for s with short timeouts.
func (s *testServer) config() Config {
	return Config{Addr: s.addr, User: testUser, Password: testPassword, Root: "/data", Timeout: 500 * time.Millisecond}
}

// start serves on s.addr (the same port again after a kill).
func (s *testServer) start() {
	s.t.Helper()
	// kill closed the listener synchronously, so the port is free again.
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("test server: %v", err)
	}
	s.addr = ln.Addr().String()
	s.fs.dotEntries.Store(s.likeVsftpd)
	srv := ftpserver.NewFtpServer(&testDriver{s: s, settings: &ftpserver.Settings{
		Listener:    &trackingListener{Listener: ln, s: s, control: true},
		IdleTimeout: s.idleTimeout,
		DisableMLSD: s.likeVsftpd,
		DisableMLST: s.likeVsftpd,
	}})
	if err := srv.Listen(); err != nil {
		s.t.Fatalf("test server: %v", err)
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go srv.Serve()
}

// kill stops the server abruptly: it stops listening and drops every
// connection, as if the process died.
func (s *testServer) kill() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	conns := s.conns
	s.conns = make(map[net.Conn]struct{})
	s.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
	for c := range conns {
		c.Close()
	}
}

// dropConns drops every connection, control and data, but keeps
// listening: a network failure rather than a dead server.
func (s *testServer) dropConns() {
	s.mu.Lock()
	conns := s.conns
	s.conns = make(map[net.Conn]struct{})
	s.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// restart kills the server and starts a new one on the same address over
// the same files.
func (s *testServer) restart() {
	s.kill()
	s.start()
}

// notify wakes the waiters of waitFor; s.mu must be held.
func (s *testServer) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor waits, up to timeout, for cond to hold; cond runs with s.mu held,
// each time the server's counts change. It reports whether cond held.
func (s *testServer) waitFor(timeout time.Duration, cond func() bool) bool {
	expired := time.NewTimer(timeout)
	defer expired.Stop()
	for {
		s.mu.Lock()
		ok, changed := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-expired.C:
			return false
		}
	}
}

// waitControl waits up to five seconds for the server to have n control
// connections open, and returns how many it has.
func (s *testServer) waitControl(n int) int {
	var open int
	s.waitFor(5*time.Second, func() bool { open = s.control; return open == n })
	return open
}

// maxControl returns the most control connections that were open at once.
func (s *testServer) maxControl() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxCtl
}

// files lists the regular files under the served directory, relative to it.
func (s *testServer) files() []string {
	s.t.Helper()
	var names []string
	err := filepath.WalkDir(s.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(s.dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return names
}

// writeFile puts a file directly on the server's disk.
func (s *testServer) writeFile(name string, data []byte) {
	s.t.Helper()
	p := filepath.Join(s.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *testServer) track(c net.Conn, control bool) net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
	if control {
		s.accepted.Add(1)
		s.control++
		s.maxCtl = max(s.maxCtl, s.control)
		s.notify()
	}
	return &trackedConn{Conn: c, s: s, control: control}
}

func (s *testServer) untrack(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c.Conn)
	if c.control {
		s.control--
		s.notify()
	}
}

type trackingListener struct {
	net.Listener
	s       *testServer
	control bool
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.s.track(c, l.control), nil
}

type trackedConn struct {
	net.Conn
	s       *testServer
	control bool
	once    sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.s.untrack(c) })
	return c.Conn.Close()
}

// testDriver is the server's ftpserverlib driver.
type testDriver struct {
	s        *testServer
	settings *ftpserver.Settings
}

func (d *testDriver) GetSettings() (*ftpserver.Settings, error) { return d.settings, nil }

func (d *testDriver) ClientConnected(ftpserver.ClientContext) (string, error) {
	s := d.s
	s.mu.Lock()
	s.greeting++
	s.maxGreet = max(s.maxGreet, s.greeting)
	gate := s.greetGate
	s.notify()
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	s.mu.Lock()
	s.greeting--
	s.notify()
	s.mu.Unlock()
	return "simpledrive test server", nil
}

func (d *testDriver) ClientDisconnected(ftpserver.ClientContext) {}

func (d *testDriver) AuthUser(_ ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	if user != testUser || pass != testPassword {
		// A careless server that echoes what it was sent.
		return nil, fmt.Errorf("bad credentials %s/%s", user, pass)
	}
	return d.s.fs, nil
}

func (d *testDriver) GetTLSConfig() (*tls.Config, error) { return nil, errors.New("no TLS") }

// WrapPassiveListener tracks data connections too, so kill drops them.
func (d *testDriver) WrapPassiveListener(ln net.Listener) (net.Listener, error) {
	return &trackingListener{Listener: ln, s: d.s}, nil
}

// faultFS is the served file system, with faults tests switch on.
type faultFS struct {
	afero.Fs
	release chan struct{} // closed at the end of the test: stalls end

	stallReads  atomic.Bool  // reads of files stall after stallAfter bytes
	stallWrites atomic.Bool  // writes stall after stallAfter bytes
	writeErr    atomic.Value // error: writes fail with it
	afterRename atomic.Value // func(): called after each successful rename
	dotEntries  atomic.Bool  // directory listings start with "." and ".."

	mu     sync.Mutex
	listed []string // the directories listed, in order
}

// takeListed returns the directories listed since the last call.
func (f *faultFS) takeListed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.listed
	f.listed = nil
	return l
}

// ReadDir lists a directory for LIST and MLSD, with "." and ".." first
// when dotEntries is set, as some servers do.
func (f *faultFS) ReadDir(name string) ([]os.FileInfo, error) {
	f.mu.Lock()
	f.listed = append(f.listed, name)
	f.mu.Unlock()
	entries, err := afero.ReadDir(f.Fs, name)
	if err != nil || !f.dotEntries.Load() {
		return entries, err
	}
	self, err := f.Fs.Stat(name)
	if err != nil {
		return nil, err
	}
	return append([]os.FileInfo{namedInfo{self, "."}, namedInfo{self, ".."}}, entries...), nil
}

// namedInfo renames a FileInfo.
type namedInfo struct {
	os.FileInfo
	name string
}

func (i namedInfo) Name() string { return i.name }

func (f *faultFS) Rename(oldname, newname string) error {
	if err := f.Fs.Rename(oldname, newname); err != nil {
		return err
	}
	if hook, _ := f.afterRename.Load().(func()); hook != nil {
		hook()
	}
	return nil
}

// stallAfter is how many bytes a stalling file transfers before it stalls.
const stallAfter = 64 << 10

// deniedPrefix starts the names of files the server refuses to open.
const deniedPrefix = "denied-"

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if strings.HasPrefix(path.Base(name), deniedPrefix) {
		return nil, os.ErrPermission
	}
	file, err := f.Fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *faultFS) Open(name string) (afero.File, error) {
	return f.OpenFile(name, os.O_RDONLY, 0)
}

type faultFile struct {
	afero.File
	fs *faultFS
	n  int64
}

func (f *faultFile) Read(p []byte) (int, error) {
	if f.fs.stallReads.Load() && f.n >= stallAfter {
		<-f.fs.release
		return 0, errors.New("stalled read released")
	}
	n, err := f.File.Read(p)
	f.n += int64(n)
	return n, err
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err, _ := f.fs.writeErr.Load().(error); err != nil {
		return 0, err
	}
	if f.fs.stallWrites.Load() && f.n >= stallAfter {
		<-f.fs.release
		return 0, errors.New("stalled write released")
	}
	n, err := f.File.Write(p)
	f.n += int64(n)
	return n, err
}
