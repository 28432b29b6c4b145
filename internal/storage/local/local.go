// Package local is a [storage.Driver] that keeps each blob in a file under
// one root directory.
//
// It is always used through a [storage.Bucket], which validates keys, checks
// the context, enforces the exact size of a Put and names the backend,
// operation and key in errors; this package checks the key and the context
// again, as every driver does, and otherwise does only the file-system work.
//
// # Layout
//
// A key is a relative slash-separated path (the service shards keys as
// ab/abcd..., formerly ab/cd/abcd...), stored as the file root/ab/abcd...;
// sub-directories are created as needed.
//
// # Guarantees
//
//   - Atomic, durable writes: Put writes a temporary file (.tmp-<random>) in
//     the target directory, fsyncs it, renames it over the final name and
//     fsyncs the directory (and the parents of directories it had to
//     create; Puts renaming into one directory while it is synced share
//     its next sync, see publish), so after a crash a key holds all of
//     its bytes or nothing, and a Put that returned nil survives. The
//     temporary file is removed on every failure path; only a crash can
//     leave one behind.
//   - Confinement: every operation goes through an [os.Root], or, for
//     reads on Linux, through openat2 with RESOLVE_BENEATH, or, for writes,
//     through a directory opened so (see heldDir), so no key, and no
//     symbolic link planted inside the root, can reach a file outside it.
//   - Concurrency: readers open files that are never modified in place, so
//     concurrent Puts and Gets are safe.
//   - Writes around the page cache: on Linux, a blob of 64 KiB to 1 MiB
//     (one write) goes straight to the device (O_DIRECT), all but its
//     unaligned tail, where the file system allows it (see
//     newFileWriter); it is made durable by the same fsync.
//   - Compose (compose.go) makes a blob of one part a hard link to it, and
//     of several parts a kernel copy (copy_file_range) committed as a Put
//     is; the parts stay as they were.
//
// # Reads
//
// Get returns the [*os.File] itself, except that on Linux a file of at
// most 16 KiB is read whole as it is opened and its descriptor closed at
// once: four system calls (openat2, fstat, read, close) where an *os.File
// and its reader take six. GetRange returns the file positioned at the
// range's start behind an [io.LimitedReader], with a WriteTo that hands it
// to the writer's ReadFrom. A caller copying either file straight to a
// network connection gets sendfile: the blob service does for a range,
// whose length it checks, and not for a whole blob, whose bytes it reads
// to check their checksum and then writes from the same buffer.
//
// # Listing
//
// ListKeys walks the tree under the root in bytewise key order, pruning
// directories that cannot hold a key with the prefix or after startAfter. It
// lists regular files whose paths are valid keys, skipping symbolic links and
// anything else. Temporary files are valid keys (.tmp-<random>), so a listing
// shows the writes in progress and the leftovers of writes a crash
// interrupted; garbage collection removes the latter once they are older
// than its grace period.
package local

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/simpledrive/simpledrive/internal/storage"
	"golang.org/x/sys/unix"
)

var (
	_ storage.Driver      = (*Store)(nil)
	_ storage.RangeReader = (*Store)(nil)
	_ storage.Lister      = (*Store)(nil)
	_ storage.DirGrouper  = (*Store)(nil)
)

// Config configures a [Store].
type Config struct {
	// Root is the directory that holds every blob; it is created if missing.
	Root string
}

// Store is a [storage.Driver] on the local file system.
type Store struct {
	root *os.Root
	// dir is the root directory too, from which reads open their files
	// in one system call where the kernel allows (see openBeneath).
	dir     *os.File
	durable sync.Map // directories whose entries are synced: string -> struct{}
	// dirs holds the directories Put writes into open, once created and
	// synced (see heldDir); held counts them.
	dirs sync.Map // string -> *heldDir
	held atomic.Int32
	// sync flushes a file, or a directory's entries, to stable storage:
	// (*os.File).Sync, which tests replace to observe it.
	sync func(*os.File) error
	// linked, when set by a test, is called with the name of each entry
	// made, before it is synced.
	linked func(name string)
}

// New opens (creating if needed) the root directory of cfg, and marks it
// as the top of a directory hierarchy where the file system allows (see
// markTopDir).
func New(cfg Config) (*Store, error) {
	if cfg.Root == "" {
		return nil, errors.New("local: LOCAL_STORAGE_PATH is empty")
	}
	if err := os.MkdirAll(cfg.Root, 0o750); err != nil {
		return nil, fmt.Errorf("local: creating LOCAL_STORAGE_PATH: %w", mapError(err))
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("local: opening LOCAL_STORAGE_PATH: %w", mapError(err))
	}
	dir, err := root.Open(".")
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("local: opening LOCAL_STORAGE_PATH: %w", mapError(err))
	}
	markTopDir(dir)
	return &Store{root: root, dir: dir, sync: (*os.File).Sync}, nil
}

// Close releases the root directory and the directories held open.
func (s *Store) Close() error {
	errs := []error{s.dir.Close(), s.root.Close()}
	s.dirs.Range(func(_, d any) bool {
		errs = append(errs, d.(*heldDir).f.Close())
		return true
	})
	return errors.Join(errs...)
}

// copyBufSize is the size of Put's copy buffer: large writes mean few
// system calls per blob, large page-cache folios (see [writeFull]), and on
// Linux writes that bypass the page cache (see directWriter).
const copyBufSize = 1 << 20

// directWrites lets Put write around the page cache where it can (see
// directWriter); benchmarks turn it off to compare.
var directWrites = true

// topDirs is whether New marks the root as the top of a hierarchy (see
// markTopDir); benchmarks turn it off to compare.
var topDirs = true

// copyBufs holds Put's copy buffers, each starting at a 4 KiB boundary,
// as a direct write's buffer must on most file systems.
var copyBufs = sync.Pool{New: func() any {
	b := make([]byte, copyBufSize+4096)
	skip := -int(uintptr(unsafe.Pointer(&b[0]))) & 4095
	b = b[skip : skip+copyBufSize : skip+copyBufSize]
	return &b
}}

// writeFull copies r to f through buf, filling buf before each write: all
// writes but the last are of the whole buffer, at offsets that are its
// multiples, whatever sizes r's reads return. Such writes can bypass the
// page cache (see directWriter); where they do not, the page cache holds
// the file in large folios (ext4 sizes a folio by the write that creates
// it), which a read copies out in far fewer steps than the 4 KiB folios
// that short, unaligned writes leave: an encrypted body's reads return
// one sealed segment (64 KiB and 16 bytes) each, and reading a 1 MiB blob
// written that way back from the page cache took twice the CPU. An error
// of r after some bytes is returned once they are written.
func writeFull(f io.Writer, r io.Reader, buf []byte) error {
	for {
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var m int
			m, err = r.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if _, werr := f.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Put implements [storage.Driver].
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	if err := storage.CheckCall(ctx, key); err != nil {
		return err
	}
	d, f, tmp, err := s.createTemp(path.Dir(key))
	if err != nil {
		return err
	}
	defer d.release()
	defer func() {
		if err != nil {
			f.Close()
			d.remove(tmp)
		}
	}()
	buf := copyBufs.Get().(*[]byte)
	err = writeFull(newFileWriter(f, size), r, *buf)
	copyBufs.Put(buf)
	if err != nil {
		return mapError(err)
	}
	if err := s.sync(f); err != nil {
		return mapError(err)
	}
	if err := f.Close(); err != nil {
		return mapError(err)
	}
	return s.commit(ctx, d, tmp, path.Base(key))
}

// commit renames the durable temporary file tmp of d to name, and makes
// the rename durable. On error the temporary file is the caller's to
// remove, and nothing is readable under name.
func (s *Store) commit(ctx context.Context, d *heldDir, tmp, name string) error {
	return s.publish(ctx, d, name, func() error {
		err := d.at(func(fd int) error { return unix.Renameat(fd, tmp, fd, name) })
		if err != nil {
			return mapError(&os.LinkError{Op: "renameat", Old: tmp, New: name, Err: err})
		}
		return nil
	})
}

// publish creates the entry name of d by calling link, and makes it
// durable, or removes it: the entry may not survive a crash, and an error
// must mean nothing is stored.
//
// Concurrent publishes into one directory share its sync (see dirSync):
// each joins the directory's open sync, whose handle is opened before its
// entry is made, makes its entry, and returns once a sync through that
// handle has returned, with that sync's error. A failure to write the
// directory back after the handle was opened is reported to every handle
// opened before it (the kernel's writeback error counter), so to every
// publish it concerns; the Store's shared handle would report it to one
// only.
func (s *Store) publish(ctx context.Context, d *heldDir, name string, link func() error) error {
	// The last moment a cancellation can still leave nothing behind.
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := d.join()
	if err != nil {
		return err
	}
	linkErr := link()
	if linkErr == nil && s.linked != nil {
		s.linked(name)
	}
	err = s.leave(d, b, linkErr == nil)
	if linkErr != nil {
		return linkErr
	}
	if err != nil {
		d.remove(name)
		return mapError(err)
	}
	return nil
}

// dirSync is one sync of a directory, shared by the publishes whose
// entries it covers (its members). A sync is open to new members only
// while another sync of the directory runs, as a group commit is: the
// members that arrive meanwhile share the next one.
type dirSync struct {
	own     *os.File // opened before any member made its entry
	pending int      // members making their entries
	waiting int      // members whose entries are made, to be synced
	closed  bool     // no member joins any more
	started bool     // a member leads it
	done    chan struct{}
	err     error // set before done is closed
}

// join adds the caller to the directory's open sync, opening a new one
// (and its handle) when none is open. The caller must then make its entry
// and call [Store.leave].
func (d *heldDir) join() (*dirSync, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if b := d.open; b != nil {
		b.pending++
		return b, nil
	}
	var fd int
	err := d.at(func(dfd int) (err error) {
		fd, err = unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, mapError(&os.PathError{Op: "openat", Path: d.f.Name(), Err: err})
	}
	b := &dirSync{own: os.NewFile(uintptr(fd), d.f.Name()), pending: 1, done: make(chan struct{})}
	d.open = b
	return b, nil
}

// leave reports that the caller, a member of b, has made its entry (made
// true) or failed to, and returns once b's sync has returned, with its
// error (at once, with nil, when made is false). The member that finds
// every entry of a closed sync made leads it: it syncs.
func (s *Store) leave(d *heldDir, b *dirSync, made bool) error {
	d.mu.Lock()
	b.pending--
	if made {
		b.waiting++
	}
	if d.open == b && d.syncing == 0 {
		d.open, b.closed = nil, true // no sync runs: this one starts now
	}
	lead := b.closed && b.pending == 0 && !b.started
	if lead {
		b.started = true
		d.syncing++
	}
	d.mu.Unlock()
	if lead {
		s.runSync(d, b)
	} else if made {
		<-b.done
	}
	if !made {
		return nil
	}
	return b.err
}

// runSync runs the sync b, led by the caller, and answers its members.
// The sync that was open meanwhile then closes; if every entry of it is
// made, a goroutine leads it, else its last member to make its entry will.
func (s *Store) runSync(d *heldDir, b *dirSync) {
	if b.waiting > 0 {
		b.err = s.sync(b.own)
	}
	b.own.Close()
	close(b.done)
	d.mu.Lock()
	d.syncing--
	next := d.open
	lead := false
	if next != nil && d.syncing == 0 {
		d.open, next.closed = nil, true
		if lead = next.pending == 0; lead {
			next.started = true
			d.syncing++
		}
	}
	d.mu.Unlock()
	if lead {
		go s.runSync(d, next)
	}
}

// GroupsByDir implements [storage.DirGrouper]: Puts renaming into one
// directory while it is synced share its next sync (see publish), so a
// create whose key shares its directory with the creates around it costs
// a share of one directory sync instead of one of its own.
func (s *Store) GroupsByDir() bool { return true }

// maxHeldDirs bounds the directories a Store holds open: the 256 of the
// service's key layout, and then some. Beyond it each Put opens and closes
// its directory.
const maxHeldDirs = 1024

// heldDir is an open directory of the root that Put writes into: its temporary
// file is created, renamed and the directory synced through the one
// handle, where each of those calls would walk the key's path again
// through the [os.Root]. The handle was opened beneath the root, and the
// names used through it are single path elements (a key's last, or a
// temporary name) created with O_EXCL|O_NOFOLLOW or renamed over, so
// nothing done through it leaves the root.
type heldDir struct {
	f    *os.File
	held bool // kept open by the Store; else closed by release

	mu      sync.Mutex
	open    *dirSync // the sync new entries join, if any (see publish)
	syncing int      // syncs of the directory running
}

// openDir returns the directory dir, created and durable (see mkdirAll),
// open.
func (s *Store) openDir(dir string) (*heldDir, error) {
	if v, ok := s.dirs.Load(dir); ok {
		return v.(*heldDir), nil
	}
	if err := s.mkdirAll(dir); err != nil {
		return nil, err
	}
	f, err := openBeneath(s.dir, dir)
	if errors.Is(err, errors.ErrUnsupported) {
		f, err = s.root.Open(dir)
	}
	if err != nil {
		return nil, mapError(err)
	}
	d := &heldDir{f: f}
	if s.held.Add(1) > maxHeldDirs {
		s.held.Add(-1)
		return d, nil
	}
	d.held = true // before others can see d
	if v, loaded := s.dirs.LoadOrStore(dir, d); loaded {
		s.held.Add(-1)
		f.Close()
		return v.(*heldDir), nil
	}
	return d, nil
}

// forget stops holding d, the directory dir, which has been removed from
// under the Store (by an operator), and closes it: the next Put creates
// the directory again, and a concurrent Put still using d fails (see
// [heldDir.at]) where it would write into the removed directory.
func (s *Store) forget(dir string, d *heldDir) {
	if s.dirs.CompareAndDelete(dir, d) {
		s.held.Add(-1)
		d.f.Close()
	}
	s.durable.Delete(dir)
}

// release closes d unless the Store holds it.
func (d *heldDir) release() {
	if !d.held {
		d.f.Close()
	}
}

// createTemp creates a new temporary file (.tmp-<random>) in the
// directory dir, which it creates if need be, and returns the directory
// open (for the caller to release), the file and its name.
func (s *Store) createTemp(dir string) (*heldDir, *os.File, string, error) {
	name := ".tmp-" + randomSuffix()
	for retried := false; ; {
		d, err := s.openDir(dir)
		if err != nil {
			return nil, nil, "", err
		}
		var fd int
		err = d.at(func(dfd int) (err error) {
			fd, err = unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o640)
			return err
		})
		if err == nil {
			return d, os.NewFile(uintptr(fd), filepath.Join(d.f.Name(), name)), name, nil
		}
		d.release()
		switch {
		case err == unix.EINTR:
			continue
		case (err == unix.ENOENT || errors.Is(err, os.ErrClosed)) && d.held && !retried:
			s.forget(dir, d) // removed (closed: by a concurrent forget): create it again, once
			retried = true
			continue
		}
		return nil, nil, "", mapError(&os.PathError{Op: "openat", Path: path.Join(dir, name), Err: err})
	}
}

// remove removes the entry name of d, if it can.
func (d *heldDir) remove(name string) {
	d.at(func(fd int) error { return unix.Unlinkat(fd, name, 0) })
}

// at calls call with d's descriptor, which stays open until call returns
// (a concurrent Close waits for it); once d is closed, at fails with
// [os.ErrClosed] instead, so a stale handle never names whatever
// directory later reuses its number.
func (d *heldDir) at(call func(fd int) error) error {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return err
	}
	var callErr error
	if err := rc.Control(func(fd uintptr) { callErr = call(int(fd)) }); err != nil {
		return err
	}
	return callErr
}

// mkdirAll creates dir and its missing parents, and makes the new entries
// durable by syncing the parent of every directory it created.
//
// A directory counts as durable only once this process has synced its
// parents: a directory that merely exists may have been created a moment
// ago by a concurrent Put that has not synced them yet.
func (s *Store) mkdirAll(dir string) error {
	if _, ok := s.durable.Load(dir); ok {
		return nil
	}
	if err := s.root.MkdirAll(dir, 0o750); err != nil {
		return mapError(err)
	}
	for d := dir; d != "."; d = path.Dir(d) {
		if err := s.syncDir(path.Dir(d)); err != nil {
			return err
		}
	}
	s.durable.Store(dir, struct{}{})
	return nil
}

// syncDir makes a rename in dir durable.
func (s *Store) syncDir(dir string) error {
	d, err := openBeneath(s.dir, dir)
	if errors.Is(err, errors.ErrUnsupported) {
		d, err = s.root.Open(dir)
	}
	if err != nil {
		return mapError(err)
	}
	defer d.Close()
	return mapError(s.sync(d))
}

// Get implements [storage.Driver]. The reader of a file of at most
// smallFile bytes holds its bytes, read as it was opened (on Linux; see
// openRead); of a larger one, it is the *os.File.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := storage.CheckCall(ctx, key); err != nil {
		return nil, err
	}
	rc, err := openRead(s.dir, key)
	if !errors.Is(err, errors.ErrUnsupported) {
		return rc, mapError(err)
	}
	f, _, err := s.open(key)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// smallFile is the largest file [Store.Get] reads whole as it opens it.
const smallFile = 16 << 10

// smallBufs holds the buffers of wholeFile readers: one byte more than
// smallFile, which shows a file that grew after its size was read.
var smallBufs = sync.Pool{New: func() any { return new([smallFile + 1]byte) }}

// wholeFile is the reader of a small file read whole: its bytes, in a
// pooled buffer that Close returns to the pool.
type wholeFile struct {
	buf  *[smallFile + 1]byte
	data []byte // the bytes not read yet
}

func (w *wholeFile) Read(p []byte) (int, error) {
	switch {
	case w.buf == nil:
		return 0, os.ErrClosed
	case len(w.data) == 0:
		return 0, io.EOF
	}
	n := copy(p, w.data)
	w.data = w.data[n:]
	return n, nil
}

// Close returns the buffer to the pool; the reader no longer reads.
func (w *wholeFile) Close() error {
	if w.buf == nil {
		return os.ErrClosed
	}
	smallBufs.Put(w.buf)
	w.buf, w.data = nil, nil
	return nil
}

// open opens the regular file of key and returns its size.
func (s *Store) open(key string) (*os.File, int64, error) {
	f, err := openBeneath(s.dir, key)
	if errors.Is(err, errors.ErrUnsupported) {
		f, err = s.root.Open(key)
	}
	if err != nil {
		return nil, 0, mapError(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, mapError(err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("not a regular file: %w", storage.ErrNotFound)
	}
	return f, fi.Size(), nil
}

// GetRange implements [storage.RangeReader].
func (s *Store) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := storage.CheckCall(ctx, key); err != nil {
		return nil, err
	}
	f, size, err := s.open(key)
	if err != nil {
		return nil, err
	}
	// Files are never modified in place: an offset past the end reads
	// nothing, and is no offset a file system may refuse to seek to.
	if _, err := f.Seek(min(offset, size), io.SeekStart); err != nil {
		f.Close()
		return nil, mapError(err)
	}
	return &fileRange{LimitedReader: io.LimitedReader{R: f, N: length}, f: f, size: size}, nil
}

var _ storage.Sized = (*fileRange)(nil)

// fileRange reads a range of a file: the file positioned at the range's
// start, limited to its length.
type fileRange struct {
	io.LimitedReader
	f    *os.File
	size int64 // the whole file's, when opened
}

// Size returns the size of the whole file when it was opened.
func (r *fileRange) Size() int64 { return r.size }

// WriteTo hands the *io.LimitedReader over an *os.File to w's ReadFrom when
// w has one: a TCP connection's sends it with sendfile.
func (r *fileRange) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, &r.LimitedReader)
}

// Close closes the file.
func (r *fileRange) Close() error { return r.f.Close() }

// Delete implements [storage.Driver].
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.CheckCall(ctx, key); err != nil {
		return err
	}
	if fi, err := s.root.Lstat(key); err != nil {
		return mapError(err)
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file: %w", storage.ErrNotFound)
	}
	return mapError(s.root.Remove(key))
}

// Exists implements [storage.Driver].
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	if err := storage.CheckCall(ctx, key); err != nil {
		return false, err
	}
	fi, err := s.root.Stat(key)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, mapError(err)
	}
	return fi.Mode().IsRegular(), nil
}

// ListKeys implements [storage.Lister]; see the package documentation.
func (s *Store) ListKeys(ctx context.Context, prefix, startAfter string, limit int) ([]storage.KeyInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l := lister{s: s, ctx: ctx, prefix: prefix, after: startAfter, limit: limit}
	if err := l.walk(""); err != nil && err != errListFull {
		return nil, err
	}
	return l.keys, nil
}

// errListFull stops a walk that has found its limit of keys.
var errListFull = errors.New("local: listing full")

// lister is the state of one ListKeys walk.
type lister struct {
	s      *Store
	ctx    context.Context
	prefix string
	after  string
	limit  int
	keys   []storage.KeyInfo
}

// walk lists the keys under the directory whose keys begin with dirKey
// ("" for the root, else the directory's path and a slash). Entries are
// visited in bytewise key order: a directory sorts by its name followed by
// a slash, the first byte of its keys after the name, so "a-b" and "a.b"
// come before the directory "a" ('-' and '.' sort before '/').
func (l *lister) walk(dirKey string) error {
	if err := l.ctx.Err(); err != nil {
		return err
	}
	dir := strings.TrimSuffix(dirKey, "/")
	if dir == "" {
		dir = "."
	}
	d, err := l.s.root.Open(dir)
	if err != nil {
		if dirKey != "" && errors.Is(err, fs.ErrNotExist) {
			return nil // removed since its parent was read
		}
		return mapError(err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return mapError(err)
	}
	type child struct {
		key string // dirKey + name, and a slash for a directory
		e   fs.DirEntry
	}
	children := make([]child, 0, len(entries))
	for _, e := range entries {
		key := dirKey + e.Name()
		switch {
		case e.IsDir():
			key += "/"
		case !e.Type().IsRegular():
			continue // symbolic links, devices, sockets: never keys
		}
		children = append(children, child{key, e})
	}
	slices.SortFunc(children, func(a, b child) int { return cmp.Compare(a.key, b.key) })
	for _, c := range children {
		if c.key > l.prefix && !strings.HasPrefix(c.key, l.prefix) {
			break // this entry and all after it sort past the prefix
		}
		if !c.e.IsDir() {
			if err := l.add(c.key, c.e); err != nil {
				return err
			}
			continue
		}
		// A directory holds keys with the prefix only when one of the
		// two begins with the other, and keys after startAfter only when
		// it sorts after startAfter or startAfter lies inside it.
		if !strings.HasPrefix(c.key, l.prefix) && !strings.HasPrefix(l.prefix, c.key) {
			continue
		}
		if c.key <= l.after && !strings.HasPrefix(l.after, c.key) {
			continue
		}
		if err := l.walk(c.key); err != nil {
			return err
		}
	}
	return nil
}

// add lists the regular file key when it matches, and reports errListFull
// once the listing has its limit.
func (l *lister) add(key string, e fs.DirEntry) error {
	if key <= l.after || !strings.HasPrefix(key, l.prefix) || storage.ValidateKey(key) != nil {
		return nil
	}
	fi, err := e.Info()
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed since the directory was read
	}
	if err != nil {
		return mapError(err)
	}
	l.keys = append(l.keys, storage.KeyInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
	if len(l.keys) == l.limit {
		return errListFull
	}
	return nil
}

// mapError maps file-system errors onto the storage sentinels. It is the one
// place where native errors are classified.
func mapError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%w: %w", storage.ErrNotFound, err)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: %w", storage.ErrInsufficientStorage, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("permission denied: check the owner and mode of LOCAL_STORAGE_PATH: %w", err)
	}
	return err
}

func randomSuffix() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
