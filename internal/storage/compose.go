package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Composer is the optional ability of a [Driver] to store, under a new
// key, the concatenation of blobs it already holds without the bytes
// passing through the service: a hard link or an in-kernel copy of files,
// an in-database copy of rows, a server-side multipart copy. Resumable
// uploads assemble their parts with it, and S3 multipart uploads their
// parts.
type Composer interface {
	// Compose stores under dst the bytes stored under parts, in order,
	// which must total size bytes. It is atomic like Put: when it returns
	// an error, nothing new is readable under dst; when it returns nil,
	// dst holds all of the bytes, durably as a Put's. The parts are left
	// untouched whatever the outcome: they stay readable, and the caller
	// deletes them when it no longer needs them.
	//
	// The Bucket guarantees valid keys, at least one part, dst not among
	// the parts, and size >= 0. A missing part gives an error wrapping
	// ErrNotFound; parts that do not total size bytes give one wrapping
	// ErrSizeMismatch. A driver that cannot compose these particular
	// parts (S3 parts under its 5 MiB minimum) returns an error wrapping
	// [errors.ErrUnsupported] before it stores anything: the Bucket then
	// streams the parts itself.
	Compose(ctx context.Context, dst string, parts []string, size int64) error
}

// Compose stores under dst the concatenation of the bytes stored under
// parts, which must total size bytes, atomically like [Bucket.Put]: on
// error nothing new is readable under dst. The parts stay untouched and
// readable whatever the outcome; the caller deletes them. The driver's
// [Composer] does the work when it has one (without the bytes passing
// through this process, where the medium allows); otherwise, or when it
// declines these parts, the Bucket streams them into a Put of dst, one
// part open at a time, so memory stays bounded by the Put's buffer.
// Parts that do not total size bytes fail with [ErrSizeMismatch], a
// missing part with [ErrNotFound].
func (b *Bucket) Compose(ctx context.Context, dst string, parts []string, size int64) error {
	if err := CheckCall(ctx, dst); err != nil {
		return b.wrap("compose", dst, err)
	}
	for _, p := range parts {
		if err := ValidateKey(p); err != nil {
			return b.wrap("compose", dst, fmt.Errorf("part %q: %w", p, err))
		}
		if p == dst {
			return b.wrap("compose", dst, errors.New("storage: the destination is among the parts"))
		}
	}
	if size < 0 {
		return b.wrap("compose", dst, fmt.Errorf("storage: negative size %d", size))
	}
	if c, ok := b.drv.(Composer); ok && len(parts) > 0 {
		start := time.Now()
		err := c.Compose(ctx, dst, parts, size)
		b.observe("compose", start, err)
		if !errors.Is(err, errors.ErrUnsupported) {
			return b.wrap("compose", dst, err)
		}
	}
	r := Concat(ctx, b.drv, parts, size)
	defer r.Close()
	return b.Put(ctx, dst, r, size)
}

// Concat returns a reader of the bytes stored under parts in d, in order,
// with one part open at a time: what a driver that cannot compose on its
// medium streams into the Put of the composed key. Unless size is
// negative, it fails with an error wrapping [ErrSizeMismatch] unless the
// parts total size bytes (before reporting io.EOF, so a Put of what it
// yields stores nothing). It names the part it cannot open. Closing it
// closes the open part.
func Concat(ctx context.Context, d Driver, parts []string, size int64) io.ReadCloser {
	c := Chain(len(parts), func(i int) (io.ReadCloser, error) {
		rc, err := d.Get(ctx, parts[i])
		if err != nil {
			return nil, fmt.Errorf("part %q: %w", parts[i], err)
		}
		return rc, nil
	})
	if size < 0 {
		return c
	}
	return &sizedReader{ReadCloser: c, left: size, size: size}
}

// sizedReader fails its reads with [ErrSizeMismatch] as soon as what it
// reads passes size bytes, or when it ends short of them.
type sizedReader struct {
	io.ReadCloser
	left, size int64
}

func (r *sizedReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if r.left -= int64(n); r.left < 0 {
		return 0, fmt.Errorf("%w: the parts hold more than %d bytes", ErrSizeMismatch, r.size)
	}
	if err == io.EOF && r.left != 0 {
		return 0, fmt.Errorf("%w: the parts hold %d bytes, want %d", ErrSizeMismatch, r.size-r.left, r.size)
	}
	return n, err
}

// Chain returns a reader of the n readers open(0) to open(n-1), in order,
// with one open at a time: each is opened once the one before it has
// ended, and closed then. An error of open ends the chain's reads with it.
// Closing the chain closes the reader open.
func Chain(n int, open func(i int) (io.ReadCloser, error)) io.ReadCloser {
	return &chain{n: n, open: open}
}

// chain is the reader of [Chain].
type chain struct {
	n, next int
	open    func(i int) (io.ReadCloser, error)
	cur     io.ReadCloser
}

func (r *chain) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if r.next == r.n {
				return 0, io.EOF
			}
			rc, err := r.open(r.next)
			if err != nil {
				return 0, err
			}
			r.cur = rc
			r.next++
		}
		n, err := r.cur.Read(p)
		if err == io.EOF {
			r.cur.Close()
			r.cur = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// Close closes the reader open.
func (r *chain) Close() error {
	if r.cur != nil {
		return r.cur.Close()
	}
	return nil
}
