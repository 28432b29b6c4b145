package httpapi

import "github.com/simpledrive/simpledrive/internal/httpx"

// The problem documents, their codes and the error-to-status table are
// package httpx's, shared with the other protocols; this package names
// them as before.

// Problem codes: the stable "code" member of every error response.
const (
	codeInvalidRequest      = httpx.CodeInvalidRequest
	codeInvalidID           = httpx.CodeInvalidID
	codeInvalidBase64       = httpx.CodeInvalidBase64
	codeUnauthorized        = httpx.CodeUnauthorized
	codeBlobNotFound        = httpx.CodeBlobNotFound
	codeBlobExists          = httpx.CodeBlobExists
	codeTooLarge            = httpx.CodeTooLarge
	codeRequestTimeout      = httpx.CodeRequestTimeout
	codeUnsupportedMedia    = httpx.CodeUnsupportedMedia
	codeUnavailable         = httpx.CodeUnavailable
	codeTimeout             = httpx.CodeTimeout
	codeInsufficientStorage = httpx.CodeInsufficientStorage
	codeBlobDataMissing     = httpx.CodeBlobDataMissing
	codeBlobCorrupt         = httpx.CodeBlobCorrupt
	codeNotFound            = httpx.CodeNotFound
	codeMethodNotAllowed    = httpx.CodeMethodNotAllowed
	codeInternal            = httpx.CodeInternal
	codeDigestMismatch      = httpx.CodeDigestMismatch
	codePreconditionFailed  = httpx.CodePreconditionFailed
	codeRangeNotSatisfiable = httpx.CodeRangeNotSatisfiable
	codeForbidden           = httpx.CodeForbidden
	codeInvalidSignature    = httpx.CodeInvalidSignature
	codeRateLimited         = httpx.CodeRateLimited
	codeKeyNotFound         = httpx.CodeKeyNotFound
)

var (
	writeProblem = httpx.WriteProblem
	marshal      = httpx.Marshal
	classify     = httpx.Classify
)
