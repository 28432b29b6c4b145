package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/simpledrive/simpledrive/internal/sigv4"
)

// call is one S3 API request.
type call struct {
	method string
	key    string      // object name in the bucket; "" for the bucket itself
	query  string      // raw query, escaped
	header http.Header // headers to sign and send besides the signer's
	body   []byte      // a write's whole body, or nil
	stream *stream     // a write's body streamed once, or nil
}

// write reports whether c sends a body.
func (c call) write() bool { return c.body != nil || c.stream != nil }

// retriable reports whether c may be sent again: a streamed body can be
// sent only once it has been read from.
func (c call) retriable() bool { return c.stream == nil || !c.stream.touched() }

// maxResponseBody bounds the bytes read from a response that is not an
// object (error documents, multipart results).
const maxResponseBody = 1 << 20

// result is a response read in full.
type result struct {
	header http.Header
	body   []byte
}

// exec sends c, retrying transient failures, and reads the whole response,
// which must be small. A 200 response carrying an S3 error document (as
// CompleteMultipartUpload may send) is an error.
func (s *Store) exec(ctx context.Context, c call) (result, error) {
	var res result
	err := s.retry(ctx, c, func() error {
		resp, err := s.attempt(ctx, c)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
		if err != nil {
			return err
		}
		if apiErr := parseErrorDocument(resp.StatusCode, body); apiErr != nil {
			return apiErr
		}
		res = result{header: resp.Header, body: body}
		return nil
	})
	return res, err
}

// open sends c, retrying transient failures until the response starts, and
// returns the response with its body still streaming.
func (s *Store) open(ctx context.Context, c call) (*http.Response, error) {
	var resp *http.Response
	err := s.retry(ctx, c, func() error {
		var err error
		resp, err = s.attempt(ctx, c)
		return err
	})
	return resp, err
}

// retry runs fn, an attempt at c, until it succeeds, fails for good, ctx
// ends, the retries are spent or c cannot be sent again, sleeping a
// jittered exponential backoff between attempts.
func (s *Store) retry(ctx context.Context, c call, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || attempt == s.maxRetries || ctx.Err() != nil || !retryable(err) || !c.retriable() {
			if ctxErr := ctx.Err(); ctxErr != nil && err != nil {
				return ctxErr // the caller gave up; that is the error, not its symptoms
			}
			return err
		}
		if err := sleep(ctx, s.backoff(attempt)); err != nil {
			return err
		}
	}
}

// backoff returns the pause before retry number attempt+1: an "equal
// jitter" exponential delay.
func (s *Store) backoff(attempt int) time.Duration {
	d := min(s.retryDelay<<attempt, maxRetryDelay)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// errStalled is the cause of a request cancelled by its watchdog.
var errStalled = errors.New("no progress within the timeout")

// transportError is a request that got no HTTP response: refused, reset or
// dropped connection, DNS failure, timeout.
type transportError struct {
	err error
}

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// attempt sends c once. On success the caller owns resp.Body; any status
// other than 2xx is returned as an [*apiError].
func (s *Store) attempt(ctx context.Context, c call) (*http.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	reqCtx, cancel, commit := requestContext(ctx, c)
	if c.body != nil && len(c.body) == 0 && !commit() {
		// A write without a body is whole once its headers are sent.
		cancel(nil)
		return nil, ctx.Err()
	}
	wd := newWatchdog(s.timeout, func() { cancel(errStalled) })
	req, err := s.newRequest(reqCtx, c, wd, commit)
	if err != nil {
		wd.stop()
		cancel(nil)
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		wd.stop()
		defer cancel(nil)
		if c.stream != nil {
			if srcErr := c.stream.failure(); srcErr != nil {
				return nil, srcErr // the caller's reader failed, not the network
			}
		}
		return nil, transportFailure(ctx, reqCtx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer cancel(nil)
		defer wd.stop()
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
		return nil, newAPIError(resp.StatusCode, body)
	}
	wd.stop()
	resp.Body = &responseBody{rc: resp.Body, wd: wd, cancel: cancel, parent: ctx, reqCtx: reqCtx}
	return resp, nil
}

// requestContext returns the context of one attempt at c, its cancel
// function and, for a write, its commit function.
//
// A read follows ctx throughout. A write follows ctx only until commit is
// called, just before the last byte of its body is handed to the
// transport: from then on the server may be storing the bytes, and cutting
// the request off would leave unknown whether it did, so the attempt waits
// for its answer, still bounded by the watchdog. commit reports false, on
// every call, when ctx ended first; the write must then not be completed.
func requestContext(ctx context.Context, c call) (context.Context, context.CancelCauseFunc, func() bool) {
	if !c.write() {
		reqCtx, cancel := context.WithCancelCause(ctx)
		return reqCtx, cancel, nil
	}
	reqCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	detach := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	release := func(cause error) {
		detach()
		cancel(cause)
	}
	return reqCtx, release, sync.OnceValue(detach)
}

// transportFailure tells the caller's cancellation from a stall or a
// network failure.
func transportFailure(parent, reqCtx context.Context, err error) error {
	if parent.Err() != nil {
		return parent.Err()
	}
	if errors.Is(context.Cause(reqCtx), errStalled) {
		return &transportError{errStalled}
	}
	return &transportError{err}
}

// newRequest builds and signs the HTTP request of c.
// A write's body calls commit, when not nil, before it yields its last
// byte (see requestContext).
func (s *Store) newRequest(ctx context.Context, c call, wd *watchdog, commit func() bool) (*http.Request, error) {
	u := s.url(c.key)
	u.RawQuery = c.query
	req, err := http.NewRequestWithContext(ctx, c.method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.URL = u // keep Path exactly as built; the signer derives RawPath
	for name, values := range c.header {
		req.Header[name] = values
	}
	if c.stream != nil {
		return req, s.signStreamed(req, c.stream, wd, commit)
	}
	payloadHash := sigv4.EmptyPayloadHash
	if c.body != nil {
		payloadHash = sigv4.PayloadHash(c.body)
		req.ContentLength = int64(len(c.body))
		req.Body = bodyReader(c.body, wd, commit)
		req.GetBody = func() (io.ReadCloser, error) { return bodyReader(c.body, wd, commit), nil }
		if len(c.body) == 0 {
			req.Body = http.NoBody
		}
	}
	if err := s.signer.Sign(req, payloadHash, time.Now()); err != nil {
		return nil, err
	}
	return req, nil
}

// url returns the URL of an object, or of the bucket when key is "".
func (s *Store) url(key string) *url.URL {
	u := *s.base
	if s.pathStyle {
		u.Path = "/" + s.bucket
		if key != "" {
			u.Path += "/" + key
		}
		return &u
	}
	u.Host = s.bucket + "." + u.Host
	u.Path = "/" + key
	return &u
}

// watchdog cancels a request that makes no progress for its timeout.
type watchdog struct {
	d time.Duration
	t *time.Timer
}

func newWatchdog(d time.Duration, cancel func()) *watchdog {
	return &watchdog{d: d, t: time.AfterFunc(d, cancel)}
}

// kick restarts the countdown.
func (w *watchdog) kick() { w.t.Reset(w.d) }

// stop halts the countdown.
func (w *watchdog) stop() { w.t.Stop() }

// errNotCommitted fails the read of a write's last bytes when the caller
// cancelled the write before it was whole.
var errNotCommitted = errors.New("request cancelled before its body was sent whole")

// progressReader kicks the watchdog on every read of an upload body and
// calls commit, when not nil, before it yields the body's last byte.
type progressReader struct {
	r      *bytes.Reader
	wd     *watchdog
	commit func() bool
}

func (p *progressReader) Read(b []byte) (int, error) {
	p.wd.kick()
	if left := p.r.Len(); p.commit != nil && left > 0 && len(b) >= left && !p.commit() {
		return 0, errNotCommitted
	}
	return p.r.Read(b)
}

// responseBody is a response body that stays streaming after attempt
// returns. The watchdog runs only while a Read waits on the network, so a
// slow consumer is not a stall; read errors are classified like request
// errors.
type responseBody struct {
	rc     io.ReadCloser
	wd     *watchdog
	cancel context.CancelCauseFunc
	parent context.Context
	reqCtx context.Context

	once sync.Once
}

func (b *responseBody) Read(p []byte) (int, error) {
	b.wd.kick()
	n, err := b.rc.Read(p)
	b.wd.stop()
	if err != nil && err != io.EOF {
		err = transportFailure(b.parent, b.reqCtx, err)
	}
	return n, err
}

// Close ends the transfer and frees the connection.
func (b *responseBody) Close() error {
	var err error
	b.once.Do(func() {
		b.wd.stop()
		err = b.rc.Close()
		b.cancel(nil)
	})
	return err
}

// objectReader is the reader Get and GetRange return: it reads r, or rc
// when r is nil, and maps errors onto the storage sentinels.
type objectReader struct {
	rc io.ReadCloser
	r  io.Reader
}

func (r *objectReader) Read(p []byte) (int, error) {
	var n int
	var err error
	if r.r != nil {
		n, err = r.r.Read(p)
	} else {
		n, err = r.rc.Read(p)
	}
	if err != nil && err != io.EOF {
		err = mapErr(err)
	}
	return n, err
}

// Close ends the download.
func (r *objectReader) Close() error { return r.rc.Close() }

// bodyReader is the request body of a buffered upload: it tells the
// watchdog about progress and calls commit, when not nil, before its last
// byte.
func bodyReader(b []byte, wd *watchdog, commit func() bool) io.ReadCloser {
	return io.NopCloser(&progressReader{r: bytes.NewReader(b), wd: wd, commit: commit})
}

// signStreamed signs req for the streamed body src and sets it as req's
// body, in signed aws-chunked encoding, declaring src.size as its decoded
// length. Every read of src kicks the watchdog, so a slow source is
// progress too; once src.size bytes are read (and, when src.whole, the
// reader found to end there), the body asks commit, when not nil, before
// its final chunk.
func (s *Store) signStreamed(req *http.Request, src *stream, wd *watchdog, commit func() bool) error {
	src.attach(wd)
	body, err := s.signer.SignStreaming(req, src, src.size, streamChunkSize, time.Now())
	if err != nil {
		return err
	}
	body.BeforeFinal = func() error {
		if src.whole {
			if err := src.end(); err != nil {
				return err
			}
		}
		if commit != nil && !commit() {
			return errNotCommitted
		}
		return nil
	}
	req.Body = io.NopCloser(&kickReader{r: body, wd: wd})
	return nil
}

// kickReader kicks the watchdog on every read.
type kickReader struct {
	r  io.Reader
	wd *watchdog
}

func (k *kickReader) Read(p []byte) (int, error) {
	k.wd.kick()
	return k.r.Read(p)
}

// errStreamClosed fails a read of a streamed body after its Put returned:
// net/http may still write a request body after the response arrived.
var errStreamClosed = errors.New("upload over: the body is no longer read")

// stream is the body of a streamed upload: size bytes of the caller's
// reader, read once. The transport reads it on a goroutine of its own,
// which may outlive the request; close stops it, and waits for a read in
// progress, so the caller's reader is never read after Put returns, nor
// by one part's request once the next part is sent.
type stream struct {
	r     io.Reader
	size  int64
	whole bool // r ends after size bytes (a PUT, or a blob's last part)

	mu     sync.Mutex // held during every read of r
	read   bool       // r has been read from
	err    error      // the first failure of r
	wd     *watchdog  // of the current attempt
	closed bool
}

func (s *stream) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errStreamClosed
	}
	s.read = true
	n, err := s.r.Read(p)
	if s.wd != nil {
		s.wd.kick()
	}
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// end reads the end of r after its size bytes: the Bucket's reader reports
// there a stream longer than declared.
func (s *stream) end() error {
	err := atEOF(s)
	if err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
	}
	return err
}

// attach makes reads kick wd, the watchdog of a new attempt.
func (s *stream) attach(wd *watchdog) {
	s.mu.Lock()
	s.wd = wd
	s.mu.Unlock()
}

// touched reports whether r has been read from.
func (s *stream) touched() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read
}

// failure returns the first error of r, if any.
func (s *stream) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// close ends every read of r, waiting for one in progress.
func (s *stream) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}
