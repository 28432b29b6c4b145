package s3api

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"

	"github.com/simpledrive/simpledrive/internal/blob"
)

// Bounds of DeleteObjects, as S3's.
const (
	maxDeleteKeys = 1000
	// maxDeleteBody bounds the XML document: 1000 keys of 1024 bytes,
	// each possibly escaped, and the elements around them.
	maxDeleteBody = 8 << 20
)

// deleteObjects serves DeleteObjects: the XML list of keys, its
// Content-MD5 or x-amz-checksum-* required and verified before any key is
// deleted; each key the principal may not touch gets AccessDenied in the
// result, each other is deleted (absent ones count as deleted). Quiet
// lists only the errors.
func (s *Server) deleteObjects(w http.ResponseWriter, rq *request) {
	d, e := newDigests(rq)
	if e != nil {
		writeError(w, rq, e)
		return
	}
	if d.contentMD5 == nil && d.sum == nil {
		writeError(w, rq, errInvalidRequest.with("Missing required header for this request: Content-MD5 (or an x-amz-checksum-*)."))
		return
	}
	var req struct {
		Quiet   bool `xml:"Quiet"`
		Objects []struct {
			Key       string `xml:"Key"`
			VersionID string `xml:"VersionId"`
		} `xml:"Object"`
	}
	body, err := io.ReadAll(io.LimitReader(d, maxDeleteBody+1))
	if err != nil {
		writeError(w, rq, s.classify(rq, err))
		return
	}
	if _, err := d.check(); err != nil {
		writeError(w, rq, s.classify(rq, err))
		return
	}
	if len(body) > maxDeleteBody || xml.Unmarshal(body, &req) != nil || len(req.Objects) == 0 || len(req.Objects) > maxDeleteKeys {
		writeError(w, rq, errMalformedXML)
		return
	}
	type deleted struct {
		Key string `xml:"Key"`
	}
	type failed struct {
		Key     string `xml:"Key"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	out := struct {
		XMLName xml.Name  `xml:"DeleteResult"`
		Xmlns   string    `xml:"xmlns,attr"`
		Deleted []deleted `xml:"Deleted"`
		Errors  []failed  `xml:"Error"`
	}{Xmlns: xmlns}
	for _, o := range req.Objects {
		var e *Error
		switch {
		case o.VersionID != "":
			e = errNotImplemented.with("Object versions are not kept.")
		case !rq.principal.Admits(o.Key):
			e = errAccessDenied
		default:
			if e = checkKey(o.Key); e == nil {
				if err := s.cfg.Blobs.Delete(rq.ctx(), o.Key); err != nil && !errors.Is(err, blob.ErrNotFound) {
					e = s.classify(rq, err)
				}
			}
		}
		switch {
		case e != nil:
			out.Errors = append(out.Errors, failed{Key: o.Key, Code: e.Code, Message: e.Message})
		case !req.Quiet:
			out.Deleted = append(out.Deleted, deleted{Key: o.Key})
		}
	}
	writeXML(w, http.StatusOK, out)
}
