// Package local is a [storage.Driver] that keeps each blob in a file under
// one root directory.
//
// # Layout
//
// A key is a relative slash-separated path (the service shards keys as
// ab/cd/abcd...), stored as the file root/ab/cd/abcd...; sub-directories are
// created as needed.
//
// # Guarantees
//
//   - Atomic, durable writes: Put writes a temporary file in the target
//     directory, fsyncs it, renames it over the final name and fsyncs the
//     directory (and the parents of directories it had to create), so after
//     a crash a key holds all of its bytes or nothing, and a Put that
//     returned nil survives. The temporary file is removed on every failure
//     path.
//   - Confinement: every operation goes through an [os.Root], so no key, and
//     no symbolic link planted inside the root, can reach a file outside it.
//   - Concurrency: readers open files that are never modified in place, so
//     concurrent Puts and Gets are safe.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"
	"syscall"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/ctxio"
)

var _ storage.Driver = (*Store)(nil)

// Config configures a [Store].
type Config struct {
	// Root is the directory that holds every blob; it is created if missing.
	Root string
}

// Store is a [storage.Driver] on the local file system.
type Store struct {
	root    *os.Root
	durable sync.Map // directories whose entries are synced: string -> struct{}
}

// New opens (creating if needed) the root directory of cfg.
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
	return &Store{root: root}, nil
}

// Close releases the root directory.
func (s *Store) Close() error { return s.root.Close() }

// Put implements [storage.Driver].
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := s.put(ctx, key, r, size); err != nil {
		return fmt.Errorf("local: put %q: %w", key, err)
	}
	return nil
}

func (s *Store) put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := path.Dir(key)
	if err := s.mkdirAll(dir); err != nil {
		return err
	}
	tmp := path.Join(dir, ".tmp-"+randomSuffix())
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return mapError(err)
	}
	defer func() {
		if err != nil {
			f.Close()
			s.root.Remove(tmp)
		}
	}()
	n, err := io.Copy(f, io.LimitReader(ctxio.Reader(ctx, r), size+1))
	if err != nil {
		return mapError(err)
	}
	if n != size {
		return fmt.Errorf("read %d bytes, want %d", n, size)
	}
	if err := f.Sync(); err != nil {
		return mapError(err)
	}
	if err := f.Close(); err != nil {
		return mapError(err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.root.Rename(tmp, key); err != nil {
		return mapError(err)
	}
	if err := s.syncDir(dir); err != nil {
		// The rename may not survive a crash: take it back, so that an
		// error means nothing is stored.
		s.root.Remove(key)
		return err
	}
	return nil
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
	d, err := s.root.Open(dir)
	if err != nil {
		return mapError(err)
	}
	defer d.Close()
	return mapError(d.Sync())
}

// Get implements [storage.Driver].
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := storage.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("local: get %q: %w", key, err)
	}
	f, err := s.root.Open(key)
	if err != nil {
		return nil, fmt.Errorf("local: get %q: %w", key, mapError(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("local: get %q: %w", key, mapError(err))
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("local: get %q: not a regular file: %w", key, storage.ErrNotFound)
	}
	return f, nil
}

// Delete implements [storage.Driver].
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.ValidateKey(key); err != nil {
		return fmt.Errorf("local: delete %q: %w", key, err)
	}
	if fi, err := s.root.Lstat(key); err != nil {
		return fmt.Errorf("local: delete %q: %w", key, mapError(err))
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("local: delete %q: not a regular file: %w", key, storage.ErrNotFound)
	}
	if err := s.root.Remove(key); err != nil {
		return fmt.Errorf("local: delete %q: %w", key, mapError(err))
	}
	return nil
}

// Exists implements [storage.Driver].
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	if err := storage.ValidateKey(key); err != nil {
		return false, fmt.Errorf("local: exists %q: %w", key, err)
	}
	fi, err := s.root.Stat(key)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("local: exists %q: %w", key, mapError(err))
	}
	return fi.Mode().IsRegular(), nil
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
