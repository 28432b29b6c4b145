package httpapi

import (
	"encoding/base64"
	"errors"
	"fmt"
)

// The body of POST /v1/blobs is parsed as it arrives by a createStream
// (jsonstream.go); this file holds the errors of request bodies.

// requestError is a client error found while parsing a request body; code is
// the problem code it is reported with.
type requestError struct {
	code   string
	detail string
}

func (e *requestError) Error() string { return e.detail }

func invalidRequest(format string, args ...any) error {
	return &requestError{code: codeInvalidRequest, detail: fmt.Sprintf(format, args...)}
}

// errTooLarge reports a blob over the size limit.
var errTooLarge = errors.New("httpapi: blob too large")

// errBusy reports an upload that does not fit in the in-flight budget.
var errBusy = errors.New("httpapi: in-flight upload budget exhausted")

// errBodyTimeout reports a request body that stopped arriving for the idle
// body timeout.
var errBodyTimeout = errors.New("httpapi: request body timed out")

// base64Strict decodes standard base64 with padding; it rejects non-zero
// padding bits and ignores CR and LF, as encoding/base64 always does.
var base64Strict = base64.StdEncoding.Strict()

func invalidBase64(why string) error {
	return &requestError{code: codeInvalidBase64, detail: "data is not standard padded base64 (RFC 4648 section 4): " + why}
}

// base64Chars marks the characters of standard base64 text, padding
// included.
var base64Chars = func() (chars [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") {
		chars[c] = true
	}
	return chars
}()

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}
