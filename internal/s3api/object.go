package s3api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/blob"
)

// fromKeyReplacing: PutObject's key. Overwriting an existing object also
// deletes it, so an existing key (or a conditional write on one) adds the
// delete action. The lookup runs only for a key the principal may touch,
// so it reveals nothing about keys outside its prefix.
var fromKeyReplacing = &targetSource{name: "key (and delete when it exists)", extract: func(s *Server, rq *request) (access.Target, []access.Check, error) {
	t := access.Target{Kind: access.BlobID, ID: rq.key}
	replacing, err := s.replacing(rq, rq.key)
	if err != nil || !replacing {
		return t, nil, err
	}
	return t, []access.Check{{Action: access.Delete, Target: t}}, nil
}}

// replacing reports whether a write of id by rq would replace a blob: it
// carries If-Match, or, without If-None-Match: *, id exists.
func (s *Server) replacing(rq *request, id string) (bool, error) {
	switch {
	case !rq.principal.Admits(id) || blob.ValidateID(id) != nil:
		return false, nil // refused or answered as invalid without a lookup
	case rq.Header.Get("If-Match") != "":
		return true, nil
	case rq.Header.Get("If-None-Match") == "*":
		return false, nil
	}
	return s.cfg.Blobs.Exists(rq.ctx(), id)
}

// checkKey returns the S3 error of a key that is not a valid blob id.
func checkKey(key string) *Error {
	if len(key) > blob.MaxIDLen {
		return errKeyTooLong
	}
	if err := blob.ValidateID(key); err != nil {
		return errInvalidArgument.with("Object keys are 1 to 1024 bytes of UTF-8 without control characters.")
	}
	return nil
}

// putObject serves PutObject: the payload streams to the backend, hashed
// on the way; Content-MD5 and an x-amz-checksum-* (header or trailer) are
// verified before the object is recorded. An existing key is replaced
// atomically (compare-and-swap); If-None-Match: * refuses to, and If-Match
// replaces only the object with that ETag.
func (s *Server) putObject(w http.ResponseWriter, rq *request) {
	if e := checkKey(rq.key); e != nil {
		writeError(w, rq, e)
		return
	}
	if e := s.checkLength(rq); e != nil {
		writeError(w, rq, e)
		return
	}
	d, e := newDigests(rq)
	if e != nil {
		writeError(w, rq, e)
		return
	}
	headers, e := objectHeaders(rq.Header)
	if e != nil {
		writeError(w, rq, e)
		return
	}
	b, err := s.store(rq, blob.Upload{ID: rq.key, Body: d, Size: rq.length, ContentType: rq.Header.Get("Content-Type"), Check: d.check, S3Headers: headers}, d)
	if err != nil {
		writeError(w, rq, s.classify(rq, err))
		return
	}
	h := w.Header()
	h.Set("ETag", etag(b))
	if name, value := d.announced(); name != "" {
		h.Set(name, value)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// checkLength refuses a payload without a known length or over the limit.
func (s *Server) checkLength(rq *request) *Error {
	switch {
	case rq.length < 0:
		return errMissingContentLength
	case s.cfg.MaxObjectBytes > 0 && rq.length > s.cfg.MaxObjectBytes:
		return errEntityTooLarge.with("Your proposed upload exceeds the maximum allowed object size (%d bytes).", s.cfg.MaxObjectBytes)
	}
	return nil
}

// store stores u as the object rq writes, creating or replacing it as
// S3 does. Concurrent writes of one key are ordered by the database: a
// write that loses its compare-and-swap to another after its bytes were
// stored and verified (d checked) is ordered just before the winner, and
// succeeds, as the winner overwrote it.
func (s *Server) store(rq *request, u blob.Upload, d *digests) (blob.Blob, error) {
	ifMatch, ifNoneMatch := rq.Header.Get("If-Match"), rq.Header.Get("If-None-Match")
	if ifNoneMatch != "" && ifNoneMatch != "*" {
		return blob.Blob{}, errNotImplemented.with("If-None-Match on a write takes * only.")
	}
	replace := ifMatch != "" || hasAlso(rq, access.Delete)
	for {
		var b blob.Blob
		var err error
		if replace {
			b, err = s.cfg.Blobs.Replace(rq.ctx(), u, func(old blob.Blob) bool { return ifMatch == "" || etagMatches(ifMatch, old) })
		} else {
			b, err = s.cfg.Blobs.Store(rq.ctx(), u)
		}
		exists, changed := errors.Is(err, blob.ErrExists), errors.Is(err, blob.ErrPreconditionFailed)
		switch {
		case err == nil:
			return b, nil
		case ifNoneMatch == "*" && exists, ifMatch != "" && changed:
			return blob.Blob{}, errPreconditionFailed
		case d.checked && (exists || changed):
			md5, _ := d.check()
			return blob.Blob{MD5: md5}, nil // overwritten by a concurrent write
		case changed && replace:
			replace = false // deleted before the bytes were read: create it
		case exists && !replace:
			// Created since the request was decided: replacing needs
			// the delete action too.
			if d := s.cfg.Access.Decide(access.Request{Principal: rq.principal, Action: access.Delete, Target: access.Target{Kind: access.BlobID, ID: u.ID},
				Client: access.ClientKey(rq.RemoteAddr), Now: time.Now()}); d.Verdict != access.Allow {
				return blob.Blob{}, errAccessDenied
			}
			replace = true
		default:
			return blob.Blob{}, err
		}
	}
}

// hasAlso reports whether rq was decided with a further action a.
func hasAlso(rq *request, a access.Action) bool {
	for _, c := range rq.also {
		if c.Action == a {
			return true
		}
	}
	return false
}

// etagMatches reports whether the If-Match or If-None-Match value list
// names b's ETag, or is *.
func etagMatches(list string, b blob.Blob) bool {
	tag := etag(b)
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == "*" || v == tag || `"`+v+`"` == tag {
			return true
		}
	}
	return false
}

// getObject serves GetObject and HeadObject: conditionals, a single
// range, response-* overrides; the bytes stream from the backend, and a
// read that fails midway cuts the response short of its Content-Length.
func (s *Server) getObject(w http.ResponseWriter, rq *request) {
	if e := checkKey(rq.key); e != nil {
		writeError(w, rq, e)
		return
	}
	h, err := s.cfg.Blobs.Open(rq.ctx(), rq.key)
	if err != nil {
		writeError(w, rq, s.classify(rq, err))
		return
	}
	if pn := rq.query.Get("partNumber"); pn != "" && (pn != "1" || strings.Contains(h.MD5, "-")) {
		writeError(w, rq, errNotImplemented.with("partNumber other than 1 of a single-part object is not implemented."))
		return
	}
	hd := w.Header()
	hd.Set("ETag", etag(h.Blob))
	hd.Set("Last-Modified", lastModified(h.Blob).Format(http.TimeFormat))
	hd.Set("Accept-Ranges", "bytes")
	if e := preconditions(rq, h.Blob); e != nil {
		writeError(w, rq, e)
		return
	}
	hd.Set("Content-Type", h.ContentType)
	setObjectHeaders(hd, h.S3Headers)
	for param, header := range overrides {
		if v := rq.query.Get(param); v != "" {
			hd.Set(header, v)
		}
	}
	offset, length, partial, e := byteRange(rq.Header.Get("Range"), h.Size)
	if e != nil {
		hd.Set("Content-Range", fmt.Sprintf("bytes */%d", h.Size))
		writeError(w, rq, e)
		return
	}
	hd.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", offset, offset+length-1, h.Size))
	}
	if rq.method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	var rc io.ReadCloser
	if partial {
		rc, err = h.RangeReader(rq.ctx(), offset, length)
	} else {
		rc, err = h.Reader(rq.ctx())
	}
	if err != nil {
		hd.Del("Content-Range")
		writeError(w, rq, s.classify(rq, err))
		return
	}
	defer rc.Close()
	w.WriteHeader(status)
	if _, err := io.Copy(w, rc); err != nil && rq.ctx().Err() == nil {
		s.classify(rq, err) // logged; the response ends short
	}
}

// overrides are the query parameters of GetObject that set a response
// header, and the header.
var overrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

// lastModified is b's Last-Modified: its creation, to the second, as
// HTTP dates carry it.
func lastModified(b blob.Blob) time.Time { return b.CreatedAt.UTC().Truncate(time.Second) }

// preconditions evaluates the conditional headers of a GET or HEAD as
// RFC 9110 section 13.2.2 orders them: If-Match (else
// If-Unmodified-Since) refuses with 412, If-None-Match (else
// If-Modified-Since) answers 304.
func preconditions(rq *request, b blob.Blob) *Error {
	modified := lastModified(b)
	if v := rq.Header.Get("If-Match"); v != "" {
		if !etagMatches(v, b) {
			return errPreconditionFailed
		}
	} else if t, err := http.ParseTime(rq.Header.Get("If-Unmodified-Since")); err == nil && modified.After(t) {
		return errPreconditionFailed
	}
	if v := rq.Header.Get("If-None-Match"); v != "" {
		if etagMatches(v, b) {
			return errNotModified
		}
	} else if t, err := http.ParseTime(rq.Header.Get("If-Modified-Since")); err == nil && !modified.After(t) {
		return errNotModified
	}
	return nil
}

// byteRange parses a Range header for an object of size bytes: one range
// of bytes (several, or another unit, are ignored as RFC 9110 allows: the
// whole object is served). A range that starts past the end is
// InvalidRange.
func byteRange(header string, size int64) (offset, length int64, partial bool, e *Error) {
	spec, ok := strings.CutPrefix(header, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false, nil
	}
	if first == "" { // the last n bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return 0, size, false, nil
		}
		if n == 0 {
			return 0, 0, false, errInvalidRange
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return 0, size, false, nil
	}
	end := size - 1
	if last != "" {
		if end, err = strconv.ParseInt(last, 10, 64); err != nil || end < start {
			return 0, size, false, nil
		}
		end = min(end, size-1)
	}
	if start >= size {
		return 0, 0, false, errInvalidRange
	}
	return start, end - start + 1, true, nil
}

// deleteObject serves DeleteObject: 204, whether the key existed or not.
func (s *Server) deleteObject(w http.ResponseWriter, rq *request) {
	if e := checkKey(rq.key); e != nil {
		writeError(w, rq, e)
		return
	}
	if err := s.cfg.Blobs.Delete(rq.ctx(), rq.key); err != nil && !errors.Is(err, blob.ErrNotFound) {
		writeError(w, rq, s.classify(rq, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
