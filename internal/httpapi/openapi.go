package httpapi

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strconv"
)

// openapiPath serves the OpenAPI 3.1 document of the API, without a token.
const openapiPath = "/openapi.json"

// openapiDocument is the OpenAPI 3.1 description of every route, written
// by hand and kept true by openapi_test.go, which checks it against the
// router, the problem codes and real requests. It is the same for every
// configuration: it names settings, never their values.
//
//go:embed openapi.json
var openapiDocument []byte

// openapiETag is the document's strong entity tag.
var openapiETag = func() string {
	sum := sha256.Sum256(openapiDocument)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// openapi serves GET and HEAD of /openapi.json (a public route of the
// route table).
func (a *API) openapi(w http.ResponseWriter, r *http.Request, _ string) {
	h := w.Header()
	h.Set("ETag", openapiETag)
	h.Set("Cache-Control", "public, max-age=300")
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, openapiETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(openapiDocument)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(openapiDocument)
	}
}
