package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// TusVersion is the tus protocol version the client speaks.
const TusVersion = "1.0.0"

// uploadsPath is where the server takes tus uploads.
const uploadsPath = "/v1/uploads/"

// Upload describes a resumable upload of a file.
type Upload struct {
	// ID is the blob's id; ContentType its media type ("" for the
	// server's default).
	ID, ContentType string
	// File holds the Size bytes to upload, read from offset 0.
	File io.ReaderAt
	Size int64
	// SHA256, when set, is the digest of the bytes: the blob the server
	// made is checked against it at the end.
	SHA256 []byte
	// State remembers the upload's URL under StateKey, so a later run can
	// resume it; nil remembers nothing.
	State    *FileState
	StateKey string
	// ChunkSize is the most bytes one PATCH sends; 0 sends all the bytes
	// left in one PATCH, as tus-js-client does by default: the server
	// keeps what arrived of a PATCH cut short (on every backend but s3,
	// where a cut PATCH keeps nothing), the upload goes on from there, and
	// a blob sent in one PATCH is made without copying its bytes again.
	ChunkSize int64
	// Retries is how many failures in a row, without progress between
	// them, are retried with backoff before giving up (default 8).
	Retries int
	// Progress, when set, is called with the number of bytes sent so far,
	// which may go back when a write is lost and resent.
	Progress func(sent int64)
}

// UploadResult tells what [Client.Upload] did.
type UploadResult struct {
	Blob Blob
	// ResumedAt is the offset an upload remembered from an earlier run
	// was resumed at; -1 when the upload started afresh.
	ResumedAt int64
	// Sent counts the bytes this call sent in PATCH bodies.
	Sent int64
}

// Upload stores u's bytes as a blob with the tus 1.0.0 protocol: it
// creates an upload (or takes up the one remembered in u.State), sends
// the bytes in PATCHes of u.ChunkSize (all in one by default), and after a network failure or a
// 503 asks the server for the offset (HEAD) and goes on from there, with
// exponential backoff. The remembered URL is forgotten once the blob
// exists or the server no longer knows the upload.
func (c *Client) Upload(ctx context.Context, u Upload) (UploadResult, error) {
	res := UploadResult{ResumedAt: -1}
	if u.ChunkSize <= 0 {
		u.ChunkSize = u.Size
	}
	if u.Retries <= 0 {
		u.Retries = 8
	}
	if u.Progress == nil {
		u.Progress = func(int64) {}
	}
	r := retrier{max: u.Retries}

	location, offset := "", int64(0)
	if u.State != nil {
		if loc, ok := u.State.Load(u.StateKey); ok {
			for {
				off, err := c.uploadOffset(ctx, loc)
				if err == nil {
					location, offset, res.ResumedAt = loc, off, off
					break
				}
				if !Retryable(err) || !r.wait(ctx, err) {
					if s := StatusOf(err); s == http.StatusNotFound || s == http.StatusGone || s == http.StatusForbidden {
						u.State.Remove(u.StateKey) // expired or gone: start afresh
						break
					}
					return res, err
				}
			}
		}
	}
	if location == "" {
		for {
			loc, err := c.createUpload(ctx, u)
			if err == nil {
				location = loc
				break
			}
			if !Retryable(err) || !r.wait(ctx, err) {
				return res, err
			}
		}
		if u.State != nil {
			if err := u.State.Save(u.StateKey, location); err != nil {
				return res, err
			}
		}
	}
	r.reset()

	for offset < u.Size {
		u.Progress(offset)
		n := min(u.ChunkSize, u.Size-offset)
		body := newPatchBody(u.File, offset, n, u.Progress)
		next, err := c.patchUpload(ctx, location, offset, body, n)
		res.Sent += body.done()
		if err == nil {
			offset = next
			r.reset()
			continue
		}
		if StatusOf(err) == http.StatusConflict && !isBlobExists(err) {
			// Our idea of the offset is wrong (a write whose answer was
			// lost landed): ask.
		} else if !Retryable(err) || !r.wait(ctx, err) {
			return res, err
		}
		for {
			off, herr := c.uploadOffset(ctx, location)
			if herr == nil {
				offset = off
				break
			}
			if !Retryable(herr) || !r.wait(ctx, herr) {
				return res, herr
			}
		}
	}
	u.Progress(offset)

	// The upload is complete: the blob exists.
	var b Blob
	for {
		var err error
		b, err = c.Stat(ctx, u.ID)
		if err == nil {
			break
		}
		if !Retryable(err) || !r.wait(ctx, err) {
			return res, fmt.Errorf("client: the upload of %q completed, but reading its blob: %w", u.ID, err)
		}
	}
	if u.State != nil {
		u.State.Remove(u.StateKey)
	}
	res.Blob = b
	if u.SHA256 != nil && b.SHA256 != hex.EncodeToString(u.SHA256) {
		return res, fmt.Errorf("client: blob %q has SHA-256 %s on the server, but the file has %x", u.ID, b.SHA256, u.SHA256)
	}
	if b.Size != u.Size {
		return res, fmt.Errorf("client: blob %q has %d bytes on the server, but the file has %d", u.ID, b.Size, u.Size)
	}
	return res, nil
}

func isBlobExists(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == "blob_exists"
}

// createUpload POSTs a new upload and returns its absolute URL.
func (c *Client) createUpload(ctx context.Context, u Upload) (string, error) {
	req, err := c.newRequest(ctx, http.MethodPost, uploadsPath, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Tus-Resumable", TusVersion)
	req.Header.Set("Upload-Length", strconv.FormatInt(u.Size, 10))
	md := "id " + base64.StdEncoding.EncodeToString([]byte(u.ID))
	if u.ContentType != "" {
		md += ",content_type " + base64.StdEncoding.EncodeToString([]byte(u.ContentType))
	}
	req.Header.Set("Upload-Metadata", md)
	resp, err := c.do(req, http.StatusCreated)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := req.URL.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return "", fmt.Errorf("client: the server created an upload without a usable Location (%q)", resp.Header.Get("Location"))
	}
	return loc.String(), nil
}

// uploadOffset asks the server how many bytes of the upload it holds.
func (c *Client) uploadOffset(ctx context.Context, location string) (int64, error) {
	req, err := c.newRequest(ctx, http.MethodHead, location, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Tus-Resumable", TusVersion)
	resp, err := c.do(req, http.StatusOK, http.StatusNoContent)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return headerOffset(resp)
}

func headerOffset(resp *http.Response) (int64, error) {
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || off < 0 {
		return 0, fmt.Errorf("client: the server sent Upload-Offset %q", resp.Header.Get("Upload-Offset"))
	}
	return off, nil
}

// patchUpload sends n bytes of body at offset and returns the new offset.
func (c *Client) patchUpload(ctx context.Context, location string, offset int64, body io.Reader, n int64) (int64, error) {
	req, err := c.newRequest(ctx, http.MethodPatch, location, body)
	if err != nil {
		return 0, err
	}
	req.ContentLength = n
	req.Header.Set("Tus-Resumable", TusVersion)
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err := c.do(req, http.StatusNoContent, http.StatusOK)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return headerOffset(resp)
}

// patchBody is the body of one PATCH: n bytes of the upload's file from
// an offset. done, called once the PATCH is answered, stops its progress
// reports and returns how many bytes it has sent.
type patchBody interface {
	io.Reader
	done() int64
}

// newPatchBody returns the n bytes of file from offset as a PATCH body
// that reports the running total sent (offset included) to progress. An
// *os.File's bytes are sent from a descriptor of the body's own (a
// [fileBody]), which the transport hands to the kernel whole (sendfile)
// rather than copying them through the process; any other file's, or one
// that cannot be opened again, are read through a [countingReader].
func newPatchBody(file io.ReaderAt, offset, n int64, progress func(int64)) patchBody {
	if f := reopen(file); f != nil {
		if _, err := f.Seek(offset, io.SeekStart); err == nil {
			return newFileBody(f, offset, n, progress)
		}
		f.Close()
	}
	return &countingReader{r: io.NewSectionReader(file, offset, n), base: offset, progress: progress}
}

// reopen opens r's file again when r is an *os.File of a regular file, or
// returns nil: a descriptor of its own has a position of its own, so a
// PATCH the transport is still sending after its answer (a server that
// answered early) never moves the position the next PATCH sends from.
func reopen(r io.ReaderAt) *os.File {
	f, ok := r.(*os.File)
	if !ok {
		return nil
	}
	g, err := os.Open(f.Name())
	if err != nil {
		return nil
	}
	was, err1 := f.Stat()
	is, err2 := g.Stat()
	if err1 != nil || err2 != nil || !is.Mode().IsRegular() || !os.SameFile(was, is) {
		g.Close()
		return nil
	}
	return g
}

// progressEvery is how often a [fileBody] reports how far it got.
const progressEvery = 100 * time.Millisecond

// fileBody sends a file from its descriptor's position: as a
// [syscall.Conn], net/http's transport over plain TCP sends it with
// sendfile (the transport stops at the request's Content-Length), over
// TLS it reads it. How far it got is the descriptor's position, which
// sendfile moves as it goes: a goroutine reports it every progressEvery.
// The transport closes it (the descriptor is its own), possibly after the
// request was answered; done closes it too.
type fileBody struct {
	f          *os.File
	start, end int64

	mu     sync.Mutex
	pos    int64 // the position when last asked
	closed bool

	stop    chan struct{}
	stopped chan struct{}
}

func newFileBody(f *os.File, start, n int64, progress func(int64)) *fileBody {
	b := &fileBody{f: f, start: start, end: start + n, pos: start, stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(b.stopped)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				progress(b.start + b.sent())
			}
		}
	}()
	return b
}

// Read reads from the descriptor's position, up to the body's end: the
// transport reads a body to its end after its Content-Length, to count
// what is left over.
func (b *fileBody) Read(p []byte) (int, error) {
	pos, err := b.f.Seek(0, io.SeekCurrent)
	switch {
	case err != nil:
		return 0, err
	case pos >= b.end:
		return 0, io.EOF
	case int64(len(p)) > b.end-pos:
		p = p[:b.end-pos]
	}
	return b.f.Read(p)
}

// SyscallConn gives the transport the descriptor, for sendfile.
func (b *fileBody) SyscallConn() (syscall.RawConn, error) { return b.f.SyscallConn() }

func (b *fileBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.note()
	b.closed = true
	return b.f.Close()
}

// note records the descriptor's position; b.mu is held.
func (b *fileBody) note() {
	if pos, err := b.f.Seek(0, io.SeekCurrent); err == nil {
		b.pos = pos
	}
}

// sent is how many bytes have gone out.
func (b *fileBody) sent() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.note()
	}
	return b.pos - b.start
}

// done also closes the descriptor, which the transport has not when the
// request never reached it: a sendfile still running on it ends first.
func (b *fileBody) done() int64 {
	close(b.stop)
	<-b.stopped
	b.Close()
	return b.sent()
}

// countingReader counts what is read through it and reports progress. The
// transport may still be reading it when the request has been answered (a
// server that answers before the whole body arrived), so its count is
// atomic.
type countingReader struct {
	r        io.Reader
	n        atomic.Int64
	base     int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.progress(c.base + c.n.Add(int64(n)))
	return n, err
}

func (c *countingReader) done() int64 { return c.n.Load() }

// retrier paces retries: exponential backoff with jitter from 100 ms up
// to 5 s (or the server's Retry-After), at most max in a row.
type retrier struct {
	max, tries int
}

func (r *retrier) reset() { r.tries = 0 }

// wait sleeps before the next try and reports whether there is one.
func (r *retrier) wait(ctx context.Context, err error) bool {
	if r.tries >= r.max {
		return false
	}
	d := min(100*time.Millisecond<<r.tries, 5*time.Second)
	d = d/2 + rand.N(d/2+1)
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		d = min(e.RetryAfter, 30*time.Second)
	}
	r.tries++
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Retry runs op until it succeeds, fails with an error that is not
// [Retryable], or has failed max times in a row; it waits between tries
// with exponential backoff.
func Retry(ctx context.Context, max int, op func() error) error {
	r := retrier{max: max}
	for {
		err := op()
		if err == nil || !Retryable(err) || !r.wait(ctx, err) {
			return err
		}
	}
}

// FileState remembers the URLs of unfinished uploads, one small file per
// upload in Dir, so a later run can resume them.
type FileState struct {
	Dir string
}

// StateKey names the upload of a file: a hash of the server, the blob id
// and the file's size and modification time, so an upload is resumed only
// for the same bytes to the same place.
func StateKey(server, id string, size int64, mtime time.Time) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d", server, id, size, mtime.UnixNano())
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Load returns the URL remembered under key.
func (s *FileState) Load(key string) (string, bool) {
	data, err := os.ReadFile(filepath.Join(s.Dir, key))
	if err != nil {
		return "", false
	}
	loc := strings.TrimSpace(string(data))
	return loc, loc != ""
}

// Save remembers location under key, atomically.
func (s *FileState) Save(key, location string) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("client: remembering the upload: %w", err)
	}
	tmp, err := os.CreateTemp(s.Dir, ".tmp-")
	if err != nil {
		return fmt.Errorf("client: remembering the upload: %w", err)
	}
	_, werr := io.Copy(tmp, bytes.NewReader([]byte(location+"\n")))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("client: remembering the upload: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.Dir, key)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("client: remembering the upload: %w", err)
	}
	return nil
}

// Remove forgets key.
func (s *FileState) Remove(key string) { os.Remove(filepath.Join(s.Dir, key)) }
