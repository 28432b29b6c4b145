package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/keys"
)

// Problem codes: the stable "code" member of every error response.
const (
	codeInvalidRequest      = "invalid_request"
	codeInvalidID           = "invalid_id"
	codeInvalidBase64       = "invalid_base64"
	codeUnauthorized        = "unauthorized"
	codeBlobNotFound        = "blob_not_found"
	codeBlobExists          = "blob_exists"
	codeTooLarge            = "too_large"
	codeRequestTimeout      = "request_timeout"
	codeUnsupportedMedia    = "unsupported_media_type"
	codeUnavailable         = "unavailable"
	codeTimeout             = "timeout"
	codeInsufficientStorage = "insufficient_storage"
	codeBlobDataMissing     = "blob_data_missing"
	codeBlobCorrupt         = "blob_corrupt"
	codeNotFound            = "not_found"
	codeMethodNotAllowed    = "method_not_allowed"
	codeInternal            = "internal"
	codeDigestMismatch      = "digest_mismatch"
	codePreconditionFailed  = "precondition_failed"
	codeRangeNotSatisfiable = "range_not_satisfiable"
	codeForbidden           = "forbidden"
	codeInvalidSignature    = "invalid_signature"
	codeRateLimited         = "rate_limited"
	codeKeyNotFound         = "key_not_found"
)

// retryAfterSeconds is the Retry-After sent with 503 responses.
const retryAfterSeconds = 5

// problem is an RFC 9457 problem document. RequestID is an extension
// member beyond DESIGN section 4's four: the request's X-Request-Id, so a
// client can quote it when reporting a failure.
type problem struct {
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id,omitempty"`
}

// writeProblem writes an application/problem+json response, with the
// request id that [API.ServeHTTP] set on the response's headers.
func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	body := marshal(problem{Title: http.StatusText(status), Status: status, Detail: detail, Code: code, RequestID: h.Get("X-Request-Id")})
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// marshal encodes v as one line of JSON without HTML escaping.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(v) // the API's response types always encode
	return buf.Bytes()
}

// classify maps an error from the service to its status, problem code and
// client-facing detail. It is the one error-to-status table of the API.
// Server-side failures get a generic detail: their cause goes to the log.
func classify(err error) (status int, code, detail string) {
	var reqErr *requestError
	switch {
	case errors.As(err, &reqErr):
		return http.StatusBadRequest, reqErr.code, reqErr.detail
	case errors.Is(err, errBodyTimeout):
		return http.StatusRequestTimeout, codeRequestTimeout, "the request body stopped arriving"
	case errors.Is(err, errBusy), errors.Is(err, blob.ErrBusy):
		return http.StatusServiceUnavailable, codeUnavailable, "the server holds as many uploads as it can; retry later"
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, codeTooLarge, "the blob exceeds the server's size limit"
	case errors.Is(err, blob.ErrDigestMismatch):
		return http.StatusBadRequest, codeDigestMismatch, "the body does not have the SHA-256 its Content-Digest announces; nothing was stored"
	case errors.Is(err, blob.ErrInvalidListing):
		return http.StatusBadRequest, codeInvalidRequest, strings.TrimPrefix(err.Error(), blob.ErrInvalidListing.Error()+": ")
	case errors.Is(err, blob.ErrInvalidID):
		return http.StatusBadRequest, codeInvalidID, "id must be 1 to 1024 bytes of UTF-8 text without control characters"
	case errors.Is(err, blob.ErrNotFound):
		return http.StatusNotFound, codeBlobNotFound, "no blob has this id"
	case errors.Is(err, blob.ErrPreconditionFailed):
		return http.StatusPreconditionFailed, codePreconditionFailed, "If-Match matches no blob stored under this id; nothing was replaced"
	case errors.Is(err, blob.ErrExists):
		return http.StatusConflict, codeBlobExists, "a blob with this id already exists; blobs are immutable"
	case errors.Is(err, blob.ErrDataMissing):
		return http.StatusInternalServerError, codeBlobDataMissing, "the blob's metadata exists but its data cannot be found"
	case errors.Is(err, blob.ErrCorrupt):
		return http.StatusInternalServerError, codeBlobCorrupt, "the blob's stored data does not match its checksum"
	case errors.Is(err, context.DeadlineExceeded):
		// Only the server's own work has deadlines (REQUEST_TIMEOUT), never
		// a transfer; not "unavailable", which clients retry at once.
		return http.StatusGatewayTimeout, codeTimeout, "the server's own work for this request (metadata or storage) did not finish within its time limit"
	case errors.Is(err, blob.ErrUnavailable):
		return http.StatusServiceUnavailable, codeUnavailable, "storage is unavailable; retry later"
	case errors.Is(err, blob.ErrInsufficientStorage):
		return http.StatusInsufficientStorage, codeInsufficientStorage, "storage is full"
	case errors.Is(err, access.ErrExceeds):
		return http.StatusForbidden, codeForbidden, strings.TrimPrefix(err.Error(), access.ErrExceeds.Error()+": ")
	case errors.Is(err, keys.ErrInvalid):
		return http.StatusBadRequest, codeInvalidRequest, strings.TrimPrefix(err.Error(), keys.ErrInvalid.Error()+": ")
	case errors.Is(err, keys.ErrNotFound):
		return http.StatusNotFound, codeKeyNotFound, "no key has this id"
	case errors.Is(err, keys.ErrUnavailable):
		return http.StatusServiceUnavailable, codeUnavailable, "the key database is unavailable; retry later"
	}
	return http.StatusInternalServerError, codeInternal, "internal error"
}
