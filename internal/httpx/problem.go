// Package httpx is the HTTP plumbing every protocol shares (DESIGN
// section 1): RFC 9457 problem documents with their stable codes, the one
// table from the services' errors to statuses ([Classify]), request
// errors, and the refusal of a request whose body was not read. It
// imports no protocol.
package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/keys"
)

// Problem codes: the stable "code" member of every error response.
const (
	CodeInvalidRequest      = "invalid_request"
	CodeInvalidID           = "invalid_id"
	CodeInvalidBase64       = "invalid_base64"
	CodeUnauthorized        = "unauthorized"
	CodeBlobNotFound        = "blob_not_found"
	CodeBlobExists          = "blob_exists"
	CodeTooLarge            = "too_large"
	CodeRequestTimeout      = "request_timeout"
	CodeUnsupportedMedia    = "unsupported_media_type"
	CodeUnavailable         = "unavailable"
	CodeTimeout             = "timeout"
	CodeInsufficientStorage = "insufficient_storage"
	CodeBlobDataMissing     = "blob_data_missing"
	CodeBlobCorrupt         = "blob_corrupt"
	CodeKeyMissing          = "encryption_key_missing"
	CodeNotFound            = "not_found"
	CodeMethodNotAllowed    = "method_not_allowed"
	CodeInternal            = "internal"
	CodeDigestMismatch      = "digest_mismatch"
	CodePreconditionFailed  = "precondition_failed"
	CodeRangeNotSatisfiable = "range_not_satisfiable"
	CodeForbidden           = "forbidden"
	CodeInvalidSignature    = "invalid_signature"
	CodeRateLimited         = "rate_limited"
	CodeKeyNotFound         = "key_not_found"
)

// RetryAfterSeconds is the Retry-After sent with 503 responses.
const RetryAfterSeconds = 5

// RequestError is a client error found in a request; Code is the problem
// code it is answered with (400).
type RequestError struct {
	Code   string
	Detail string
}

func (e *RequestError) Error() string { return e.Detail }

// InvalidRequest returns a [RequestError] coded invalid_request.
func InvalidRequest(format string, args ...any) error {
	return &RequestError{Code: CodeInvalidRequest, Detail: fmt.Sprintf(format, args...)}
}

// ErrTooLarge reports a blob over the size limit.
var ErrTooLarge = errors.New("httpx: blob too large")

// ErrBusy reports an upload that does not fit in the in-flight budget.
var ErrBusy = errors.New("httpx: in-flight upload budget exhausted")

// ErrBodyTimeout reports a request body that stopped arriving for the
// idle body timeout.
var ErrBodyTimeout = errors.New("httpx: request body timed out")

// Truncate returns b as a string of at most 64 bytes and "...", for
// quoting client input in a problem's detail.
func Truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// Problem is an RFC 9457 problem document. RequestID is an extension
// member beyond DESIGN section 4's four: the request's X-Request-Id, so a
// client can quote it when reporting a failure.
type Problem struct {
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id,omitempty"`
}

// WriteProblem writes an application/problem+json response, with the
// request id set on the response's X-Request-Id header.
func WriteProblem(w http.ResponseWriter, status int, code, detail string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
	}
	body := Marshal(Problem{Title: http.StatusText(status), Status: status, Detail: detail, Code: code, RequestID: h.Get("X-Request-Id")})
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// Marshal encodes v as one line of JSON without HTML escaping.
func Marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(v) // the API's response types always encode
	return buf.Bytes()
}

// Classify maps an error from the services to its status, problem code and
// client-facing detail. It is the one error-to-status table of the HTTP protocols.
// Server-side failures get a generic detail: their cause goes to the log.
func Classify(err error) (status int, code, detail string) {
	var reqErr *RequestError
	switch {
	case errors.As(err, &reqErr):
		return http.StatusBadRequest, reqErr.Code, reqErr.Detail
	case errors.Is(err, ErrBodyTimeout):
		return http.StatusRequestTimeout, CodeRequestTimeout, "the request body stopped arriving"
	case errors.Is(err, ErrBusy), errors.Is(err, blob.ErrBusy):
		return http.StatusServiceUnavailable, CodeUnavailable, "the server holds as many uploads as it can; retry later"
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, CodeTooLarge, "the blob exceeds the server's size limit"
	case errors.Is(err, blob.ErrDigestMismatch):
		return http.StatusBadRequest, CodeDigestMismatch, "the body does not have the SHA-256 its Content-Digest announces; nothing was stored"
	case errors.Is(err, blob.ErrInvalidListing):
		return http.StatusBadRequest, CodeInvalidRequest, strings.TrimPrefix(err.Error(), blob.ErrInvalidListing.Error()+": ")
	case errors.Is(err, blob.ErrInvalidID):
		return http.StatusBadRequest, CodeInvalidID, "id must be 1 to 1024 bytes of UTF-8 text without control characters"
	case errors.Is(err, blob.ErrNotFound):
		return http.StatusNotFound, CodeBlobNotFound, "no blob has this id"
	case errors.Is(err, blob.ErrPreconditionFailed):
		return http.StatusPreconditionFailed, CodePreconditionFailed, "If-Match matches no blob stored under this id; nothing was replaced"
	case errors.Is(err, blob.ErrExists):
		return http.StatusConflict, CodeBlobExists, "a blob with this id already exists; blobs are immutable"
	case errors.Is(err, blob.ErrDataMissing):
		return http.StatusInternalServerError, CodeBlobDataMissing, "the blob's metadata exists but its data cannot be found"
	case errors.Is(err, blob.ErrCorrupt):
		return http.StatusInternalServerError, CodeBlobCorrupt, "the blob's stored data does not match its checksum"
	case errors.Is(err, blob.ErrKeyMissing):
		return http.StatusInternalServerError, CodeKeyMissing, "the blob is encrypted under a master key the server is not configured with"
	case errors.Is(err, context.DeadlineExceeded):
		// Only the server's own work has deadlines (REQUEST_TIMEOUT), never
		// a transfer; not "unavailable", which clients retry at once.
		return http.StatusGatewayTimeout, CodeTimeout, "the server's own work for this request (metadata or storage) did not finish within its time limit"
	case errors.Is(err, blob.ErrUnavailable):
		return http.StatusServiceUnavailable, CodeUnavailable, "storage is unavailable; retry later"
	case errors.Is(err, blob.ErrInsufficientStorage):
		return http.StatusInsufficientStorage, CodeInsufficientStorage, "storage is full"
	case errors.Is(err, access.ErrExceeds):
		return http.StatusForbidden, CodeForbidden, strings.TrimPrefix(err.Error(), access.ErrExceeds.Error()+": ")
	case errors.Is(err, keys.ErrInvalid):
		return http.StatusBadRequest, CodeInvalidRequest, strings.TrimPrefix(err.Error(), keys.ErrInvalid.Error()+": ")
	case errors.Is(err, keys.ErrNotFound):
		return http.StatusNotFound, CodeKeyNotFound, "no key has this id"
	case errors.Is(err, keys.ErrUnavailable):
		return http.StatusServiceUnavailable, CodeUnavailable, "the key database is unavailable; retry later"
	}
	return http.StatusInternalServerError, CodeInternal, "internal error"
}

// Fail writes the problem response for err, logging server-side failures
// with their cause to log.
func Fail(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	status, code, detail := Classify(err)
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client left; nobody reads this answer and nothing failed.
		log.LogAttrs(r.Context(), slog.LevelInfo, "client went away", slog.String("method", r.Method))
		WriteProblem(w, http.StatusServiceUnavailable, CodeUnavailable, "request cancelled")
		return
	}
	if status >= 500 {
		log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("code", code), slog.String("error", err.Error()))
	}
	WriteProblem(w, status, code, detail)
}

// WriteTitledProblem writes a problem document for a status net/http has
// no text for.
func WriteTitledProblem(w http.ResponseWriter, status int, title, code, detail string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	body := Marshal(Problem{Title: title, Status: status, Detail: detail, Code: code})
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// StoredType returns the media type an upload stores: the Content-Type
// (or tus content_type) sent, checked and normalised, or the default when
// none was sent.
func StoredType(header string) (string, error) {
	if header == "" {
		return blob.DefaultContentType, nil
	}
	mt, params, err := mime.ParseMediaType(header)
	if err != nil || !strings.Contains(mt, "/") || len(header) > 256 {
		return "", InvalidRequest("Content-Type %q is not a media type", Truncate([]byte(header)))
	}
	return mime.FormatMediaType(mt, params), nil
}
