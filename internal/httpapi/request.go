package httpapi

import (
	"encoding/base64"

	"github.com/simpledrive/simpledrive/internal/httpx"
)

// The body of POST /v1/blobs is parsed as it arrives by a createStream
// (jsonstream.go); this file holds the errors of request bodies.

// Request errors are package httpx's, shared with the other protocols.
type requestError = httpx.RequestError

var (
	invalidRequest = httpx.InvalidRequest
	truncate       = httpx.Truncate
	errTooLarge    = httpx.ErrTooLarge
	errBusy        = httpx.ErrBusy
	errBodyTimeout = httpx.ErrBodyTimeout
)

// base64Strict decodes standard base64 with padding; it rejects non-zero
// padding bits and ignores CR and LF, as encoding/base64 always does.
var base64Strict = base64.StdEncoding.Strict()

func invalidBase64(why string) error {
	return &requestError{Code: codeInvalidBase64, Detail: "data is not standard padded base64 (RFC 4648 section 4): " + why}
}

// base64Chars marks the characters of standard base64 text, padding
// included.
var base64Chars = func() (chars [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") {
		chars[c] = true
	}
	return chars
}()
