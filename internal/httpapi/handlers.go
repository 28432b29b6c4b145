package httpapi

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/httpx"
)

// createResponse is the body of a 201 from POST /v1/blobs.
type createResponse struct {
	ID        string `json:"id"`
	Size      int64  `json:"size"`
	CreatedAt string `json:"created_at"`
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			httpx.WriteProblem(w, http.StatusUnsupportedMediaType, httpx.CodeUnsupportedMedia, "send the body as application/json")
			return
		}
	}
	if !identityCoding(r.Header.Values("Content-Encoding")) {
		httpx.WriteProblem(w, http.StatusUnsupportedMediaType, httpx.CodeUnsupportedMedia, "send the body without a Content-Encoding: the server decodes none")
		return
	}
	src, release, err := a.readBody(w, r)
	defer release()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body := newCreateStream(src, a.cfg.MaxBlobBytes)
	defer body.release()
	if err := body.head(); err != nil {
		a.fail(w, r, err)
		return
	}
	// The bytes stream to the backend as they are decoded; the stream
	// ends with io.EOF only if the whole body is valid, so the service
	// stores nothing for a body found invalid after its data. When the id
	// came first, the service answers 409 for a taken id before reading
	// any data of a body of 64 KiB or more (a smaller one's insert
	// answers); otherwise it learns the id once the body has ended. The
	// route declares the id as coming from the body: it is admitted
	// (a key confined to a prefix sees an id outside it as absent) before
	// any data when the id comes first, else when it arrives, which then
	// fails the upload (nothing is stored).
	u := blob.Upload{ID: body.id, Body: body, Size: -1, AtMost: max(r.ContentLength, 0)}
	outside := false
	if body.seenID {
		if !admit(w, r, body.id) {
			return
		}
	} else {
		p := grantFrom(r).principal
		u.LateID = func() string {
			id := body.lateID()
			if !p.Admits(id) {
				outside = true
				return "" // an invalid id: the service stores nothing
			}
			return id
		}
	}
	b, err := a.svc.Store(r.Context(), u)
	if outside {
		httpx.WriteProblem(w, http.StatusNotFound, httpx.CodeBlobNotFound, "no blob has this id")
		return
	}
	if err != nil {
		if fault := body.fault(); fault != nil {
			err = fault // the client's fault, not the service's
		}
		a.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Location", blobPrefix+url.PathEscape(b.ID))
	h.Set("ETag", etag(b))
	writeJSON(w, http.StatusCreated, createResponse{ID: b.ID, Size: b.Size, CreatedAt: timestamp(b)})
}

// identityCoding reports whether the Content-Encoding header values name
// no coding but identity.
func identityCoding(values []string) bool {
	for _, v := range values {
		for _, coding := range strings.Split(v, ",") {
			if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") {
				return false
			}
		}
	}
	return true
}

// readBody opens the body of a JSON upload for streaming: a body longer
// than a.maxBody is refused with errTooLarge, from its Content-Length
// before any byte is read, or while it is read.
//
// A JSON upload streams (see [createStream]), so its memory in this layer
// is a fixed createStreamMemory whatever the body's size, and that fixed
// amount, not the body, is what it reserves in the in-flight budget of
// [Guard], if any, before the body is read (errBusy, answered 503, when it
// does not fit). The backend's own buffers, those of an upload of unknown
// size, are reserved by its storage.Bucket from the same budget when the
// server is wired by package app.
//
// release, never nil, returns the reservation; call it when the body is no
// longer used.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) (body io.Reader, release func(), err error) {
	release = func() {}
	if r.ContentLength > a.maxBody {
		return nil, release, httpx.ErrTooLarge
	}
	if budget := budgetFrom(r.Context()); budget != nil {
		if !budget.TryAcquire(createStreamMemory) {
			return nil, release, httpx.ErrBusy
		}
		release = func() { budget.Release(createStreamMemory) }
	}
	return http.MaxBytesReader(w, r.Body, a.maxBody), release, nil
}

func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return httpx.ErrTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		return httpx.ErrBodyTimeout
	}
	return httpx.InvalidRequest("reading the request body: %v", err)
}

// blockSize is how many blob bytes a GET reads and encodes at a time: a
// multiple of 3, so every block but the last encodes to base64 without
// padding.
const blockSize = 48 << 10

// block is the buffer pair of one GET in progress.
type block struct {
	raw [blockSize]byte
	enc [blockSize / 3 * 4]byte
}

var blocks = sync.Pool{New: func() any { return new(block) }}

func (a *API) get(w http.ResponseWriter, r *http.Request, id string) {
	// HEAD and revalidation need only the metadata, not the bytes.
	if match := r.Header.Get("If-None-Match"); r.Method == http.MethodHead || match != "" {
		b, err := a.svc.Stat(r.Context(), id)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if match != "" && etagMatches(match, etag(b)) {
			setCacheHeaders(w, b)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if r.Method == http.MethodHead {
			prefix, suffix := framing(b)
			setBodyHeaders(w, b, prefix, suffix)
			return
		}
	}

	b, rc, err := a.svc.Get(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer rc.Close()
	blk := blocks.Get().(*block)
	defer blocks.Put(blk)

	// The first block is read before answering. A blob that fits in it is
	// read to its end, where its checksum is verified, so an integrity fault
	// still gets its error status.
	n, err := io.ReadFull(rc, blk.raw[:min(b.Size+1, blockSize)])
	if err == nil && int64(n) == b.Size {
		// The blob fills the block exactly: one more read reaches its end.
		_, err = io.ReadFull(rc, blk.enc[:1])
	}
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		a.fail(w, r, err)
		return
	}
	prefix, suffix := framing(b)
	setBodyHeaders(w, b, prefix, suffix)
	w.Write(prefix)
	for n > 0 {
		base64.StdEncoding.Encode(blk.enc[:], blk.raw[:n])
		if _, werr := w.Write(blk.enc[:base64.StdEncoding.EncodedLen(n)]); werr != nil {
			a.abort(w, slog.LevelInfo, "client went away mid-response", werr)
		}
		if err != nil { // the block ended the blob
			break
		}
		n, err = io.ReadFull(rc, blk.raw[:])
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			a.abort(w, slog.LevelError, "blob read failed mid-response", err)
		}
	}
	w.Write(suffix)
}

// abort ends a response whose status is already sent: all that is left is
// to cut it short of its Content-Length, so the client sees it fail. The
// cause goes on the request's one log line, written at level by
// [API.ServeHTTP] with aborted=true.
func (a *API) abort(w http.ResponseWriter, level slog.Level, msg string, err error) {
	if rec, ok := w.(*recorder); ok {
		rec.abortCause, rec.abortLevel = msg+": "+err.Error(), level
	}
	panic(http.ErrAbortHandler)
}

// framing returns the JSON text around the base64 data of a GET response,
// both in one allocation.
func framing(b blob.Blob) (prefix, suffix []byte) {
	buf := make([]byte, 0, len(b.ID)+112)
	buf = append(buf, `{"id":`...)
	buf = appendJSONString(buf, b.ID)
	buf = append(buf, `,"data":"`...)
	n := len(buf)
	buf = append(buf, `","size":`...)
	buf = strconv.AppendInt(buf, b.Size, 10)
	buf = append(buf, `,"created_at":"`...)
	buf = b.CreatedAt.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, "\"}\n"...)
	return buf[:n:n], buf[n:]
}

// appendJSONString appends s as a JSON string, as [httpx.Marshal] writes
// it: quoted as it is when every byte is printable ASCII other than '"'
// and '\\', which JSON writes unescaped, else by encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return append(dst, bytes.TrimSuffix(httpx.Marshal(s), []byte("\n"))...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// setCacheHeaders sets the validator and caching policy of an immutable
// blob.
func setCacheHeaders(w http.ResponseWriter, b blob.Blob) {
	setHeaders(w.Header(), "Etag", etag(b), "Cache-Control", immutable)
}

// setBodyHeaders sets the headers of a 200 GET or HEAD response: those of
// setCacheHeaders, and the body's type and length.
func setBodyHeaders(w http.ResponseWriter, b blob.Blob, prefix, suffix []byte) {
	length := int64(len(prefix)) + int64(base64.StdEncoding.EncodedLen(int(b.Size))) + int64(len(suffix))
	setHeaders(w.Header(), "Etag", etag(b), "Cache-Control", immutable,
		"Content-Type", "application/json", "Content-Length", strconv.FormatInt(length, 10))
}

// immutable is the Cache-Control of a blob's responses.
const immutable = "private, max-age=31536000, immutable"

// setHeaders sets the headers of kv, pairs of a canonical name and a value,
// with their values in one allocation where Header.Set makes one each. Each
// header's slice has capacity one, so an Add to it appends elsewhere.
func setHeaders(h http.Header, kv ...string) {
	values := make([]string, len(kv)/2)
	for i := range values {
		values[i] = kv[2*i+1]
		h[kv[2*i]] = values[i : i+1 : i+1]
	}
}

// etagMatches reports whether an If-None-Match header matches tag, using
// the weak comparison RFC 9110 prescribes for it.
func etagMatches(header, tag string) bool {
	for _, candidate := range strings.Split(header, ",") {
		candidate = strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
		if candidate == "*" || candidate == tag {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body := httpx.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// etag is the blob's entity tag: its SHA-256, quoted.
func etag(b blob.Blob) string { return `"` + b.SHA256 + `"` }

// timestamp formats the blob's creation time as RFC 3339 in UTC.
func timestamp(b blob.Blob) string { return b.CreatedAt.UTC().Format(time.RFC3339Nano) }
