package httpapi

import (
	"errors"
	"io"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/httpx"
	"github.com/simpledrive/simpledrive/internal/httpx/strictjson"
)

// decodeStrict reads a small JSON request body, at most max bytes, into v
// by DESIGN section 4's rules ([strictjson.Decode]) and returns its fault
// as the API's error: 413 too_large over max, 400 invalid_id for an "id"
// that is not valid text (as POST /v1/blobs answers), 400 invalid_request
// for any other fault of the body.
func decodeStrict(r io.Reader, max int64, v any) error {
	err := strictjson.Decode(r, max, v)
	var fault *strictjson.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, strictjson.ErrTooLarge):
		return httpx.ErrTooLarge
	case !errors.As(err, &fault):
		return bodyError(err)
	case errors.Is(err, strictjson.ErrInvalidText) && fault.Member == "id":
		return blob.ErrInvalidID
	}
	return httpx.InvalidRequest("%s", fault)
}
