package httpapi

import (
	"encoding/base64"

	"github.com/simpledrive/simpledrive/internal/httpx"
)

// The body of POST /v1/blobs is parsed as it arrives by a createStream
// (jsonstream.go); this file holds its base64 rules.

// base64Strict decodes standard base64 with padding; it rejects non-zero
// padding bits and ignores CR and LF, as encoding/base64 always does.
var base64Strict = base64.StdEncoding.Strict()

func invalidBase64(why string) error {
	return &httpx.RequestError{Code: httpx.CodeInvalidBase64, Detail: "data is not standard padded base64 (RFC 4648 section 4): " + why}
}

// base64Chars marks the characters of standard base64 text, padding
// included.
var base64Chars = func() (chars [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") {
		chars[c] = true
	}
	return chars
}()
