package s3api

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/blob"
)

// fromKeyCopying: CopyObject's destination key, which it writes (and
// deletes, when it exists), and the source key of x-amz-copy-source,
// which it reads.
var fromKeyCopying = &targetSource{name: "key (and x-amz-copy-source read, delete when the key exists)", extract: func(s *Server, rq *request) (access.Target, []access.Check, error) {
	t, also, err := fromKeyReplacing.extract(s, rq)
	if err != nil {
		return t, nil, err
	}
	_, src, e := copySource(rq)
	if e != nil {
		return t, nil, e
	}
	return t, append(also, access.Check{Action: access.Read, Target: access.Target{Kind: access.BlobID, ID: src}}), nil
}}

// copySource returns the bucket and key of x-amz-copy-source:
// "[/]bucket/key", percent-encoded, without a versionId.
func copySource(rq *request) (string, string, *Error) {
	v := rq.Header.Get("x-amz-copy-source")
	v, version, _ := strings.Cut(v, "?")
	if version != "" {
		return "", "", errNotImplemented.with("Object versions are not kept: x-amz-copy-source takes no versionId.")
	}
	v, err := url.PathUnescape(strings.TrimPrefix(v, "/"))
	if err != nil {
		return "", "", errInvalidCopySource
	}
	b, k, ok := strings.Cut(v, "/")
	if !ok || b == "" || k == "" {
		return "", "", errInvalidCopySource
	}
	return b, k, nil
}

// copyObject serves CopyObject within the bucket: the source's bytes are
// read, verified against its SHA-256 as they stream, and written as the
// destination by PutObject's rules (replacing atomically, If-Match and
// If-None-Match: * of the destination). x-amz-copy-source-if-* are
// checked against the source; x-amz-metadata-directive REPLACE takes the
// request's Content-Type, COPY (the default) the source's.
func (s *Server) copyObject(w http.ResponseWriter, rq *request) {
	srcBucket, srcKey, e := copySource(rq)
	switch {
	case e != nil:
	case srcBucket != s.cfg.Bucket:
		e = errNoSuchBucket
	default:
		e = checkKey(rq.key)
	}
	if e != nil {
		writeError(w, rq, e)
		return
	}
	directive := rq.Header.Get("x-amz-metadata-directive")
	if directive != "" && directive != "COPY" && directive != "REPLACE" {
		writeError(w, rq, errUnsupportedDirective)
		return
	}
	if srcKey == rq.key && directive != "REPLACE" {
		writeError(w, rq, errInvalidRequest.with("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata."))
		return
	}
	h, err := s.cfg.Blobs.Open(rq.ctx(), srcKey)
	if err != nil {
		writeError(w, rq, s.classify(rq, err))
		return
	}
	if e := copyPreconditions(rq, h.Blob); e != nil {
		writeError(w, rq, e)
		return
	}
	contentType, headers := h.ContentType, h.S3Headers
	if directive == "REPLACE" {
		contentType = rq.Header.Get("Content-Type")
		if headers, e = objectHeaders(rq.Header); e != nil {
			writeError(w, rq, e)
			return
		}
	}
	sum, err := hex.DecodeString(h.SHA256)
	if err != nil {
		writeError(w, rq, s.classify(rq, blob.ErrCorrupt))
		return
	}
	rc, err := h.Reader(rq.ctx())
	if err != nil {
		writeError(w, rq, s.classify(rq, err))
		return
	}
	defer rc.Close()
	d := &digests{r: rc, md5: md5.New()}
	b, err := s.store(rq, blob.Upload{ID: rq.key, Body: d, Size: h.Size, ContentType: contentType, SHA256: sum, Check: d.check, S3Headers: headers}, d)
	if err != nil {
		writeError(w, rq, s.classify(rq, err))
		return
	}
	modified := b.CreatedAt
	if modified.IsZero() { // overwritten by a concurrent write
		modified = time.Now()
	}
	writeXML(w, http.StatusOK, struct {
		XMLName      xml.Name `xml:"CopyObjectResult"`
		Xmlns        string   `xml:"xmlns,attr"`
		LastModified string   `xml:"LastModified"`
		ETag         string   `xml:"ETag"`
	}{Xmlns: xmlns, LastModified: modified.UTC().Format(timeISO), ETag: etag(b)})
}

// copyPreconditions evaluates x-amz-copy-source-if-* against the source:
// any that does not hold is PreconditionFailed, as S3 answers.
func copyPreconditions(rq *request, src blob.Blob) *Error {
	modified := lastModified(src)
	h := rq.Header
	if v := h.Get("x-amz-copy-source-if-match"); v != "" && !etagMatches(v, src) {
		return errPreconditionFailed
	}
	if v := h.Get("x-amz-copy-source-if-none-match"); v != "" && etagMatches(v, src) {
		return errPreconditionFailed
	}
	if t, err := http.ParseTime(h.Get("x-amz-copy-source-if-unmodified-since")); err == nil && h.Get("x-amz-copy-source-if-match") == "" && modified.After(t) {
		return errPreconditionFailed
	}
	if t, err := http.ParseTime(h.Get("x-amz-copy-source-if-modified-since")); err == nil && h.Get("x-amz-copy-source-if-none-match") == "" && !modified.After(t) {
		return errPreconditionFailed
	}
	return nil
}
