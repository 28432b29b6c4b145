package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
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
	// without a byte arriving, or a response without a piece of at most
	// [progressChunk] bytes leaving, before the connection is cut
	// (HTTP_IDLE_BODY_TIMEOUT). A transfer that keeps moving is never cut,
	// however long it takes.
	IdleBodyTimeout time.Duration
}

// Guard wraps next, the [API], with the transport limits of l:
//
//   - progress deadlines: each Read of the request body, and each piece
//     of at most progressChunk bytes of each Write of the response, renews
//     the connection's read or write deadline to now + l.IdleBodyTimeout,
//     and a body read that times out answers 408. However large a
//     handler's writes, a response is cut only when a reader takes longer
//     than the timeout to accept progressChunk bytes;
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
		pw := &progressWriter{ResponseWriter: w, rc: rc, idle: l.IdleBodyTimeout, body: pr}
		pw.renew()
		defer func() {
			// What net/http does after the handler, flushing the response
			// and discarding an unread body, is bounded by the same timeout.
			pw.renew()
			pr.bound()
		}()
		next.ServeHTTP(pw, r)
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

// progressChunk is the most a response write sends under one write
// deadline: a reader slower than progressChunk bytes per idle timeout
// (1 KiB/s at the default 30 s) is cut, a faster one never is.
const progressChunk = 32 << 10

// progressWriter renews the connection's write deadline before each piece
// of at most progressChunk bytes of the response: the deadline bounds one
// piece, never a whole write of unknown size. A write may make net/http
// discard an unread body first, so it bounds that read too.
type progressWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
	body *progressReader // nil without a body
}

func (p *progressWriter) renew() {
	p.rc.SetWriteDeadline(time.Now().Add(p.idle))
	p.body.bound()
}

func (p *progressWriter) WriteHeader(status int) {
	p.renew()
	p.ResponseWriter.WriteHeader(status)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	written := 0
	for {
		piece := b[:min(len(b), progressChunk)]
		p.renew()
		n, err := p.ResponseWriter.Write(piece)
		written += n
		b = b[len(piece):]
		if err != nil || len(b) == 0 {
			return written, err
		}
	}
}

// ReadFrom sends a range of a file (an *io.LimitedReader) through the
// response's own ReadFrom, which net/http turns into sendfile on a TCP
// connection, in pieces of at most progressChunk bytes, each under a
// renewed write deadline as Write's pieces are: sendfile keeps the
// promise that a moving transfer is never cut and a stalled one is.
// Another source is copied through Write.
func (p *progressWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := p.ResponseWriter.(io.ReaderFrom)
	lr, isRange := src.(*io.LimitedReader)
	if !ok || !isRange {
		return io.Copy(writerOnly{p}, src)
	}
	piece := &io.LimitedReader{R: lr.R}
	var sent int64
	for lr.N > 0 {
		piece.N = min(lr.N, progressChunk)
		p.renew()
		n, err := rf.ReadFrom(piece)
		lr.N -= n
		sent += n
		if err != nil || n == 0 {
			return sent, err
		}
	}
	return sent, nil
}

// Unwrap lets http.ResponseController reach the connection.
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
