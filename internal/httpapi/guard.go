package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/simpledrive/simpledrive/internal/httpx"
)

// Limits are the transport limits [Guard] enforces.
type Limits struct {
	// Inflight, when not nil, bounds the bytes every upload served under the
	// guard may hold at once (MAX_INFLIGHT_BYTES). An upload that does not
	// fit is answered 503 with Retry-After before its body is read.
	Inflight *Budget
	// IdleBodyTimeout, when positive, is how long a request body may go
	// without a byte arriving, or a response without its reader taking a
	// byte while the handler waits to write, before the connection is cut
	// (HTTP_IDLE_BODY_TIMEOUT). A transfer that keeps moving is never cut,
	// however long it takes.
	IdleBodyTimeout time.Duration
}

// Guard wraps next, the [API], with the transport limits of l:
//
//   - progress deadlines: each Read of the request body renews the
//     connection's read deadline to now + l.IdleBodyTimeout, and a body
//     read that times out answers 408. The response's writes, however
//     large, run under a [stallWatch]: a response is cut only when a write
//     waits while the reader acknowledges no byte for the timeout (noticed
//     within a further half of it). Serve it with [ConnContext] as the
//     server's ConnContext hook, so that it sees the reader's progress;
//     after the handler, what net/http still writes and reads is bounded by
//     the timeout as a deadline;
//   - the in-flight byte budget, consulted by the upload handler;
//   - a request with a chunked body is answered with Connection: close.
//     net/http removes a Content-Length sent beside Transfer-Encoding:
//     chunked before any handler runs, so such a request (RFC 9112 section
//     6.3: a possible smuggling attempt) cannot be told from a plain chunked
//     one; closing after every chunked request guarantees that nothing
//     pipelined behind it is served.
func Guard(next http.Handler, l Limits) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
		}
		// Always a copy of r: net/http must find its own Body in the
		// original (see API.ServeHTTP).
		ctx := r.Context()
		if l.Inflight != nil {
			ctx = withBudget(ctx, l.Inflight)
		}
		r = r.WithContext(ctx)
		if l.IdleBodyTimeout <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		var pr *progressReader
		if r.Body != nil && r.Body != http.NoBody {
			pr = &progressReader{ReadCloser: r.Body, rc: rc, idle: l.IdleBodyTimeout}
			r.Body = pr
		}
		watch := &stallWatch{conn: connFrom(ctx), rc: rc, idle: l.IdleBodyTimeout}
		pw := &progressWriter{ResponseWriter: w, watch: watch, body: pr}
		// The deadline a previous request on the connection left.
		rc.SetWriteDeadline(time.Time{})
		defer func() {
			watch.stop()
			// What net/http does after the handler, flushing the response
			// and discarding an unread body, is bounded by the timeout.
			rc.SetWriteDeadline(time.Now().Add(l.IdleBodyTimeout))
			pr.bound()
		}()
		next.ServeHTTP(pw, r)
		if pw.written > bufferedBeforeHeader {
			// The response's head is decided: what net/http still holds
			// goes out under the watch, so a slow reader is not cut by
			// the deadline above when the send buffer is full.
			watch.begin()
			rc.Flush()
			watch.end(0)
		}
	})
}

// progressReader renews the connection's read deadline before each Read of
// a request body, and reports a Read that timed out as errBodyTimeout
// (answered 408, whichever layer returns it). It clears the deadline once
// the body has ended at EOF: net/http then reads
// in the background to notice a client leaving, and a deadline hit there
// would cancel the request's context while the handler is still working.
type progressReader struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	done bool
}

func (p *progressReader) Read(b []byte) (int, error) {
	if p.done {
		return p.ReadCloser.Read(b)
	}
	p.rc.SetReadDeadline(time.Now().Add(p.idle))
	n, err := p.ReadCloser.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("%w: %w", httpx.ErrBodyTimeout, err)
	}
	if err != nil {
		p.done = true
		if err == io.EOF {
			p.rc.SetReadDeadline(time.Time{})
		}
		// Otherwise the deadline stays: net/http may still try to discard
		// the rest of a broken body before answering, and must not wait.
	}
	return n, err
}

// bound limits what net/http may spend reading an unfinished body after
// the handler has answered (it discards up to 256 KiB to keep the
// connection) to one idle timeout.
func (p *progressReader) bound() {
	if p != nil && !p.done {
		p.rc.SetReadDeadline(time.Now().Add(p.idle))
	}
}

// bufferedBeforeHeader is how much of a body net/http holds before it
// decides the response's head (its bufferBeforeChunkingSize): a flush
// before the handler returns would make a smaller body chunked.
const bufferedBeforeHeader = 2048

// progressWriter is the response writer of a request under [Guard]: its
// writes run under a [stallWatch], and a write may make net/http discard
// an unread body first, so it bounds that read too.
type progressWriter struct {
	http.ResponseWriter
	watch   *stallWatch
	body    *progressReader // nil without a body
	written int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	if p.written+int64(len(b)) <= bufferedBeforeHeader {
		// net/http keeps these bytes in its buffer, touching neither the
		// connection nor the unread body: the write cannot wait for the
		// reader. A response that ends within them goes out after the
		// handler, bounded by the deadline Guard sets then.
		n, err := p.ResponseWriter.Write(b)
		p.written += int64(n)
		return n, err
	}
	p.body.bound()
	p.watch.begin()
	n, err := p.ResponseWriter.Write(b)
	p.watch.end(n)
	p.written += int64(n)
	return n, err
}

// ReadFrom sends a range of a file (an *io.LimitedReader) through the
// response's own ReadFrom, which net/http turns into sendfile on a TCP
// connection, under the stall watch as a write is. Another source is
// copied through Write, so that the time spent reading it is never taken
// for a stalled reader.
func (p *progressWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := p.ResponseWriter.(io.ReaderFrom)
	if _, isRange := src.(*io.LimitedReader); !ok || !isRange {
		return io.Copy(writerOnly{p}, src)
	}
	p.body.bound()
	p.watch.begin()
	n, err := rf.ReadFrom(src)
	p.watch.end(int(n))
	p.written += n
	return n, err
}

// stallWatch cuts a response whose reader has stopped taking its bytes.
// While a write of the response is in progress, a check every quarter of
// idle reads the connection's progress: the bytes its peer has
// acknowledged (TCP_INFO, on Linux, when [ConnContext] recorded the
// connection), or else the bytes the response's writes completed. When a
// write has been in progress and the progress has not moved for idle, it
// expires the connection's write deadline, which fails the blocked write.
// A write that starts after a pause restarts the clock, so time the
// handler spends on its own work is never taken for a stall. The checks
// cost nothing until a response has taken a quarter of idle, so a fast
// response pays only for arming a timer, and one that net/http buffers
// whole (at most bufferedBeforeHeader bytes) not even that.
type stallWatch struct {
	conn syscall.RawConn // nil: progress is the bytes written
	rc   *http.ResponseController
	idle time.Duration

	mu       sync.Mutex
	timer    *time.Timer
	writing  int
	written  uint64
	progress uint64    // at the last check
	moved    time.Time // when progress last moved, or a write began after none
	done     bool
}

func (s *stallWatch) begin() {
	s.mu.Lock()
	if s.writing == 0 {
		s.moved = time.Now()
	}
	s.writing++
	if s.timer == nil && !s.done {
		s.timer = time.AfterFunc(s.idle/4, s.check)
	}
	s.mu.Unlock()
}

func (s *stallWatch) end(n int) {
	s.mu.Lock()
	s.writing--
	s.written += uint64(n)
	s.mu.Unlock()
}

func (s *stallWatch) check() {
	p, ok := acked(s.conn)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	if !ok {
		p = s.written
	}
	now := time.Now()
	switch {
	case p != s.progress:
		s.progress, s.moved = p, now
	case s.writing > 0 && now.Sub(s.moved) >= s.idle:
		s.rc.SetWriteDeadline(now) // the blocked write fails
		return
	}
	s.timer.Reset(s.idle / 4)
}

// stop ends the watch: no check runs or cuts after it returns.
func (s *stallWatch) stop() {
	s.mu.Lock()
	s.done = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
}

// Unwrap lets http.ResponseController reach the connection.
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
