package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage/ctxio"
)

// Bucket is the service's handle on one backend: it wraps a [Driver] and
// owns what every backend would otherwise repeat. Before a call reaches the
// driver, the Bucket validates the key and checks the context; around a Put
// it reserves the memory the driver holds (see [Bucket.SetMemory]), enforces
// the exact size and stops reading once the context ends; after
// the call it wraps any error with the backend's name, the operation and
// the key. Optional abilities the driver lacks are provided generically
// where they can be ([Bucket.GetRange]) and reported as
// [errors.ErrUnsupported] where they cannot ([Bucket.ListKeys]).
//
// A Bucket is safe for concurrent use when its driver is. Every call it
// makes to the driver is reported to its [Observer], if any.
type Bucket struct {
	name string
	drv  Driver
	obs  Observer
	mem  Memory // nil: Puts reserve nothing
}

// Observer is told of every call a [Bucket] makes to its driver: the
// backend's name, the operation ("put", "get", "get_range", "delete",
// "exists", "list", "compose"), the error it returned (nil on success) and how long
// it took. For get and get_range that is the time to open the bytes, not
// to read them. Implementations must be safe for concurrent use and quick:
// they run on the request's path.
type Observer interface {
	ObserveBackend(backend, op string, err error, d time.Duration)
}

// SetObserver makes b report its driver calls to o. Call it before b is
// used.
func (b *Bucket) SetObserver(o Observer) { b.obs = o }

// observe reports a driver call that started at start.
func (b *Bucket) observe(op string, start time.Time, err error) {
	if b.obs != nil {
		b.obs.ObserveBackend(b.name, op, err, time.Since(start))
	}
}

// NewBucket returns a Bucket over d; name (the STORAGE_BACKEND value)
// prefixes every error.
func NewBucket(name string, d Driver) *Bucket {
	return &Bucket{name: name, drv: d}
}

// Name returns the backend's name.
func (b *Bucket) Name() string { return b.name }

// GroupsByDir reports whether concurrent Puts into one directory share
// work on the driver (see [DirGrouper]); false when it does not say.
func (b *Bucket) GroupsByDir() bool {
	g, ok := b.drv.(DirGrouper)
	return ok && g.GroupsByDir()
}

// Put stores exactly size bytes read from r under key, atomically: on error
// nothing new is readable under key. A reader that yields fewer or more
// than size bytes fails the Put with [ErrSizeMismatch]. A negative size
// means unknown: Put stores whatever r yields up to io.EOF. The memory the
// driver holds is reserved first (see [Bucket.SetMemory]); when it does
// not fit, Put fails with [ErrBusy].
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := CheckCall(ctx, key); err != nil {
		return b.wrap("put", key, err)
	}
	if size < 0 {
		size = -1
	}
	res, err := b.reserve(size)
	if err != nil {
		return b.wrap("put", key, err)
	}
	defer res.release()
	r = res.reader(ctxio.Reader(ctx, r))
	if size >= 0 {
		r = &exactReader{r: r, left: size, size: size}
	}
	start := time.Now()
	err = b.drv.Put(ctx, key, r, size)
	if err != nil && res != nil && res.short {
		err = res.busy() // whatever the driver made of the failed read
	}
	b.observe("put", start, err)
	return b.wrap("put", key, err)
}

// Get opens the bytes stored under key; the caller must close the reader.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := CheckCall(ctx, key); err != nil {
		return nil, b.wrap("get", key, err)
	}
	release, err := b.reserveGet()
	if err != nil {
		return nil, b.wrap("get", key, err)
	}
	start := time.Now()
	rc, err := b.drv.Get(ctx, key)
	b.observe("get", start, err)
	rc, err = releasing(rc, err, release)
	return rc, b.wrap("get", key, err)
}

// GetRange opens length bytes stored under key from offset on; length < 0
// means up to the end. A range past the end of the blob ends with it. The
// driver's [RangeReader] serves it when it has one; otherwise the bytes
// before offset are read and discarded.
func (b *Bucket) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := CheckCall(ctx, key); err != nil {
		return nil, b.wrap("get range", key, err)
	}
	if offset < 0 {
		return nil, b.wrap("get range", key, fmt.Errorf("storage: negative offset %d", offset))
	}
	release, err := b.reserveGet()
	if err != nil {
		return nil, b.wrap("get range", key, err)
	}
	rc, err := b.getRange(ctx, key, offset, length)
	rc, err = releasing(rc, err, release)
	return rc, b.wrap("get range", key, err)
}

func (b *Bucket) getRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	start := time.Now()
	if rr, ok := b.drv.(RangeReader); ok {
		if length < 0 {
			length = 1<<63 - 1 - offset
		}
		rc, err := rr.GetRange(ctx, key, offset, length)
		b.observe("get_range", start, err)
		return rc, err
	}
	rc, err := b.drv.Get(ctx, key)
	b.observe("get_range", start, err)
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, rc, offset); err != nil && err != io.EOF {
		rc.Close()
		return nil, err
	}
	if length < 0 {
		return rc, nil
	}
	return readCloser{io.LimitReader(rc, length), rc}, nil
}

// Delete removes key.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := CheckCall(ctx, key); err != nil {
		return b.wrap("delete", key, err)
	}
	start := time.Now()
	err := b.drv.Delete(ctx, key)
	b.observe("delete", start, err)
	return b.wrap("delete", key, err)
}

// Exists reports whether key holds bytes.
func (b *Bucket) Exists(ctx context.Context, key string) (bool, error) {
	if err := CheckCall(ctx, key); err != nil {
		return false, b.wrap("exists", key, err)
	}
	start := time.Now()
	ok, err := b.drv.Exists(ctx, key)
	b.observe("exists", start, err)
	return ok, b.wrap("exists", key, err)
}

// ListKeys returns up to limit keys that start with prefix and sort after
// startAfter, in ascending bytewise order; fewer than limit means the
// listing is complete. A driver without [Lister] gives
// [errors.ErrUnsupported].
func (b *Bucket) ListKeys(ctx context.Context, prefix, startAfter string, limit int) ([]KeyInfo, error) {
	l, ok := b.drv.(Lister)
	switch {
	case !ok:
		return nil, b.wrap("list", prefix, errors.ErrUnsupported)
	case limit <= 0:
		return nil, b.wrap("list", prefix, fmt.Errorf("storage: limit %d is not positive", limit))
	}
	if err := ctx.Err(); err != nil {
		return nil, b.wrap("list", prefix, err)
	}
	start := time.Now()
	keys, err := l.ListKeys(ctx, prefix, startAfter, limit)
	b.observe("list", start, err)
	return keys, b.wrap("list", prefix, err)
}

// Close releases the driver's resources when it holds any.
func (b *Bucket) Close() error {
	if c, ok := b.drv.(io.Closer); ok {
		return b.wrap("close", "", c.Close())
	}
	return nil
}

// wrap names the backend, operation and key in err; nil stays nil.
func (b *Bucket) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %s %q: %w", b.name, op, key, err)
}

// exactReader yields the bytes of r and fails with [ErrSizeMismatch] unless
// they number exactly size. It reports io.EOF only after r has: once size
// bytes are delivered it reads ahead for the end, so a driver that reads
// exactly size bytes still learns of a longer stream before it commits.
type exactReader struct {
	r          io.Reader
	left, size int64
	err        error // sticky
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		return 0, e.atEnd()
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case err == io.EOF && e.left > 0:
		e.err = fmt.Errorf("%w: read %d bytes, want %d", ErrSizeMismatch, e.size-e.left, e.size)
	case err != nil:
		e.err = err
	case e.left == 0:
		e.err = e.atEnd()
	}
	if e.err == io.EOF && n > 0 {
		return n, nil // the next Read reports io.EOF
	}
	return n, e.err
}

// atEnd reads ahead once size bytes are delivered: io.EOF if r ends there.
func (e *exactReader) atEnd() error {
	var probe [1]byte
	for {
		n, err := e.r.Read(probe[:])
		switch {
		case n > 0:
			e.err = fmt.Errorf("%w: more than %d bytes", ErrSizeMismatch, e.size)
		case err != nil:
			e.err = err
		default:
			continue // (0, nil): read again
		}
		return e.err
	}
}

// readCloser pairs a reader with the closer of what it reads from.
type readCloser struct {
	io.Reader
	io.Closer
}
