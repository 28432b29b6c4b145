// Package storage is the contract between the blob service and the places
// where blob bytes live.
//
// It holds only the [Backend] interface, the sentinel errors every backend
// wraps, and the key rules every backend enforces. It imports nothing else of
// Simple Drive, so backends (local, sqlstore, s3, ftp, memory) depend on it
// and never on each other.
//
// # Keys
//
// Keys are made by the blob service, never taken from clients. A key is a
// slash-separated relative path of at most [MaxKeyLen] bytes; each segment is
// 1 to 255 bytes of ASCII letters, digits, '.', '_' or '-', and is neither
// "." nor "..". [ValidateKey] enforces this; every backend calls it before
// touching its medium, so a bad key can never name anything outside the
// backend's space.
//
// # Errors
//
// Backends wrap [ErrNotFound], [ErrInvalidKey], [ErrUnavailable] and
// [ErrInsufficientStorage] with %w, adding the operation and key, and map
// their native errors onto them in one place. Callers test with errors.Is.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Backend stores immutable byte strings under keys.
//
// Implementations are safe for concurrent use by multiple goroutines.
type Backend interface {
	// Put stores exactly size bytes read from r under key. It is atomic:
	// when Put returns an error, nothing new is readable under key, whether
	// r failed, r yielded a different number of bytes than size, ctx was
	// cancelled or the medium failed. Put reads r once, sequentially, and
	// never after it returns. The service never reuses a key, so a Put over
	// an existing key is outside the contract.
	Put(ctx context.Context, key string, r io.Reader, size int64) error

	// Get opens the bytes stored under key. The caller must close the
	// returned reader. A missing key gives an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, error)

	// Delete removes key. A missing key gives an error wrapping ErrNotFound.
	Delete(ctx context.Context, key string) error

	// Exists reports whether key holds bytes.
	Exists(ctx context.Context, key string) (bool, error)
}

// Sentinel errors. Backends wrap them; callers test with errors.Is.
var (
	// ErrNotFound means no bytes are stored under the key.
	ErrNotFound = errors.New("storage: key not found")
	// ErrInvalidKey means the key breaks the rules of [ValidateKey].
	ErrInvalidKey = errors.New("storage: invalid key")
	// ErrUnavailable means the medium cannot be reached now (network,
	// server down, timeout); the same call may succeed later.
	ErrUnavailable = errors.New("storage: backend unavailable")
	// ErrInsufficientStorage means the medium is full or a quota is spent.
	ErrInsufficientStorage = errors.New("storage: insufficient storage")
)

// MaxKeyLen is the longest valid key, in bytes.
const MaxKeyLen = 1024

// maxSegmentLen is the longest valid path segment of a key, in bytes; it is
// the file-name limit of common file systems.
const maxSegmentLen = 255

// ValidateKey returns an error wrapping [ErrInvalidKey] unless key follows
// the key rules in the package documentation.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, MaxKeyLen)
	}
	start := 0
	for i := 0; i <= len(key); i++ {
		if i < len(key) && key[i] != '/' {
			if !keyByte(key[i]) {
				return fmt.Errorf("%w: byte %#x at offset %d is not allowed", ErrInvalidKey, key[i], i)
			}
			continue
		}
		seg := key[start:i]
		switch {
		case seg == "":
			return fmt.Errorf("%w: empty path segment at offset %d", ErrInvalidKey, start)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w: %q path segment", ErrInvalidKey, seg)
		case len(seg) > maxSegmentLen:
			return fmt.Errorf("%w: path segment longer than %d bytes", ErrInvalidKey, maxSegmentLen)
		}
		start = i + 1
	}
	return nil
}

func keyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}
