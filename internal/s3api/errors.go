package s3api

import (
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/sigv4"
)

// Error is an S3 error: its code, HTTP status and message, answered as
// S3's XML error document.
type Error struct {
	Code    string
	Status  int
	Message string
}

func (e *Error) Error() string { return "s3api: " + e.Code + ": " + e.Message }

// with returns a copy of e with message.
func (e *Error) with(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

// The S3 errors this front door answers, with S3's codes and statuses.
var (
	errAccessDenied         = &Error{"AccessDenied", http.StatusForbidden, "Access Denied"}
	errBadDigest            = &Error{"BadDigest", http.StatusBadRequest, "The Content-MD5 or checksum you specified did not match what we received."}
	errEntityTooLarge       = &Error{"EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed object size."}
	errIncompleteBody       = &Error{"IncompleteBody", http.StatusBadRequest, "You did not provide the number of bytes specified by the Content-Length HTTP header."}
	errInternal             = &Error{"InternalError", http.StatusInternalServerError, "We encountered an internal error. Please try again."}
	errInvalidArgument      = &Error{"InvalidArgument", http.StatusBadRequest, "Invalid Argument"}
	errInvalidDigest        = &Error{"InvalidDigest", http.StatusBadRequest, "The Content-MD5 you specified is not valid."}
	errInvalidRange         = &Error{"InvalidRange", http.StatusRequestedRangeNotSatisfiable, "The requested range is not satisfiable"}
	errInvalidRequest       = &Error{"InvalidRequest", http.StatusBadRequest, "Invalid Request"}
	errKeyTooLong           = &Error{"KeyTooLongError", http.StatusBadRequest, "Your key is too long."}
	errMalformedXML         = &Error{"MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema."}
	errMissingContentLength = &Error{"MissingContentLength", http.StatusLengthRequired, "You must provide the Content-Length HTTP header."}
	errNoSuchBucket         = &Error{"NoSuchBucket", http.StatusNotFound, "The specified bucket does not exist"}
	errMetadataTooLarge     = &Error{"MetadataTooLarge", http.StatusBadRequest, "Your metadata headers exceed the maximum allowed metadata size."}
	errNoSuchKey            = &Error{"NoSuchKey", http.StatusNotFound, "The specified key does not exist."}
	errNotImplemented       = &Error{"NotImplemented", http.StatusNotImplemented, "A header or operation you provided is not implemented."}
	errPreconditionFailed   = &Error{"PreconditionFailed", http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold"}
	errServiceUnavailable   = &Error{"ServiceUnavailable", http.StatusServiceUnavailable, "Please reduce your request rate."}
	errSlowDown             = &Error{"SlowDown", http.StatusServiceUnavailable, "Please reduce your request rate."}
	errInsufficientStorage  = &Error{"ServiceUnavailable", http.StatusServiceUnavailable, "The storage behind this server is full."}
	errInvalidBucketName    = &Error{"InvalidBucketName", http.StatusBadRequest, "The specified bucket is not valid."}
	errNotModified          = &Error{"NotModified", http.StatusNotModified, "Not Modified"}
	errNoSuchUpload         = &Error{"NoSuchUpload", http.StatusNotFound, "The specified upload does not exist."}
	errInvalidCopySource    = &Error{"InvalidArgument", http.StatusBadRequest, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"}
	errUnsupportedDirective = &Error{"InvalidArgument", http.StatusBadRequest, "Unknown metadata directive."}
)

// errorDoc is S3's XML error document. S3 writes it without a namespace.
type errorDoc struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	BucketName string   `xml:"BucketName,omitempty"`
	Key        string   `xml:"Key,omitempty"`
	Resource   string   `xml:"Resource,omitempty"`
	RequestID  string   `xml:"RequestId"`
	HostID     string   `xml:"HostId"`
}

// writeError answers e as S3 does: its status and, except for HEAD and
// 304, the XML document naming the request's bucket, key and request id.
func writeError(w http.ResponseWriter, rq *request, e *Error) {
	h := w.Header()
	h.Del("Content-Length")
	if e.Status != http.StatusNotModified { // a 304 keeps the validators
		h.Del("ETag")
		h.Del("Last-Modified")
	}
	if e.Status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "5")
	}
	if rq.method == http.MethodHead || e.Status == http.StatusNotModified {
		w.WriteHeader(e.Status)
		return
	}
	body := append([]byte(xml.Header), errorXML(rq, e)...)
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	w.Write(body)
}

// errorXML returns the Error document of e answering rq, without the XML
// declaration.
func errorXML(rq *request, e *Error) []byte {
	return marshalXML(errorDoc{Code: e.Code, Message: e.Message, BucketName: rq.bucket, Key: rq.key, Resource: rq.path, RequestID: rq.id, HostID: hostID})
}

// classify returns the S3 error of err, from a handler or the services
// below; a server-side failure is logged with its cause and answered
// InternalError or ServiceUnavailable, without it.
func (s *Server) classify(rq *request, err error) *Error {
	var e *Error
	var se *sigv4.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &se): // the payload failed its verification as it streamed
		return &Error{Code: se.Code, Status: se.Status, Message: se.Message}
	case errors.Is(err, blob.ErrNotFound):
		return errNoSuchKey
	case errors.Is(err, blob.ErrInvalidID):
		return errInvalidArgument.with("The key is not a valid object key: %s", err.Error())
	case errors.Is(err, blob.ErrPreconditionFailed):
		return errPreconditionFailed
	case errors.Is(err, blob.ErrUnavailable), errors.Is(err, blob.ErrBusy):
		s.log.LogAttrs(rq.ctx(), slog.LevelWarn, "s3 request failed", slog.String("request_id", rq.id), slog.String("error", err.Error()))
		return errServiceUnavailable
	case errors.Is(err, blob.ErrInsufficientStorage):
		s.log.LogAttrs(rq.ctx(), slog.LevelError, "s3 request failed", slog.String("request_id", rq.id), slog.String("error", err.Error()))
		return errInsufficientStorage
	}
	s.log.LogAttrs(rq.ctx(), slog.LevelError, "s3 request failed", slog.String("request_id", rq.id), slog.String("error", err.Error()))
	return errInternal
}
