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
	key    string // object name in the bucket; "" for the bucket itself
	query  string // raw query, escaped
	body   []byte
}

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
	err := s.retry(ctx, func() error {
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
	err := s.retry(ctx, func() error {
		var err error
		resp, err = s.attempt(ctx, c)
		return err
	})
	return resp, err
}

// retry runs fn until it succeeds, fails for good, ctx ends or the retries
// are spent, sleeping a jittered exponential backoff between attempts.
func (s *Store) retry(ctx context.Context, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || attempt == s.maxRetries || ctx.Err() != nil || !retryable(err) {
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
// function and, for a write (c.body != nil), its commit function.
//
// A read follows ctx throughout. A write follows ctx only until commit is
// called, just before the last byte of its body is handed to the
// transport: from then on the server may be storing the bytes, and cutting
// the request off would leave unknown whether it did, so the attempt waits
// for its answer, still bounded by the watchdog. commit reports false, on
// every call, when ctx ended first; the write must then not be completed.
func requestContext(ctx context.Context, c call) (context.Context, context.CancelCauseFunc, func() bool) {
	if c.body == nil {
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

// objectReader is the reader Get returns: its errors name the key.
type objectReader struct {
	rc  io.ReadCloser
	key string
}

func (r *objectReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		err = wrap("get", r.key, err)
	}
	return n, err
}

// Close ends the download.
func (r *objectReader) Close() error { return r.rc.Close() }
