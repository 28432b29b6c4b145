// Package ftp is the ftp storage backend: blob bytes live as files on an FTP
// server, one file per key under a base directory. It is a [storage.Driver]
// with [storage.RangeReader] and [storage.Lister], reached through a
// [storage.Bucket], which validates keys and contexts, enforces the size of
// a Put and names the operation and the key in errors.
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
// # Reads
//
// Get and GetRange (which starts the transfer at its offset with REST, and
// cuts it after its length) read up to [Config.GetBufferBytes] ahead: a
// blob or range that fits is returned from memory, its connection already
// back in the pool. A larger one streams and holds its connection until
// read; a reader not read for [Config.Timeout] loses it and fails with
// [storage.ErrUnavailable], so callers that read slowly, or not at all,
// cannot take every connection for longer than that. A connection whose
// transfer was cut short is probed with NOOP before its next use. Get
// reports a transfer as complete only after the server's closing 226
// reply, so a connection dropped mid-transfer is an error, never a short
// blob.
//
// ListKeys walks the directory tree under the base directory in key order,
// entering only the directories that can hold the keys asked for.
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
// created as needed. Temporary names are valid keys, so ListKeys reports
// the leftovers of interrupted Puts, for collection, on servers that list
// dot files (vsftpd hides them unless force_dot_files=YES).
//
// # Errors
//
// Errors are mapped in one place ([mapErr]) onto the storage sentinels, the
// cause kept in the chain:
// [storage.ErrNotFound] for a missing file (a 550 reply is checked against a
// listing of the directory, since 550 also means "permission denied"),
// [storage.ErrUnavailable] for refused, dropped or timed-out connections and
// 421/425/426/450/451 replies, [storage.ErrInsufficientStorage] for 452 and
// 552. The password never appears in an error.
//
// # Servers
//
// The package needs neither MLST nor MLSD (vsftpd has neither): it uses SIZE
// and falls back to LIST (MLSD where the server has it), skipping the "." and ".." entries some servers
// list. It uses EPSV, or PASV, always towards the control connection's
// address. With [Config.TLS] "explicit" it upgrades with AUTH TLS
// and protects data connections too (PROT P), resuming the control
// connection's TLS session as servers such as vsftpd require.
package ftp

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"path"
	"strings"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/simpledrive/simpledrive/internal/storage"
)

var (
	_ storage.Driver      = (*Store)(nil)
	_ storage.RangeReader = (*Store)(nil)
	_ storage.Lister      = (*Store)(nil)
)

// tempPrefix starts the names of files being uploaded.
const tempPrefix = ".simpledrive-tmp-"

// Store is the ftp backend. It is safe for concurrent use; [Store.Close]
// closes its connections.
type Store struct {
	cfg  *settings
	root string // absolute and clean
	pool *pool
	// composing holds a token per Compose running: at most MaxConns/2
	// (at least one), see compose.go.
	composing chan struct{}

	// afterFunc starts the idle timer of a reader; tests replace it.
	afterFunc func(d time.Duration, f func()) stopper
}

// stopper is the part of *time.Timer a reader uses.
type stopper interface{ Stop() bool }

func afterFunc(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }

// New connects to the server once, to check the address, the credentials
// and the root directory (creating it if missing), and returns a Store that
// keeps that connection in its pool. Its errors name the environment
// variable to fix and never contain the password.
func New(ctx context.Context, cfg Config) (*Store, error) {
	set, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	c, err := dialConn(ctx, set)
	if err != nil {
		return nil, setupError(set, err)
	}
	unbind := c.bind(ctx)
	root, err := prepareRoot(c, set.Root)
	usable := unbind()
	if err != nil {
		c.close()
		return nil, fmt.Errorf("ftp: FTP_ROOT %q is not a usable directory on %s: %w", set.Root, set.Addr, withSentinel(err))
	}
	s := &Store{cfg: set, root: root, pool: newPool(set), composing: make(chan struct{}, max(1, set.MaxConns/2)), afterFunc: afterFunc}
	s.pool.dialled.Add(1)
	if usable {
		s.pool.add(c)
	} else {
		c.close()
	}
	return s, nil
}

// setupError explains a failure of New's first connection.
func setupError(cfg *settings, err error) error {
	var dialErr *dialError
	var loginErr *loginError
	switch {
	case cfg.tls != nil && (isTLSError(err) || errors.As(err, &dialErr) && isRefusal(err)):
		return fmt.Errorf("ftp: TLS with %s failed; check FTP_TLS and the server's certificate: %w", cfg.Addr, withSentinel(err))
	case isNetworkError(err):
		return fmt.Errorf("ftp: cannot reach FTP_ADDR %s: %w", cfg.Addr, withSentinel(err))
	case errors.As(err, &loginErr) && cfg.tls == nil:
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

// Put implements [storage.Driver]: it uploads r to a temporary file next to
// the target and renames it into place.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := storage.CheckCall(ctx, key); err != nil {
		return err
	}
	target := s.path(key)
	tmp := path.Join(path.Dir(target), tempPrefix+randomHex(8))
	src := &source{r: r}
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
		return fmt.Errorf("reading the bytes: %w", src.err)
	}
	return mapErr(ctx, err)
}

// store uploads src to tmp and renames tmp to target, creating target's
// directory when the first STOR shows it missing. It sets *renaming before
// it asks for the rename.
func (s *Store) store(c *conn, target, tmp string, src *source, renaming *bool) error {
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

// source is the reader of a Put. It remembers whether the upload started
// and the first failure of the reader, so Put can tell a failing source
// from a failing server.
type source struct {
	r       io.Reader
	started bool  // Read was called: the server accepted the upload
	err     error // the first failure of r
}

func (s *source) Read(p []byte) (int, error) {
	s.started = true
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
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

// Get implements [storage.Driver]. The returned reader reports io.EOF only
// after the server confirmed the whole transfer.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := storage.CheckCall(ctx, key); err != nil {
		return nil, err
	}
	return s.open(ctx, key, 0, -1)
}

// GetRange implements [storage.RangeReader] with REST: the server starts
// the transfer at offset, and the transfer is cut after length bytes.
func (s *Store) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := storage.CheckCall(ctx, key); err != nil {
		return nil, err
	}
	if length == 0 {
		ok, err := s.Exists(ctx, key)
		switch {
		case err != nil:
			return nil, err
		case !ok:
			return nil, storage.ErrNotFound
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	return s.open(ctx, key, offset, length)
}

// Delete implements [storage.Driver].
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.CheckCall(ctx, key); err != nil {
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
	return mapErr(ctx, err)
}

// Exists implements [storage.Driver].
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	if err := storage.CheckCall(ctx, key); err != nil {
		return false, err
	}
	var ok bool
	err := s.withConn(ctx, always, func(c *conn) (err error) {
		ok, err = s.exists(c, s.path(key))
		return err
	})
	return ok, mapErr(ctx, err)
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

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
