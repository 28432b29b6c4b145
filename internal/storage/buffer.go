package storage

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// Buffering is the optional ability of a [Driver] whose Put holds blob
// bytes in memory, beyond a fixed amount per call, to say how many: the
// [Bucket] reserves them from its [Memory] before the driver holds them.
type Buffering interface {
	// PutBuffer describes what a Put of size bytes (-1: unknown) holds in
	// memory beyond a fixed amount per call. It must not understate: the
	// Bucket reserves no more than it says.
	PutBuffer(size int64) Buffer
}

// Buffer is what one Put of a [Buffering] driver holds in memory.
type Buffer struct {
	// Bytes is the most it holds; zero means only a fixed amount.
	Bytes int64
	// After is how many bytes of the blob Put reads before it holds
	// Bytes: a blob of at most After bytes holds none of them. Zero means
	// from the start, before the first byte is read.
	After int64
}

// GetBuffering is the optional ability of a [Driver] whose readers (of
// Get, and of GetRange if it is a [RangeReader]) hold a buffer of their own
// to say how large: the [Bucket] reserves it from its [Memory] before
// opening the reader and releases it when the reader is closed.
type GetBuffering interface {
	// GetBuffer is the most bytes one open reader holds. It must not
	// understate.
	GetBuffer() int64
}

// reserveGet reserves from b's Memory the buffer of one reader of b's
// driver, and returns what releases it (once), nil when nothing is
// reserved. It fails with [ErrBusy] when the buffer does not fit now.
func (b *Bucket) reserveGet() (release func(), err error) {
	d, ok := b.drv.(GetBuffering)
	if !ok || b.mem == nil || d.GetBuffer() <= 0 {
		return nil, nil
	}
	n := d.GetBuffer()
	if !b.mem.TryAcquire(n) {
		return nil, fmt.Errorf("%w: a reader holds %d bytes, which do not fit now", ErrBusy, n)
	}
	var once sync.Once
	return func() { once.Do(func() { b.mem.Release(n) }) }, nil
}

// releasing returns rc, closing which also calls release, unless release
// is nil; on err it calls release at once.
func releasing(rc io.ReadCloser, err error, release func()) (io.ReadCloser, error) {
	switch {
	case release == nil:
		return rc, err
	case err != nil:
		release()
		return nil, err
	}
	return releasingReader{rc, release}, nil
}

// releasingReader is a reader whose Close also releases its reservation.
type releasingReader struct {
	io.ReadCloser
	release func()
}

func (r releasingReader) Close() error {
	defer r.release()
	return r.ReadCloser.Close()
}

// Memory is a budget of bytes that many Puts share (MAX_INFLIGHT_BYTES);
// see [Bucket.SetMemory]. Implementations are safe for concurrent use.
type Memory interface {
	// TryAcquire reserves n bytes, or reports false, reserving nothing,
	// when they do not fit now. It never waits.
	TryAcquire(n int64) bool
	// Release returns n bytes reserved by TryAcquire.
	Release(n int64)
}

// ErrBusy means a Put needed more memory than the Bucket's [Memory] had
// free; nothing was stored, and the same call may succeed later.
var ErrBusy = errors.New("storage: memory budget exhausted")

// SetMemory makes b reserve from m the memory its driver's Puts hold (see
// [Buffering]) before the driver holds it, and release it when the Put
// returns; likewise the buffer of each open reader (see [GetBuffering]),
// until it is closed, a Get or GetRange that does not fit failing with
// [ErrBusy] at once. A Put whose bytes do not fit fails with [ErrBusy]: at once when
// the driver holds them from the start, or when the blob's bytes pass
// [Buffer.After], before the driver has read the byte that would make it
// buffer. Call it before b is used; without it, Puts reserve nothing.
func (b *Bucket) SetMemory(m Memory) { b.mem = m }

// PutBuffer returns how many bytes a Put of size bytes (-1: unknown) holds
// in memory beyond a fixed amount per call: zero for drivers that stream.
func (b *Bucket) PutBuffer(size int64) int64 {
	return b.putBuffer(size).Bytes
}

func (b *Bucket) putBuffer(size int64) Buffer {
	if d, ok := b.drv.(Buffering); ok {
		return d.PutBuffer(size)
	}
	return Buffer{}
}

// reservation is the memory one Put reserves from a Bucket's Memory.
type reservation struct {
	mem   Memory
	buf   Buffer
	held  bool
	short bool // a reservation did not fit
}

// reserve prepares the reservation of a Put of size bytes, taking it now
// when the driver buffers from the start. It fails with [ErrBusy] when that
// does not fit.
func (b *Bucket) reserve(size int64) (*reservation, error) {
	buf := b.putBuffer(size)
	if b.mem == nil || buf.Bytes <= 0 || size >= 0 && size <= buf.After && buf.After > 0 {
		return nil, nil
	}
	res := &reservation{mem: b.mem, buf: buf}
	if buf.After == 0 && !res.take() {
		return nil, res.busy()
	}
	return res, nil
}

// take reserves the buffer, once: it reports false, now and after, when
// it did not fit.
func (r *reservation) take() bool {
	if !r.held && !r.short {
		r.held = r.mem.TryAcquire(r.buf.Bytes)
		r.short = !r.held
	}
	return r.held
}

func (r *reservation) busy() error {
	return fmt.Errorf("%w: a put holds %d bytes, which do not fit now", ErrBusy, r.buf.Bytes)
}

// release returns what was reserved; a nil reservation is none.
func (r *reservation) release() {
	if r != nil && r.held {
		r.mem.Release(r.buf.Bytes)
		r.held = false
	}
}

// reader returns r, reading through the reservation when it is taken
// lazily: the reader reserves before it yields byte After+1.
func (r *reservation) reader(src io.Reader) io.Reader {
	if r == nil || r.held {
		return src
	}
	return &reservingReader{r: src, res: r, left: r.buf.After}
}

// reservingReader yields the bytes of r. Once r has yielded more than
// left bytes, it takes the reservation before it hands them on, failing
// with [ErrBusy] when that does not fit: a blob of at most left bytes
// reserves nothing.
type reservingReader struct {
	r    io.Reader
	res  *reservation
	left int64 // negative once past
}

func (rr *reservingReader) Read(p []byte) (int, error) {
	if rr.left > 0 && int64(len(p)) > rr.left {
		p = p[:rr.left]
	}
	n, err := rr.r.Read(p)
	rr.left -= int64(n)
	if rr.left < 0 && !rr.res.take() {
		return 0, rr.res.busy()
	}
	return n, err
}
