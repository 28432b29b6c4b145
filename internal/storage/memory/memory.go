// Package memory is a [storage.Driver] that keeps bytes in process memory.
//
// It exists for fast unit tests of the service; nothing survives the
// process. Put reads the whole blob before publishing it, so readers see all
// of a blob or none of it.
package memory

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage"
)

var (
	_ storage.Driver      = (*Store)(nil)
	_ storage.RangeReader = (*Store)(nil)
	_ storage.Lister      = (*Store)(nil)
)

// Store is an in-memory [storage.Driver]. The zero value is not ready for
// use; call [New].
type Store struct {
	mu    sync.RWMutex
	blobs map[string]object
}

type object struct {
	data    []byte
	modTime time.Time
}

// New returns an empty Store.
func New() *Store {
	return &Store{blobs: make(map[string]object)}
}

// Put implements [storage.Driver].
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := storage.CheckCall(ctx, key); err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.blobs[key] = object{data: buf.Bytes(), modTime: time.Now()}
	s.mu.Unlock()
	return nil
}

// Get implements [storage.Driver].
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.GetRange(ctx, key, 0, 1<<62)
}

// GetRange implements [storage.RangeReader].
func (s *Store) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := storage.CheckCall(ctx, key); err != nil {
		return nil, err
	}
	s.mu.RLock()
	o, ok := s.blobs[key]
	s.mu.RUnlock()
	if !ok {
		return nil, storage.ErrNotFound
	}
	data := o.data[min(offset, int64(len(o.data))):]
	return io.NopCloser(bytes.NewReader(data[:min(length, int64(len(data)))])), nil
}

// Delete implements [storage.Driver].
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.CheckCall(ctx, key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.blobs[key]; !ok {
		return storage.ErrNotFound
	}
	delete(s.blobs, key)
	return nil
}

// Exists implements [storage.Driver].
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	if err := storage.CheckCall(ctx, key); err != nil {
		return false, err
	}
	s.mu.RLock()
	_, ok := s.blobs[key]
	s.mu.RUnlock()
	return ok, nil
}

// ListKeys implements [storage.Lister].
func (s *Store) ListKeys(ctx context.Context, prefix, startAfter string, limit int) ([]storage.KeyInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var keys []storage.KeyInfo
	for k, o := range s.blobs {
		if strings.HasPrefix(k, prefix) && k > startAfter {
			keys = append(keys, storage.KeyInfo{Key: k, Size: int64(len(o.data)), ModTime: o.modTime})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(keys, func(a, b storage.KeyInfo) int { return strings.Compare(a.Key, b.Key) })
	return keys[:min(limit, len(keys))], nil
}

// Len returns the number of stored keys; tests use it to prove that failed
// writes leave nothing behind.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.blobs)
}

// Keys returns the stored keys, in no particular order.
func (s *Store) Keys() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]string, 0, len(s.blobs))
	for k := range s.blobs {
		keys = append(keys, k)
	}
	return keys
}
