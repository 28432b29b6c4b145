// Package memory is a [storage.Backend] that keeps bytes in process memory.
//
// It exists for fast unit tests of the service; nothing survives the
// process. Put reads the whole blob before publishing it, so readers see all
// of a blob or none of it.
package memory

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/ctxio"
)

var _ storage.Backend = (*Store)(nil)

// Store is an in-memory [storage.Backend]. The zero value is not ready for
// use; call [New].
type Store struct {
	mu    sync.RWMutex
	blobs map[string][]byte
}

// New returns an empty Store.
func New() *Store {
	return &Store{blobs: make(map[string][]byte)}
}

// Put implements [storage.Backend].
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := storage.ValidateKey(key); err != nil {
		return fmt.Errorf("memory: put %q: %w", key, err)
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(ctxio.Reader(ctx, r), size+1))
	if err != nil {
		return fmt.Errorf("memory: put %q: %w", key, err)
	}
	if n != size {
		return fmt.Errorf("memory: put %q: read %d bytes, want %d", key, n, size)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: put %q: %w", key, err)
	}
	s.mu.Lock()
	s.blobs[key] = buf.Bytes()
	s.mu.Unlock()
	return nil
}

// Get implements [storage.Backend].
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := storage.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("memory: get %q: %w", key, err)
	}
	s.mu.RLock()
	b, ok := s.blobs[key]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("memory: get %q: %w", key, storage.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// Delete implements [storage.Backend].
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.ValidateKey(key); err != nil {
		return fmt.Errorf("memory: delete %q: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.blobs[key]; !ok {
		return fmt.Errorf("memory: delete %q: %w", key, storage.ErrNotFound)
	}
	delete(s.blobs, key)
	return nil
}

// Exists implements [storage.Backend].
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	if err := storage.ValidateKey(key); err != nil {
		return false, fmt.Errorf("memory: exists %q: %w", key, err)
	}
	s.mu.RLock()
	_, ok := s.blobs[key]
	s.mu.RUnlock()
	return ok, nil
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

// Len returns the number of stored keys; tests use it to prove that failed
// writes leave nothing behind.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.blobs)
}
