// Package storage is the contract between the blob service and the places
// where blob bytes live.
//
// It holds the [Driver] interface backends implement, the optional abilities
// they may add ([RangeReader], [Lister], [Buffering], [Composer]), the sentinel errors every driver
// wraps, the key rules, and [Bucket]: the one wrapper through which the
// service reaches a driver, which owns what every backend would otherwise
// repeat (key validation, context checks, the exact-size check, error
// wrapping). It imports nothing else of Simple Drive, so backends (local,
// sqlstore, s3, ftp, memory) depend on it and never on each other.
//
// # Keys
//
// Keys are made by the blob service, never taken from clients. A key is a
// slash-separated relative path of at most [MaxKeyLen] bytes; each segment is
// 1 to 255 bytes of ASCII letters, digits, '.', '_' or '-', and is neither
// "." nor "..". [ValidateKey] enforces this; the [Bucket] calls it, and
// every driver calls it again before it touches its medium, so a bad key
// can never name anything outside the backend's space.
//
// # Errors
//
// Drivers wrap [ErrNotFound], [ErrUnavailable] and [ErrInsufficientStorage]
// with %w, mapping their native errors onto them in one place; the [Bucket]
// adds the backend, operation and key, and reports bad keys with
// [ErrInvalidKey] and wrong sizes with [ErrSizeMismatch]. Callers test with
// errors.Is.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Driver stores immutable byte strings under keys: the medium-specific work
// of a backend, and nothing else. The service never calls a Driver
// directly: it goes through a [Bucket], which validates keys, checks the
// context, enforces the exact size of a Put and wraps errors with the
// backend, operation and key before and after every call. A Driver still
// refuses an invalid key and an ended context itself ([CheckCall]) before
// it touches its medium or reads a Put's bytes, so no caller can reach the
// medium with either, and a cancelled Delete removes nothing.
//
// Implementations are safe for concurrent use by multiple goroutines, and
// map their native errors onto the sentinels of this package in one place.
type Driver interface {
	// Put stores the bytes read from r under key. The Bucket hands it a
	// reader that yields exactly size bytes and then io.EOF, or fails; a
	// size of -1 means unknown (a chunked upload): Put stores what r yields
	// until io.EOF, holding no more than a fixed buffer in memory, or the
	// buffer it declares through [Buffering]. Put
	// is atomic: when it returns an error, nothing new is readable under
	// key, whether r failed, ctx was cancelled or the medium failed. Put
	// reads r once, sequentially, and never after it returns. The service
	// never reuses a key, so a Put over an existing key is outside the
	// contract.
	Put(ctx context.Context, key string, r io.Reader, size int64) error

	// Get opens the bytes stored under key. The caller must close the
	// returned reader. A missing key gives an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, error)

	// Delete removes key. A missing key gives an error wrapping ErrNotFound.
	Delete(ctx context.Context, key string) error

	// Exists reports whether key holds bytes.
	Exists(ctx context.Context, key string) (bool, error)
}

// RangeReader is the optional ability of a [Driver] to read part of a blob
// without reading what comes before it (a seek, a Range header, REST).
type RangeReader interface {
	// GetRange opens length bytes stored under key from offset on. The
	// Bucket guarantees offset >= 0 and length >= 0; the range may reach
	// past the end of the blob, in which case the reader ends with it. The
	// caller must close the reader. A missing key gives an error wrapping
	// ErrNotFound.
	GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}

// Lister is the optional ability of a [Driver] to enumerate its keys, which
// garbage collection and consistency checks need.
type Lister interface {
	// ListKeys returns up to limit keys that start with prefix and sort
	// after startAfter ("" for the first page), in ascending bytewise
	// order. Fewer than limit keys means the listing is complete. The Bucket
	// guarantees limit > 0. A listing may include the temporary objects of
	// writes in progress, or of writes a crash interrupted, when their names
	// are valid keys: collecting those is the point of listing.
	ListKeys(ctx context.Context, prefix, startAfter string, limit int) ([]KeyInfo, error)
}

// DirGrouper is the optional ability of a [Driver] whose concurrent Puts
// under one directory (keys that share everything before their last
// slash) share work that Puts in different directories each do alone: a
// local file system's directory sync. A service that makes its own keys
// should then give the keys of uploads made at about the same time one
// directory (see [Bucket.GroupsByDir]).
type DirGrouper interface {
	// GroupsByDir reports whether the driver's Puts share work so.
	GroupsByDir() bool
}

// KeyInfo describes one stored key.
type KeyInfo struct {
	// Key is the key.
	Key string
	// Size is the number of bytes stored under it.
	Size int64
	// ModTime is when the bytes were stored, as the medium records it.
	ModTime time.Time
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
	// ErrSizeMismatch means a Put's reader yielded more or fewer bytes than
	// the size it was given.
	ErrSizeMismatch = errors.New("storage: size mismatch")
)

// CheckCall returns the error a call on key under ctx fails with before it
// touches the medium: one wrapping [ErrInvalidKey] for a key [ValidateKey]
// refuses, else ctx.Err(). The [Bucket] and every driver call it first.
func CheckCall(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	return ctx.Err()
}

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
