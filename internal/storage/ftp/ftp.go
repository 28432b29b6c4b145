// Package ftp is the ftp storage backend: blob bytes live as files on an FTP
// server, one file per key under a base directory.
//
// FTP servers are slow to connect to, drop idle connections and differ from
// each other, so the package's job is to behave well when things go wrong.
//
// # Connections
//
// A control connection carries one transfer at a time and is not safe for
// concurrent use, so a [Store] keeps a pool of up to [Config.MaxConns] logged-in
// connections and dials at most [Config.MaxDials] at once (servers such as
// vsftpd have small accept queues and drop bursts). A pooled connection the
// server has dropped in the meantime is detected on its first command and
// replaced by a fresh one without failing the request.
//
// Every read and write on the control and data connections is bounded by
// [Config.Timeout]: a server that accepts and never greets, or stalls in the
// middle of a transfer, gives [storage.ErrUnavailable] within that time.
// Cancelling an operation's context closes its connections at once.
//
// # Atomic writes
//
// Put stores the bytes under a temporary name in the target directory
// (STOR), then renames it to the key's name (RNFR/RNTO). On any failure the
// temporary file is deleted, on a fresh connection if need be, so a failed
// Put leaves nothing under the key. A failure or cancellation while the
// rename is in flight leaves unknown whether the server renamed: Put then
// deletes the temporary file first and the key's file second. The server
// renames or deletes the temporary file, not both, so either the rename
// came first and the second deletion removes its result, or the rename
// finds no file; even a rename the server runs late, after the connection
// was cut, cannot bring the key back. Only when the server cannot be reached
// for these deletions may a Put that reported failure leave a complete file
// under its key (logged; the service never references it). Directories are
// created as needed. Get
// reports a transfer as complete only after the server's closing 226 reply,
// so a connection dropped mid-transfer is an error, never a short blob.
//
// # Errors
//
// Errors name the operation and the key and wrap the storage sentinels:
// [storage.ErrNotFound] for a missing file (a 550 reply is checked against a
// listing of the directory, since 550 also means "permission denied"),
// [storage.ErrUnavailable] for refused, dropped or timed-out connections and
// 421/425/426/450/451 replies, [storage.ErrInsufficientStorage] for 452 and
// 552. The password never appears in an error.
//
// # Servers
//
// The package needs neither MLST nor MLSD (vsftpd has neither): it uses SIZE
// and falls back to LIST, skipping the "." and ".." entries some servers
// list. It uses EPSV, or PASV, always towards the control connection's
// address. With [Config.TLS] set it upgrades with AUTH TLS (explicit TLS)
// and protects data connections too (PROT P), resuming the control
// connection's TLS session as servers such as vsftpd require.
package ftp

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"path"
	"strings"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/ctxio"
)

var _ storage.Driver = (*Store)(nil)

// Defaults for zero [Config] fields.
const (
	// DefaultMaxConns is the default of [Config.MaxConns] (FTP_MAX_CONNS).
	DefaultMaxConns = 8
	// DefaultMaxDials is the default of [Config.MaxDials].
	DefaultMaxDials = 4
	// DefaultTimeout is the default of [Config.Timeout] (FTP_TIMEOUT).
	DefaultTimeout = 30 * time.Second
	// DefaultMaxIdle is the default of [Config.MaxIdle].
	DefaultMaxIdle = time.Minute
)

// tempPrefix starts the names of files being uploaded.
const tempPrefix = ".simpledrive-tmp-"

// Config configures a [Store].
type Config struct {
	// Addr is the server's host:port (FTP_ADDR).
	Addr string
	// User and Password log in (FTP_USER, FTP_PASSWORD).
	User     string
	Password string
	// Root is the base directory of the keys (FTP_ROOT): absolute, or
	// relative to the login directory; empty means the login directory.
	// New creates it when it is missing.
	Root string
	// MaxConns bounds the pooled control connections (FTP_MAX_CONNS);
	// default [DefaultMaxConns].
	MaxConns int
	// MaxDials bounds the connections being dialled at once; default
	// [DefaultMaxDials], at most MaxConns.
	MaxDials int
	// TLS, when set, makes every connection use explicit TLS (FTP_TLS=explicit):
	// AUTH TLS on the control connection and PROT P on data connections.
	// ServerName defaults to Addr's host. Each control connection gets its
	// own ClientSessionCache, so that its data connections resume its
	// session, as servers such as vsftpd require.
	TLS *tls.Config
	// Timeout bounds every read and write on every connection, and each
	// dial (FTP_TIMEOUT); default [DefaultTimeout].
	Timeout time.Duration
	// MaxIdle is how long a connection may sit idle in the pool before it
	// is closed rather than reused; default [DefaultMaxIdle]. Servers close
	// idle connections after their own timeout (vsftpd: 5 minutes).
	MaxIdle time.Duration
	// DialContext, when set, makes the TCP connections (control and data)
	// instead of a net.Dialer. It must return TCP connections.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives failures that no caller sees, such as a temporary
	// file that could not be removed; default slog.Default().
	Logger *slog.Logger
}

// withDefaults checks c and fills in its zero fields.
func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		return c, errors.New("ftp: no server address: set FTP_ADDR to host:port")
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return c, fmt.Errorf("ftp: FTP_ADDR %q: want host:port: %w", c.Addr, err)
	}
	if c.MaxConns < 0 || c.MaxDials < 0 || c.Timeout < 0 || c.MaxIdle < 0 {
		return c, errors.New("ftp: MaxConns (FTP_MAX_CONNS), MaxDials, Timeout (FTP_TIMEOUT) and MaxIdle must not be negative")
	}
	c.MaxConns = cmp.Or(c.MaxConns, DefaultMaxConns)
	c.MaxDials = min(cmp.Or(c.MaxDials, DefaultMaxDials), c.MaxConns)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.MaxIdle = cmp.Or(c.MaxIdle, DefaultMaxIdle)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.TLS != nil {
		c.TLS = c.TLS.Clone()
		if c.TLS.ServerName == "" {
			c.TLS.ServerName = host
		}
	}
	return c, nil
}

// Store is the ftp backend. It is safe for concurrent use; [Store.Close]
// closes its connections.
type Store struct {
	cfg  *Config
	root string // absolute and clean
	pool *pool
}

// New connects to the server once, to check the address, the credentials
// and the root directory (creating it if missing), and returns a Store that
// keeps that connection in its pool. Its errors name the environment
// variable to fix and never contain the password.
func New(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c, err := dialConn(ctx, &cfg)
	if err != nil {
		return nil, setupError(&cfg, err)
	}
	unbind := c.bind(ctx)
	root, err := prepareRoot(c, cfg.Root)
	usable := unbind()
	if err != nil {
		c.close()
		return nil, fmt.Errorf("ftp: FTP_ROOT %q is not a usable directory on %s: %w", cfg.Root, cfg.Addr, withSentinel(err))
	}
	s := &Store{cfg: &cfg, root: root, pool: newPool(&cfg)}
	s.pool.dialled.Add(1)
	if usable {
		s.pool.add(c)
	} else {
		c.close()
	}
	return s, nil
}

// setupError explains a failure of New's first connection.
func setupError(cfg *Config, err error) error {
	var dialErr *dialError
	var loginErr *loginError
	switch {
	case cfg.TLS != nil && (isTLSError(err) || errors.As(err, &dialErr) && isRefusal(err)):
		return fmt.Errorf("ftp: TLS with %s failed; check FTP_TLS and the server's certificate: %w", cfg.Addr, withSentinel(err))
	case isNetworkError(err):
		return fmt.Errorf("ftp: cannot reach FTP_ADDR %s: %w", cfg.Addr, withSentinel(err))
	case errors.As(err, &loginErr) && cfg.TLS == nil:
		return fmt.Errorf("ftp: login to %s as user %q failed; check FTP_USER and FTP_PASSWORD, or set FTP_TLS=explicit if the server requires TLS: %w", cfg.Addr, cfg.User, err)
	case errors.As(err, &loginErr):
		return fmt.Errorf("ftp: login to %s as user %q failed; check FTP_USER and FTP_PASSWORD: %w", cfg.Addr, cfg.User, err)
	default:
		return fmt.Errorf("ftp: connecting to FTP_ADDR %s: %w", cfg.Addr, withSentinel(err))
	}
}

// isRefusal reports whether err is a permanent negative reply (5xx).
func isRefusal(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500
}

func isTLSError(err error) bool {
	var certErr *tls.CertificateVerificationError
	var headerErr tls.RecordHeaderError
	var alert tls.AlertError
	return errors.As(err, &certErr) || errors.As(err, &headerErr) || errors.As(err, &alert)
}

// withSentinel adds the storage sentinel err stands for, if any.
func withSentinel(err error) error {
	if s := classify(err); s != nil && !errors.Is(err, s) {
		return fmt.Errorf("%w: %w", s, err)
	}
	return err
}

// prepareRoot makes root absolute, creates it if missing and checks that
// it is a directory.
func prepareRoot(c *conn, root string) (string, error) {
	if !path.IsAbs(root) {
		wd, err := c.sc.CurrentDir()
		if err != nil {
			return "", err
		}
		root = path.Join(wd, root)
	}
	root = path.Clean(root)
	if err := mkdirAll(c, "/", root); err != nil {
		return "", err
	}
	if err := c.sc.ChangeDir(root); err != nil {
		return "", err
	}
	return root, nil
}

// mkdirAll creates dir and its missing parents below base, which exists.
// MKD is not recursive and fails for an existing directory (550 on
// vsftpd), so every level is tried and replies are ignored: the operation
// that needs the directory reports the real problem.
func mkdirAll(c *conn, base, dir string) error {
	rel := strings.TrimPrefix(strings.TrimPrefix(dir, base), "/")
	if rel == "" {
		return nil
	}
	cur := base
	for _, seg := range strings.Split(rel, "/") {
		cur = path.Join(cur, seg)
		if err := c.sc.MakeDir(cur); err != nil && isStale(err) {
			return err
		}
	}
	return nil
}

// Close closes the pooled connections. Operations in flight finish; their
// connections are closed when they end.
func (s *Store) Close() error {
	s.pool.close()
	return nil
}

// path returns the absolute path of key's file.
func (s *Store) path(key string) string { return path.Join(s.root, key) }

// check validates key and ctx before any network traffic.
func (s *Store) check(ctx context.Context, op, key string) error {
	if err := storage.ValidateKey(key); err != nil {
		return fmt.Errorf("ftp: %s %q: %w", op, key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ftp: %s %s: %w", op, key, err)
	}
	return nil
}

// Put stores exactly size bytes from r under key, atomically: it uploads to
// a temporary file next to the target and renames it into place.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := s.check(ctx, "put", key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("ftp: put %s: negative size %d", key, size)
	}
	target := s.path(key)
	tmp := path.Join(path.Dir(target), tempPrefix+randomHex(8))
	src := &exactReader{r: ctxio.Reader(ctx, r), size: size, left: size}
	renaming := false
	unstarted := func() bool { return !src.started }
	err := s.withConn(ctx, unstarted, func(c *conn) error {
		return s.store(c, target, tmp, src, &renaming)
	})
	if err == nil {
		return nil
	}
	switch {
	case renaming:
		// The rename may have happened before its reply was lost, or
		// may yet happen: the temporary file goes first.
		s.cleanUp(ctx, tmp, target)
	case src.started:
		s.cleanUp(ctx, tmp)
	}
	if src.err != nil {
		return fmt.Errorf("ftp: put %s: reading the bytes: %w", key, src.err)
	}
	return wrap(ctx, "put", key, err)
}

// store uploads src to tmp and renames tmp to target, creating target's
// directory when the first STOR shows it missing. It sets *renaming before
// it asks for the rename.
func (s *Store) store(c *conn, target, tmp string, src *exactReader, renaming *bool) error {
	c.uploading = true
	defer func() { c.uploading = false }()
	err := c.sc.Stor(tmp, src)
	if err != nil && !src.started && hasCode(err, codeFileUnavailable, codeBadFileName) {
		if err := mkdirAll(c, s.root, path.Dir(target)); err != nil {
			return err
		}
		err = c.sc.Stor(tmp, src)
	}
	switch {
	case src.err != nil:
		return src.err
	case err != nil && src.started:
		return incomplete(err)
	case err != nil:
		return err
	}
	*renaming = true
	return c.sc.Rename(tmp, target)
}

// cleanUp deletes the files a failed Put may have left, in order, on a
// fresh context since ctx may be what failed, and on a fresh connection if
// need be. A failure is logged: such a file is garbage under a name no one
// reads. After an interrupted rename, paths must list the temporary file
// before the target (see the package documentation).
func (s *Store) cleanUp(ctx context.Context, paths ...string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*s.cfg.Timeout)
	defer cancel()
	for _, p := range paths {
		err := s.withConn(ctx, always, func(c *conn) error { return c.sc.Delete(p) })
		if err != nil && !hasCode(err, codeFileUnavailable) {
			s.cfg.Logger.Warn("ftp: could not remove a file left by a failed put", "path", p, "err", err)
		}
	}
}

// Get opens the file under key. The returned reader reports io.EOF only
// after the server confirmed the whole transfer; it holds a pooled
// connection until closed.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := s.check(ctx, "get", key); err != nil {
		return nil, err
	}
	p := s.path(key)
	for attempt := 0; ; attempt++ {
		l, err := s.acquire(ctx)
		if err != nil {
			return nil, wrap(ctx, "get", key, err)
		}
		resp, err := l.c.sc.Retr(p)
		if err == nil {
			return &reader{s: s, ctx: ctx, key: key, l: l, resp: resp}, nil
		}
		if hasCode(err, codeFileUnavailable) {
			err = s.notFound(l.c, p, err)
		}
		if !s.release(l, err, always) || attempt >= s.cfg.MaxConns {
			return nil, wrap(ctx, "get", key, err)
		}
	}
}

// Delete removes the file under key.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx, "delete", key); err != nil {
		return err
	}
	p := s.path(key)
	// Not retried: the server may have deleted the file before the
	// connection failed. The pool's probe of idle connections covers
	// connections dropped for idleness.
	err := s.withConn(ctx, never, func(c *conn) error {
		err := c.sc.Delete(p)
		if hasCode(err, codeFileUnavailable) {
			return s.notFound(c, p, err)
		}
		return err
	})
	return wrap(ctx, "delete", key, err)
}

// Exists reports whether a file is stored under key.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	if err := s.check(ctx, "exists", key); err != nil {
		return false, err
	}
	var ok bool
	err := s.withConn(ctx, always, func(c *conn) (err error) {
		ok, err = s.exists(c, s.path(key))
		return err
	})
	return ok, wrap(ctx, "exists", key, err)
}

// exists asks for the file's size, which works without a data connection,
// and falls back to a listing when the reply is ambiguous (550) or SIZE is
// not supported.
func (s *Store) exists(c *conn, p string) (bool, error) {
	_, err := c.sc.FileSize(p)
	if err == nil {
		return true, nil
	}
	if !hasCode(err, codeFileUnavailable, codeBadCommand, codeBadArguments, codeNotImplemented, codeParamNotImpl) {
		return false, err
	}
	typ, found, err := s.lookup(c, p)
	return found && typ != ftp.EntryTypeFolder, err
}

// notFound tells a missing file from other causes of a 550 reply (such as
// "permission denied"), by listing. It returns replyErr wrapped in
// [storage.ErrNotFound] when the file is missing, else replyErr.
func (s *Store) notFound(c *conn, p string, replyErr error) error {
	typ, found, err := s.lookup(c, p)
	switch {
	case err != nil:
		return fmt.Errorf("%w (and listing its directory: %w)", replyErr, err)
	case !found || typ == ftp.EntryTypeFolder:
		return fmt.Errorf("%w: %w", storage.ErrNotFound, replyErr)
	default:
		return replyErr
	}
}

// lookup finds p by listing its directory. A directory that cannot be
// listed (550, or 450 on some servers) is looked up in turn: when it is
// missing, so is p. Servers that answer a listing of a missing directory
// with an empty one (vsftpd) need no such step.
func (s *Store) lookup(c *conn, p string) (ftp.EntryType, bool, error) {
	dir, name := path.Split(p)
	dir = path.Clean(dir)
	entries, err := c.sc.List(dir)
	if err != nil {
		if !hasCode(err, codeFileUnavailable, codeFileActionIgnore) || dir == s.root || dir == "/" {
			return 0, false, err
		}
		_, dirFound, dirErr := s.lookup(c, dir)
		if dirErr != nil || dirFound {
			return 0, false, err
		}
		return 0, false, nil
	}
	for _, e := range entries {
		if e.Name == "." || e.Name == ".." {
			continue
		}
		if e.Name == name || path.Base(e.Name) == name {
			return e.Type, true, nil
		}
	}
	return 0, false, nil
}

// lease is a pooled connection bound to one operation's context.
type lease struct {
	c      *conn
	unbind func() bool
}

func (s *Store) acquire(ctx context.Context) (*lease, error) {
	c, err := s.pool.get(ctx)
	if err != nil {
		return nil, err
	}
	return &lease{c: c, unbind: c.bind(ctx)}, nil
}

// release returns l's connection to the pool after an operation that ended
// with err, and reports whether to retry the operation on another
// connection: it failed on a pooled connection the server had dropped, and
// retrySafe says running it again cannot do harm.
func (s *Store) release(l *lease, err error, retrySafe func() bool) (retry bool) {
	ctxOK := l.c.ctx.Err() == nil
	usable := l.unbind() && (err == nil || keepsStep(err))
	stale := err != nil && ctxOK && l.c.reused && isStale(err)
	s.pool.put(l.c, usable)
	if stale {
		s.pool.drain()
	}
	return stale && retrySafe()
}

// Retry policies for [Store.release].
func always() bool { return true }
func never() bool  { return false }

// withConn runs fn on a pooled connection, again on a fresh one when the
// pooled one turns out to have been dropped by the server and retrySafe
// allows it.
func (s *Store) withConn(ctx context.Context, retrySafe func() bool, fn func(*conn) error) error {
	for attempt := 0; ; attempt++ {
		l, err := s.acquire(ctx)
		if err != nil {
			return err
		}
		err = fn(l.c)
		if !s.release(l, err, retrySafe) || attempt >= s.cfg.MaxConns {
			return err
		}
	}
}

// reader streams one file and holds its connection until closed.
type reader struct {
	s    *Store
	ctx  context.Context
	key  string
	l    *lease
	resp *ftp.Response
	err  error // sticky: io.EOF or the first failure
	done bool  // the connection went back to the pool
}

// Read reads the file; at the end of the data it waits for the server's
// confirmation that the transfer was complete.
func (r *reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.resp.Read(p)
	switch {
	case err == io.EOF:
		r.err = io.EOF
		if err := r.finish(); err != nil {
			r.err = wrap(r.ctx, "get", r.key, incomplete(fmt.Errorf("transfer not confirmed: %w", err)))
		}
	case err != nil:
		r.err = wrap(r.ctx, "get", r.key, incomplete(err))
		r.finish()
	}
	return n, r.err
}

// incomplete marks the failure of a transfer already under way as
// [storage.ErrUnavailable] unless it stands for another sentinel: whatever
// the server says after a broken transfer (426, 451, even 550), the bytes
// could not be delivered now.
func incomplete(err error) error {
	if classify(err) != nil {
		return err
	}
	return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
}

// Close ends the transfer and returns the connection to the pool.
func (r *reader) Close() error {
	if r.err == nil {
		r.err = errors.New("ftp: get " + r.key + ": reader closed")
	}
	r.finish()
	return nil
}

// finish closes the data connection, reads the server's closing reply and
// releases the connection, once.
func (r *reader) finish() error {
	if r.done {
		return nil
	}
	r.done = true
	err := r.resp.Close()
	r.s.release(r.l, err, never)
	return err
}

// exactReader yields exactly size bytes of r and fails when r has fewer or
// more, or fails itself. It remembers the first failure, so Put can tell a
// failing source from a failing server.
type exactReader struct {
	r       io.Reader
	size    int64
	left    int64
	started bool  // Read was called: the server accepted the upload
	err     error // the first failure of the source
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	e.started = true
	if e.left == 0 {
		return 0, e.checkEnd()
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case err == io.EOF && e.left > 0:
		e.err = fmt.Errorf("%w: got %d of %d", errSourceTooShort, e.size-e.left, e.size)
	case err != nil && err != io.EOF:
		e.err = err
	}
	return n, e.err
}

// checkEnd makes sure the source has nothing after its size bytes.
func (e *exactReader) checkEnd() error {
	var b [1]byte
	for range 100 {
		n, err := e.r.Read(b[:])
		switch {
		case n > 0:
			e.err = fmt.Errorf("%w of %d", errSourceTooLong, e.size)
			return e.err
		case err == io.EOF:
			return io.EOF
		case err != nil:
			e.err = err
			return err
		}
	}
	e.err = io.ErrNoProgress
	return e.err
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
