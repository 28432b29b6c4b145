package ftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/jlaffaye/ftp"

	"github.com/simpledrive/simpledrive/internal/storage"
)

// errReaderClosed is what a reader returns after Close.
var errReaderClosed = errors.New("ftp: reader closed")

// readAheadChunk is the first allocation of a Get's read-ahead buffer,
// which grows as bytes arrive, never from a size the server claims.
const readAheadChunk = 32 << 10

// open starts the transfer of key's file from offset on (REST when offset
// is not zero) and returns a reader of length bytes of it, or of the rest
// of the file when length is negative.
//
// A control connection carries one transfer at a time, so a reader that
// streams holds a pooled connection, and slow readers could take them all.
// Two things bound that. open reads up to cfg.GetBufferBytes ahead: a blob
// (or range) that fits is returned from memory, its connection already
// back in the pool. A reader that streams loses its connection, and fails
// with [storage.ErrUnavailable], when it goes cfg.Timeout without a Read.
func (s *Store) open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	p := s.path(key)
	for attempt := 0; ; attempt++ {
		l, err := s.acquire(ctx)
		if err != nil {
			return nil, mapErr(ctx, err)
		}
		var resp *ftp.Response
		if offset > 0 {
			resp, err = l.c.sc.RetrFrom(p, uint64(offset))
		} else {
			resp, err = l.c.sc.Retr(p)
		}
		if err == nil {
			return s.newReader(ctx, l, resp, length)
		}
		if hasCode(err, codeFileUnavailable) {
			err = s.notFound(l.c, p, err)
		}
		if !s.release(l, err, always) || attempt >= s.cfg.MaxConns {
			return nil, mapErr(ctx, err)
		}
	}
}

// newReader reads ahead what fits in cfg.GetBufferBytes and returns the
// bytes from memory when that was all of them, else a streaming reader.
func (s *Store) newReader(ctx context.Context, l *lease, resp *ftp.Response, length int64) (io.ReadCloser, error) {
	r := &reader{s: s, ctx: ctx, l: l, resp: resp, left: length}
	if limit := s.cfg.GetBufferBytes; limit > 0 {
		// One byte more than the limit tells a blob of exactly limit
		// bytes, which ends there, from a larger one.
		limit++
		var buf []byte
		for r.err == nil && int64(len(buf)) < limit {
			if len(buf) == cap(buf) {
				grow := min(max(readAheadChunk, int64(len(buf))), limit-int64(len(buf)))
				if r.left > 0 {
					grow = min(grow, r.left)
				}
				buf = slices.Grow(buf, int(grow))
			}
			n, _ := r.fill(buf[len(buf):min(int64(cap(buf)), limit)])
			buf = buf[:len(buf)+n]
		}
		switch {
		case r.err == io.EOF:
			return io.NopCloser(bytes.NewReader(buf)), nil
		case r.err != nil:
			return nil, r.err
		}
		r.buf = buf
	}
	r.arm()
	return r, nil
}

// reader streams one transfer and holds its connection until the end of
// the transfer, Close, or cfg.Timeout without a Read, whichever comes
// first. It reports io.EOF only after the server confirmed the whole
// transfer, or once a range has all its bytes.
type reader struct {
	s    *Store
	ctx  context.Context
	l    *lease
	resp *ftp.Response
	left int64  // bytes still to deliver from the transfer; negative: all
	buf  []byte // bytes read ahead, delivered first

	mu    sync.Mutex
	timer stopper // the idle timer, while the caller is not reading
	err   error   // sticky: io.EOF or the first failure
	done  bool    // the connection went back to the pool
}

// Read delivers the bytes read ahead, then reads the transfer.
func (r *reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.disarm() {
		r.expire() // the idle timer fired and waits for the lock
	}
	defer r.arm()
	if len(r.buf) > 0 {
		n := copy(p, r.buf)
		r.buf = r.buf[n:]
		return n, nil
	}
	if r.err != nil {
		return 0, r.err
	}
	return r.fill(p)
}

// fill reads the transfer into p; at the end of the data it waits for the
// server's confirmation that the transfer was complete, and at the end of
// a range it cuts the transfer short.
func (r *reader) fill(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.left == 0 {
		r.err = io.EOF
		r.finish(false)
		return 0, r.err
	}
	if r.left > 0 && int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.resp.Read(p)
	if r.left > 0 {
		r.left -= int64(n)
	}
	switch {
	case err == io.EOF:
		r.err = io.EOF
		if err := r.finish(true); err != nil {
			r.err = mapErr(r.ctx, incomplete(fmt.Errorf("transfer not confirmed: %w", err)))
		}
	case err != nil:
		r.err = mapErr(r.ctx, incomplete(err))
		r.finish(false)
	case r.left == 0:
		r.err = io.EOF
		r.finish(false)
	}
	if r.err == io.EOF && n > 0 {
		return n, nil // the next Read reports io.EOF
	}
	return n, r.err
}

// Close ends the transfer and returns the connection to the pool.
func (r *reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.disarm()
	if r.err == nil {
		r.err = errReaderClosed
	}
	r.buf = nil
	r.finish(false)
	return nil
}

// arm starts the idle timer while the reader holds a connection.
func (r *reader) arm() {
	if !r.done && r.timer == nil {
		r.timer = r.s.afterFunc(r.s.cfg.Timeout, r.idle)
	}
}

// disarm stops the idle timer; it reports false when the timer fired.
func (r *reader) disarm() bool {
	t := r.timer
	r.timer = nil
	return t == nil || t.Stop()
}

// idle runs when the caller has not read for cfg.Timeout.
func (r *reader) idle() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire()
}

// expire takes the connection from a reader that was not read for
// cfg.Timeout: it is closed, since its transfer is in an unknown state,
// and its slot goes back to the pool, for requests that are waiting.
func (r *reader) expire() {
	if r.done {
		return
	}
	r.done = true
	if r.err == nil {
		r.err = fmt.Errorf("%w: the reader was idle for longer than FTP_TIMEOUT (%v), so its connection was taken back", storage.ErrUnavailable, r.s.cfg.Timeout)
	}
	r.l.c.interrupt()
	r.s.release(r.l, r.err, never)
}

// finish closes the data connection, reads the server's reply and releases
// the connection, once. A transfer cut short (complete false) gets the
// server's reply to the cut, which may be an error, so the connection is
// probed before its next use.
func (r *reader) finish(complete bool) error {
	if r.done {
		return nil
	}
	r.done = true
	err := r.resp.Close()
	if !complete {
		r.l.c.probe = true
	}
	r.s.release(r.l, err, never)
	return err
}
